"""Host execution of the C runtime through cffi (the extension is compiled when the package is installed).

    run_c(qgraph, inputs) -> SimResult   the C runtime on a batch, input by input; same fields as simulate_fixed
    run_c(qgraph, inputs, schedule=...)  the same in a grouped schedule: "layer", "fused", group sizes or
                                         group-ending node names (no early exit; recurrent edges inside a group)
    CModel(blob)                         a blob loaded and checked by the C loader, with its arena
"""

from .binding import ArenaTooSmall, CModel, CRuntimeError, ScheduleRefused, run_c

__all__ = ["ArenaTooSmall", "CModel", "CRuntimeError", "ScheduleRefused", "run_c"]
