"""Lower: a QGraph as the program the C runtime executes, with its schedule and its memory plan.

    lower(qgraph, schedule="time", steps=None, stage=None) -> Lowered
        nodes in schedule order, edges grouped by destination, parameters in device layout and storage
    pack_rows / unpack_rows          weights packed at 1 (binary signs), 2 and 4 bits, rows byte-aligned (the runtime's layout)
    Lowered.arena_bytes              the exact arena the runtime needs for it (the one place it is computed)
    Lowered.memory_plan()            where esn_init's arena holds every buffer and state (carried in the blob)
    arena_size(qgraph)               the same for a QGraph in the time-step-major schedule
    arena_size_layer_major(qgraph, T), arena_size_schedule(qgraph, schedule, T)   for grouped schedules

Both writers (edgesnn.emit: the blob and the C sources) start from `lower`, so they cannot disagree.
"""

from .program import (IN_CL, MAX_RANK, OUT_CL, RESET_CODES, SCHEDULE_LABELS, SCHEDULES, LEdge, LNode, Lowered, MemoryPlan,
                      ScheduleError, ScheduleSpecError, align8, arena_size, arena_size_layer_major,
                      arena_size_schedule, cl_channels, cl_perm, config_record, lower, pack_rows, schedule_spec, unpack_rows, weight_bytes,
                      weight_row_len)

__all__ = ["IN_CL", "MAX_RANK", "OUT_CL", "RESET_CODES", "SCHEDULE_LABELS", "SCHEDULES", "LEdge", "LNode", "Lowered", "MemoryPlan",
           "ScheduleError", "ScheduleSpecError", "align8", "arena_size", "arena_size_layer_major",
           "arena_size_schedule", "cl_channels", "cl_perm", "config_record", "lower", "pack_rows", "schedule_spec", "unpack_rows", "weight_bytes",
           "weight_row_len"]
