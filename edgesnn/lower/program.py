"""A QGraph lowered to what the C runtime executes: nodes in schedule order, edges grouped by
destination, parameter arrays in device layout, and the exact arena size.

Both writers (the blob in `edgesnn.emit.blob` and the C sources in `edgesnn.emit.csource`) start
from `lower(qgraph)`, so they cannot disagree. The C declarations are in
`runtime_c/include/esn/esn_types.h`; the kinds' codes, parameter slots and state variables are those of
`edgesnn.graph.kinds` (= runtime_c/include/esn/esn_kinds.h).

Device layouts of the weights (chosen so that the weights one input event reads are contiguous):

    Linear / Affine   [in][out]                        the transpose of the float [out, in]; rows in the
                                                       input's storage order (below)
    Conv2d            [C_in][KH][KW][C_out / groups]   each kernel row's taps reversed (Conv1d: KH = 1)
    Scale             [n]

Tensor layouts (LNode.layout, esn_node.layout): conv and pool outputs, the neuron layers and Flattens after
them, are stored channel-last ([H][W][C]) where nothing that needs row-major reads them (_set_layouts), so a
conv tap adds C_out contiguous outputs; neuron parameters per element and dense weight rows after such a tensor
are stored in its order (cl_perm). The Input, the Output and what a recurrent edge reads stay row-major.

Weights are stored at `weight_storage_bits` (1, 2 and 4 packed, low bits first, every weight row starting on a
byte; 8; 16). At 1 bit they are binary (weight_bits 1): +-m with one magnitude m per layer (LNode.wmag,
esn_node.wmag, the blob's node byte 76), bit 0 for +m and bit 1 for -m; no weight is zero. A row is what one
input event reads ([out] for Linear/Affine, [C_out / groups] for a conv, the whole [n] for Scale). Every other parameter is stored once for the layer when its values agree, once
per channel for a neuron layer of rank >= 2 whose values agree within each channel, else per element (per
output channel for the bias of a weighted layer, per neuron otherwise), at 8, 16 or 32 bits, the fewest
that hold it (edgesnn.quantize.qgraph.param_storage; esn_node.pbits and pmode in esn_types.h).

Schedules (runtime_c/src/esn_schedule.c): `lower(qgraph, schedule, steps)` cuts the node order into
contiguous groups that each run all T = steps steps before the next (inside a group, time-step-major).
`schedule` is one of

    "time"            one group: esn_step's time-step-major schedule (no schedule in the model)
    "layer"           one group per node (layer-major)
    "fused"           a group starts at every weighted layer (Linear, Affine, Conv, Scale): each runs
                      fused with the neuron layers, pools and flattens after it; the groups a
                      recurrent edge spans are merged into one
    [3, 2, 1, ...]    group sizes in node order, summing to the number of nodes
    ["fc1", "lif1"]   the names of the nodes that end each group (the last group ends at the last node)

`stage` (names of weighted nodes, or "all") marks weights to copy into the arena once per input when
their group starts (ESN_NODE_STAGE_WEIGHTS: for weights in slow external flash; the copy costs the
largest group's staged weights in SRAM, `staged_weight_bytes()` per input are copied).

`Lowered.memory_plan()` places every buffer and state block of esn_init's arena (time-step-major) once,
here: the blob carries the offsets and the runtime only checks them (`plan_problem()` says what it would
refuse); `arena_size()` is that plan's bytes. `arena_size_sched()` is esn_sched_init's arena for the lowered
schedule (placed by the runtime, esn_schedule.c); `schedule_refusal()` says why a schedule cannot run a model.
Each is the arena of a runtime built with counters (ESN_ENABLE_COUNTERS 1), or without when lowered with
counters=False (a release build: its fixed part holds no counters, so the plan's offsets differ).
Both follow the state storage of esn_runtime.h: v and i as int8 or int16 when their bit widths allow, no state
at all for a stateless layer (`stateless()`: all decays zero, nothing carried across steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import EmitError
from ..graph import ir
from ..graph.kinds import ANALOG_READER_KINDS, KINDS
from ..quantize.fixedpoint import ROUNDING_CODES
from ..quantize.qgraph import BINARY_MAX, PM_CHANNEL, PM_ELEM, QGraph, param_storage, storage_dtype, weight_storage_bits

RESET_CODES = {"zero": 0, "value": 1, "subtract": 2, "subtract_late": 3}
MAX_RANK = 4

RT_BYTES, COUNTERS_BYTES = 16, 64


# The schedules the runtime runs, by the label plans and reports use -> the runtime's own spelling. The one
# table of them: `lower` (and everything that calls it) takes either spelling, group sizes or group-ending names.
SCHEDULES = {"time-step-major": "time", "fused": "fused", "layer-major": "layer"}
SCHEDULE_LABELS = {spec: label for label, spec in SCHEDULES.items()}


def schedule_spec(schedule):
    """The runtime's spelling of `schedule`: "time", "fused", "layer", group sizes or group-ending node names;
    a label ("time-step-major", "layer-major") is taken too."""
    return SCHEDULES.get(schedule, schedule) if isinstance(schedule, str) else schedule


class ScheduleError(EmitError):
    """A schedule cannot run this model (a recurrent edge across groups, early exit)."""


class ScheduleSpecError(EmitError):
    """The schedule asked for is malformed (unknown name, group sizes or ends, staging, steps)."""


@dataclass
class LNode:
    """One node as the runtime's esn_node holds it (fields a kind does not use stay 0)."""
    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    reset: int = 0
    spike_rule: int = 0
    syn_delay: int = 0
    max_spikes: int = 1
    first_edge: int = 0
    n_edges: int = 0
    flat_start: int = 0
    flat_end: int = 0
    kernel: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (0, 0)
    pad: tuple[int, int] = (0, 0)
    dil: tuple[int, int] = (0, 0)
    groups: int = 0
    params: dict[str, np.ndarray] = field(default_factory=dict)  # slot -> stored values (weights: device layout)
    bits: dict[str, int] = field(default_factory=dict)    # slot -> bits per stored element (esn_node.pbits)
    modes: dict[str, int] = field(default_factory=dict)   # slot -> PM_ELEM, PM_CHANNEL or PM_LAYER (esn_node.pmode)
    flags: int = 0  # bit 0: a schedule group starts here (ESN_NODE_NEW_GROUP); bit 1: ESN_NODE_STAGE_WEIGHTS
    layout: int = 0  # bit 0: the output is stored channel-last (ESN_LAYOUT_OUT_CL); bit 1: the input (ESN_LAYOUT_IN_CL)
    wmag: int = 0  # binary (1-bit) weights: their magnitude m, [1, BINARY_MAX] (esn_node.wmag); else 0
    acc_shift: int = 0  # a reader of an analog input: its accumulator's right shift (esn_node.acc_shift, node byte 78)
    out_bits: int = 32  # bits per element of the output buffer (esn_node.out_bits): 8 (uint8) or 32 (int32)

    @property
    def code(self) -> int:
        return KINDS[self.kind].code

    @property
    def in_size(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def out_size(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def weight_row_len(self) -> int:
        """Weights one input event reads (weight_row_len of this node)."""
        return weight_row_len(self.kind, self.in_size, self.out_size, self.out_shape[0], self.groups)

    def param_data(self, slot: str) -> bytes:
        """Array `slot` as the runtime reads it: little-endian at its stored bits, weights packed by row."""
        a, bits = self.params[slot], self.bits[slot]
        return pack_rows(a, bits, self.weight_row_len) if slot == "weight" else a.astype(f"<i{bits // 8}").tobytes()

    def param_nbytes(self, slot: str) -> int:
        """Bytes of param_data(slot) (esn__param_bytes)."""
        return self.stored_bytes(slot, int(self.params[slot].size), self.bits[slot])

    def stored_bytes(self, slot: str, count: int, bits: int) -> int:
        """Bytes `count` elements of array `slot` take at `bits` each (weights: whole rows, each on a byte)."""
        return weight_bytes(count, self.weight_row_len, bits) if slot == "weight" else count * bits // 8

    @property
    def n_state(self) -> int:
        """State variables S: the kind's (v, then i or eta), then pending (subtract-late reset) (esn__n_state)."""
        return KINDS[self.kind].n_state(self.reset == 3)


@dataclass
class LEdge:
    src: int
    dst: int
    back: int
    orig: int  # index in the graph's edge list


@dataclass
class MemoryPlan:
    """esn_init's arena, planned offline (Lowered.memory_plan): per node its output buffer's offsets at even
    and odd steps (equal unless a recurrent edge reads it; a Flatten's are its input's, the Output's 0) and
    its state block's offset (0 without one), and the arena's bytes."""
    buf_off: list[list[int]]
    state_off: list[int]
    arena_bytes: int


@dataclass
class Lowered:
    qgraph: QGraph
    nodes: list[LNode]
    edges: list[LEdge]   # grouped by destination, in node order, then graph order
    output_node: int
    steps: int = 0       # T of the schedule; 0: none (time-step-major, esn_step)
    counters: bool = True  # for a runtime built with ESN_ENABLE_COUNTERS 1 (its arena holds the counters), or 0

    @property
    def input_size(self) -> int:
        return self.nodes[0].out_size

    @property
    def output_size(self) -> int:
        return self.nodes[self.output_node].out_size

    def owner(self, k: int) -> int:
        """The node whose buffer holds k's output: k, or for a Flatten its input's owner."""
        while self.nodes[k].kind == "Flatten":
            k = self.edges[self.nodes[k].first_edge].src
        return k

    # -- state storage (esn_runtime.h) ------------------------------------------------------------
    def stateless(self, k: int) -> bool:
        """Whether neuron node k carries nothing across steps (esn__stateless): LIF, LI, CubaLIF or CubaLI
        with every decay zero, no synaptic delay and no subtract-late reset. It then keeps no state."""
        nd = self.nodes[k]
        row = KINDS[nd.kind]
        if not row.statelessable or nd.reset == 3 or (row.current and nd.syn_delay):
            return False
        return not np.any(nd.params["alpha"]) and not (row.current and np.any(nd.params["alpha_syn"]))

    def state_bytes(self, k: int) -> int:
        """Bytes of node k's state block: v (int8 up to 8 state bits, int16 up to 16, else int32), i (likewise
        by current bits), eta (int32), pending (int16), each 4-byte aligned, the block 8-byte aligned; 0 when
        none."""
        nd, cfg = self.nodes[k], self.qgraph.config
        row = KINDS[nd.kind]
        if not nd.n_state or self.stateless(k):  # not a neuron layer, or a Threshold (no state)
            return 0
        widths = (_state_width(cfg.state_bits), _state_width(cfg.current_bits) if row.current else 0,
                  4 if row.adaptive else 0, 2 if nd.reset == 3 else 0)
        at = 0
        for w in widths:
            if w:
                at = (at + 3) & ~3
                at += nd.out_size * w
        return align8(at)

    @property
    def arena_bytes(self) -> int:
        """The arena this program runs in: esn_arena_size_sched() when it carries a grouped schedule, else
        esn_arena_size(). Every caller that needs the arena asks this."""
        return self.arena_size_sched() if self.steps else self.arena_size()

    def arena_size(self) -> int:
        """Exact arena bytes of esn_init (time-step-major): the memory plan's (esn_arena_size())."""
        return self.memory_plan().arena_bytes

    def counter_bytes(self) -> int:
        """Arena bytes of one node's counters (esn_internal.h ESN_COUNTERS_ARENA_BYTES): an esn_counters in a
        runtime built with ESN_ENABLE_COUNTERS 1, none with 0."""
        return COUNTERS_BYTES if self.counters else 0

    def arena_base(self) -> int:
        """Bytes of esn_init's fixed part before buffers and state (esn__arena_base): node table, step and
        total counters (when the runtime counts: self.counters), output and exit accumulator."""
        n = len(self.nodes)
        return align8(n * RT_BYTES) + 2 * n * self.counter_bytes() + 2 * align8(8 * self.output_size)

    def _liveness(self) -> tuple[list[int], set[int]]:
        """(last node that reads each node's buffer, itself if none; the nodes whose buffer a recurrent edge
        reads at the next step), readers of a Flatten reading its input's buffer."""
        last = list(range(len(self.nodes)))
        for e in self.edges:
            if not e.back:
                last[self.owner(e.src)] = max(last[self.owner(e.src)], e.dst)
        return last, {self.owner(e.src) for e in self.edges if e.back}

    def buf_bytes(self, k: int) -> int:
        """Bytes of node k's output buffer at its element width (esn__buf_bytes)."""
        nd = self.nodes[k]
        return align8(nd.out_size * (1 if nd.out_bits == 8 else 4))

    def work_bytes(self, k: int) -> int:
        """Bytes of the int32 buffer node k computes in (esn__work_bytes): a spiking neuron layer with uint8 output
        may use it as int32 scratch while it writes its spikes as bytes at the region's start, which alone stay
        alive after its step; other nodes: buf_bytes."""
        nd = self.nodes[k]
        return align8(4 * nd.out_size) if nd.out_bits == 8 and KINDS[nd.kind].neuron else self.buf_bytes(k)

    def in_place_inputs(self) -> dict[int, int]:
        """{neuron layer k: the node over whose buffer k may write its output} (esn_in_place): its only
        input's, when nothing reads that buffer after k, neither is kept for a recurrent edge, and the input is
        int32 of k's size (every neuron kernel reads in[j] before it writes out[j]; a uint8 output then lies in the
        region's first bytes, byte j at or before int32 j, and the rest of the region is free after k's step)."""
        last, doubled = self._liveness()
        out = {}
        for k, nd in enumerate(self.nodes):
            if not KINDS[nd.kind].neuron or nd.n_edges != 1 or self.edges[nd.first_edge].back:
                continue
            o = self.owner(self.edges[nd.first_edge].src)
            if (o not in doubled and k not in doubled and last[o] == k and self.nodes[o].out_size == nd.out_size
                    and self.nodes[o].out_bits == 32):
                out[k] = o
        return out

    def _regions(self) -> list[tuple[tuple[str, int, int], int, int, int]]:
        """((kind, node, parity), bytes, first, last node step alive) of every buffer, state block, and int32
        buffer a byte-spiking neuron layer computes in at its own step ("work": at the buffer's offset, esn_region_of)."""
        n = len(self.nodes)
        last, doubled = self._liveness()
        out = []
        for k, nd in enumerate(self.nodes):
            if nd.kind not in ("Output", "Flatten"):
                if k in doubled:  # read at the next step through a recurrent edge: kept throughout, at its working width
                    size = self.work_bytes(k)
                    out += [(("buf", k, 0), size, 0, n), (("buf", k, 1), size, 0, n)]
                else:
                    out.append((("buf", k, 0), self.buf_bytes(k), k, last[k]))
                    if self.work_bytes(k) != self.buf_bytes(k):
                        out.append((("work", k, 0), self.work_bytes(k), k, k))
            if self.state_bytes(k):
                out.append((("state", k, 0), self.state_bytes(k), 0, n))
        return out

    def plan_problem(self, plan: "MemoryPlan") -> str | None:
        """Why the runtime would refuse `plan` for this program (esn__check_plan), or None."""
        base = self.arena_base()
        _, doubled = self._liveness()
        if plan.arena_bytes == 0:
            return "no memory plan"
        for k, nd in enumerate(self.nodes):
            b0, b1 = plan.buf_off[k]
            if (nd.kind == "Output" and (b0 or b1) or nd.kind == "Flatten" and [b0, b1] != list(plan.buf_off[self.owner(k)])
                    or nd.kind not in ("Output", "Flatten") and k not in doubled and b1 != b0):
                return f"node {nd.name!r}: buffer offsets {b0}, {b1}"
            if not self.state_bytes(k) and plan.state_off[k]:
                return f"node {nd.name!r}: a state offset without state"
        spans = []
        for (what, k, parity), size, first, last in self._regions():
            at = plan.state_off[k] if what == "state" else plan.buf_off[k][parity]
            if at < base or at + size > plan.arena_bytes or at % 8:
                return f"node {self.nodes[k].name!r}: {what} at {at} lies outside [{base}, {plan.arena_bytes}) or unaligned"
            spans.append((at, at + size, first, last, (what, k)))
        writes_over = {k: o for k, o in self.in_place_inputs().items()
                       if plan.buf_off[o][0] == plan.buf_off[k][0]}   # in place, as planned

        def shared(a, b) -> bool:
            """A node's buffer and the int32 buffer it computes in, or an in-place layer's and its input's."""
            return a[0] == "buf" and b[0] in ("buf", "work") and (a[1] == b[1] or writes_over.get(b[1]) == a[1])

        for i, (o, e, f, l, a) in enumerate(spans):
            for o2, e2, f2, l2, b in spans[i + 1:]:
                if o < e2 and o2 < e and f <= l2 and f2 <= l and not (shared(a, b) or shared(b, a)):
                    return (f"nodes {self.nodes[a[1]].name!r} and {self.nodes[b[1]].name!r} share arena bytes "
                            "while both are alive")
        return None

    def memory_plan(self) -> "MemoryPlan":
        """Where esn_init's arena holds every buffer and state block (time-step-major), planned here once and
        carried in the blob: the runtime checks it (bounds, alignment, no two live regions sharing a byte)
        instead of placing anything. After the runtime's fixed part (node table, counters, output and exit
        accumulator), regions are placed largest first at the lowest 8-aligned offset that no region alive at
        the same time occupies. A node's output buffer lives from its own step until its last reader's (through
        Flattens, which share their input's buffer); a buffer read through a recurrent edge is two buffers
        (one per step parity), kept for the whole input like every state block. A neuron layer writes over
        its input's buffer where it may (in_place_inputs): the two are one region. A region is a list of pieces
        at one offset, each (bytes, first, last): a byte-spiking neuron layer's is its int32 working bytes at its own
        step and its uint8 output (the first bytes) until its last reader, so the tail is free after its step."""
        n = len(self.nodes)
        base = self.arena_base()
        in_place = self.in_place_inputs()
        home = list(range(n))   # the node whose buffer region holds k's output
        for k in range(n):
            home[k] = home[in_place[k]] if k in in_place else k
        merged: dict = {}
        for (what, k, parity), size, first, last in self._regions():
            key = ("state", k, parity) if what == "state" else ("buf", home[k], parity)
            merged.setdefault(key, []).append((size, first, last))
        placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
        where = {}
        for key, pieces in sorted(merged.items(), key=lambda r: (-max(p[0] for p in r[1]), r[0])):
            lo, hi = min(p[1] for p in pieces), max(p[2] for p in pieces)
            near = [q for q in placed if q[2] <= hi and lo <= q[3]]   # alive during some piece
            clash = [[q for q in near if q[2] <= l and f <= q[3]] for _, f, l in pieces]
            at = base
            for cand in sorted({base} | {q[1] for q in near}):   # the lowest offset where every piece fits
                if all(not (cand < q[1] and q[0] < cand + size) for (size, _, _), qs in zip(pieces, clash) for q in qs):
                    at = cand
                    break
            placed += [(at, at + size, f, l) for size, f, l in pieces]
            where[key] = at
        buf = [[where.get(("buf", home[self.owner(k)], p), 0) if self.nodes[k].kind != "Output" else 0
                for p in (0, 1)] for k in range(n)]
        for k in range(n):
            if ("buf", home[self.owner(k)], 1) not in where:  # one buffer for both step parities
                buf[k][1] = buf[k][0]
        state = [where.get(("state", k, 0), 0) for k in range(n)]
        return MemoryPlan(buf, state, max([base] + [e for _, e, _, _ in placed]))

    # -- schedules (esn_schedule.c) ---------------------------------------------------------------
    def group_of(self) -> list[int]:
        """The schedule group of each node."""
        g, out = 0, []
        for k, nd in enumerate(self.nodes):
            g += k > 0 and nd.flags & 1
            out.append(g)
        return out

    def schedule_flags(self, schedule) -> list[int]:
        """ESN_NODE_NEW_GROUP flags of each node for `schedule` (see the module docstring)."""
        n = len(self.nodes)
        schedule = schedule_spec(schedule)
        if isinstance(schedule, str):
            if schedule == "time":
                return [0] * n
            if schedule == "layer":
                return [0] + [1] * (n - 1)
            if schedule == "fused":
                flags = [0] + [int(KINDS[nd.kind].weighted) for nd in self.nodes[1:]]
                for e in self.edges:  # a recurrent edge's reader, source and its owner share one group
                    if e.back:
                        ends = (e.src, e.dst, self.owner(e.src))
                        for k in range(min(ends) + 1, max(ends) + 1):
                            flags[k] = 0
                return flags
            raise ScheduleSpecError(f"schedule {schedule!r}: expected 'time', 'layer', 'fused', group sizes or the names "
                            "of the nodes that end each group")
        items = list(schedule)
        if not items:  # no group ends named: one group
            return [0] * n
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
            if any(v < 1 for v in items) or sum(items) != n:
                raise ScheduleSpecError(f"group sizes {items} must be >= 1 and sum to the {n} nodes "
                                f"({[nd.name for nd in self.nodes]})")
            flags, at = [0] * n, 0
            for v in items[:-1]:
                at += int(v)
                flags[at] = 1
            return flags
        if all(isinstance(v, str) for v in items):
            index = {nd.name: k for k, nd in enumerate(self.nodes)}
            unknown = [v for v in items if v not in index]
            if unknown:
                raise ScheduleSpecError(f"schedule names {unknown}, not nodes of this model ({list(index)})")
            ends = [index[v] for v in items]
            if ends != sorted(set(ends)):
                raise ScheduleSpecError(f"group ends {items} must follow the node order {list(index)} without repeats")
            flags = [0] * n
            for k in ends:
                if k + 1 < n:
                    flags[k + 1] = 1
            return flags
        raise ScheduleSpecError(f"schedule {schedule!r}: expected 'time', 'layer', 'fused', group sizes or the names of "
                        "the nodes that end each group")

    def with_schedule(self, schedule, steps: int, stage=None) -> "Lowered":
        """A copy carrying `schedule` over `steps` steps (EmitError when it cannot run this model), staging
        the weights of the weighted nodes named in `stage` ("all": every one); "time" (or one group)
        gives the model without a schedule, which esn_step runs (and which stages nothing)."""
        flags = self.schedule_flags(schedule)
        if stage:
            weighted = [nd.name for nd in self.nodes if KINDS[nd.kind].weighted]
            names = weighted if isinstance(stage, str) and stage == "all" else \
                ([stage] if isinstance(stage, str) else list(stage))
            bad = [v for v in names if v not in weighted]
            if bad:
                raise ScheduleSpecError(f"stage {bad}: weights are staged for weighted nodes only ({weighted})")
            if not any(flags):
                raise ScheduleSpecError("weight staging needs a grouped schedule (the weights are copied when a group "
                                "starts); time-step-major reads them in place")
            flags = [f | (2 if nd.name in names else 0) for f, nd in zip(flags, self.nodes)]
        if not any(flags):
            return Lowered(self.qgraph, [replace(nd, flags=0) for nd in self.nodes], self.edges, self.output_node, 0,
                           self.counters)
        if not isinstance(steps, (int, np.integer)) or steps < 1 or steps > 2 ** 32 - 1:
            raise ScheduleSpecError(f"steps = {steps}: a grouped schedule needs the number of steps T >= 1")
        low = Lowered(self.qgraph, [replace(nd, flags=f) for nd, f in zip(self.nodes, flags)], self.edges,
                      self.output_node, int(steps), self.counters)
        why = low.schedule_refusal()
        if why:
            raise ScheduleError(why)
        return low

    def schedule_refusal(self) -> str | None:
        """Why this model's grouped schedule cannot run (None when it can, or when there is none)."""
        if not self.steps:
            return None
        grp = self.group_of()
        if self.qgraph.exit is not None:
            return ("early exit is on: it needs every layer's step t before any layer's step t + 1, which only a "
                    "single group (time-step-major) gives; run it time-step-major or without the exit policy")
        if self.qgraph.analog:
            return ("the input is analog (input_bits > 0): a grouped schedule stages spike-count inputs only; run it "
                    "time-step-major")
        for e in self.edges:
            if e.back and (self.owner(e.src) == 0 or len({grp[e.src], grp[e.dst], grp[self.owner(e.src)]}) > 1):
                return (f"recurrent edge {self.nodes[e.src].name!r} -> {self.nodes[e.dst].name!r} crosses a group "
                        f"boundary: it reads step t - 1 of a layer that must then run in its reader's group; put "
                        f"both in one group (or run it time-step-major)")
        return None

    def layer_major_refusal(self) -> str | None:
        """Why the layer-major schedule cannot run this model (None when it can)."""
        return replace(self, nodes=[replace(nd, flags=int(k > 0)) for k, nd in enumerate(self.nodes)],
                       steps=1).schedule_refusal()

    def arena_size_layer_major(self, steps: int) -> int:
        """Exact arena bytes of the layer-major schedule over `steps` steps (esn_arena_size_sched)."""
        return self.with_schedule("layer", steps).arena_size_sched()

    def arena_size_sched(self) -> int:
        """Exact arena bytes of esn_sched_init for this model's schedule (layout in esn_runtime.h;
        buffers placed first fit in esn_schedule.c's order)."""
        if not self.steps:
            raise EmitError("the model carries no grouped schedule (lower it with schedule= and steps=)")
        why = self.schedule_refusal()
        if why:
            raise ScheduleError(why)
        nodes, edges, T = self.nodes, self.edges, self.steps
        n, ne = len(nodes), len(edges)
        grp = self.group_of()
        last = list(grp)
        double = [False] * n
        for e in edges:
            if nodes[e.dst].kind == "Flatten":
                continue
            o = self.owner(e.src)
            double[o] |= bool(e.back)
            last[o] = max(last[o], grp[e.dst])
        owns = [nd.kind not in ("Output", "Flatten") for nd in nodes]
        t8 = [nd.kind == "Input" or KINDS[nd.kind].spiking for nd in nodes]  # uint8 buffers (esn_s_u8)
        has_t = [owns[k] and (k == 0 or last[k] > grp[k]) for k in range(n)]
        has_step = [owns[k] and k != 0 and (not has_t[k] or t8[k] or double[k]) for k in range(n)]

        def alloc(a):  # a later group reads a uint8 T-step buffer's row t in place (no widened copy)
            if a < n:
                return (align8(4 * nodes[a].out_size) * (2 if double[a] else 1), grp[a], grp[a]) if has_step[a] else None
            k = a - n
            if k == 0 or not has_t[k]:
                return None
            return align8(T * nodes[k].out_size * (1 if t8[k] else 4)), grp[k], last[k]

        info = [alloc(a) for a in range(2 * n)]
        off: dict[int, int] = {}

        def place(a):
            if info[a] is None:
                return
            size, g0, g1 = info[a]
            live = [(off[j], info[j][0]) for j in off if info[j][1] <= g1 and g0 <= info[j][2]]
            best = None
            for cand in [o + s for o, s in live] + [0]:
                if best is not None and cand >= best:
                    continue
                if all(cand + size <= o or cand >= o + s for o, s in live):
                    best = cand
            off[a] = best

        groups = max(grp) + 1
        for g in range(groups):
            for k in range(n):
                if grp[k] == g:
                    place(k)
                    place(n + k)
        end = max((off[a] + info[a][0] for a in off), default=0)
        state = max(sum(self.state_bytes(k) for k in range(n) if grp[k] == g) for g in range(groups))
        staged = max(sum(align8(nodes[k].param_nbytes("weight")) for k in range(n) if grp[k] == g
                         and nodes[k].flags & 2) for g in range(groups))
        out_bytes = 4 if nodes[self.output_node].n_edges == 1 else 8  # one edge: int32 copies, else int64 sums
        fixed = (align8(n * RT_BYTES) + align8(ne * 8) + n * self.counter_bytes()
                 + align8(T * self.output_size * out_bytes) + align8(T * self.input_size))
        return fixed + state + staged + end

    def staged_weight_bytes(self) -> int:
        """Weight bytes copied into the arena per input (nodes with ESN_NODE_STAGE_WEIGHTS): each is then
        read from its flash region once per input instead of once per event."""
        return sum(nd.param_nbytes("weight") for nd in self.nodes if nd.flags & 2)


def _state_width(bits: int) -> int:
    """Bytes a state variable saturated to `bits` is stored in (esn__state_map_of)."""
    return 1 if bits <= 8 else 2 if bits <= 16 else 4


def weight_row_len(kind: str, in_size: int, out_size: int, c_out: int, groups: int) -> int:
    """Weights one input event reads (a row; esn__weight_row_len): out_size (Linear/Affine), C_out / groups
    (conv), in_size (Scale, one row); 0 for a kind without weights or a record with no groups (the blob
    reader asks before anything is checked)."""
    if kind in ("Linear", "Affine"):
        return out_size
    if kind in ("Conv1d", "Conv2d"):
        return c_out // groups if groups else 0
    return in_size if kind == "Scale" else 0


def weight_bytes(count: int, row_len: int, bits: int) -> int:
    """Bytes `count` weights take at `bits` each, in rows of row_len that each start on a byte (esn__param_bytes)."""
    return count // row_len * ((row_len * bits + 7) // 8) if row_len else 0


def align8(x: int) -> int:
    return (x + 7) & ~7


def pack_rows(values: np.ndarray, bits: int, row_len: int) -> bytes:
    """Integers at `bits` per element, little-endian: 8 and 16 as they are, 1, 2 and 4 packed low bits first
    with every row of `row_len` elements starting on a byte (the last byte of a row padded with zero bits); at 1
    bit the signs of binary weights (bit 1 where the value is negative)."""
    if bits >= 8:
        return np.ascontiguousarray(values).astype(f"<i{bits // 8}").tobytes()
    per = 8 // bits
    v = np.asarray(values).astype(np.int64)
    rows = ((v < 0) if bits == 1 else (v & ((1 << bits) - 1))).astype(np.uint8).reshape(-1, row_len)
    rows = np.pad(rows, ((0, 0), (0, (-row_len) % per))).reshape(rows.shape[0], -1, per)
    return (rows << (np.arange(per, dtype=np.uint8) * bits)).sum(axis=2).astype(np.uint8).tobytes()


def unpack_rows(data: bytes, bits: int, row_len: int, count: int) -> np.ndarray:
    """The inverse of pack_rows: `count` signed integers (int64); at 1 bit the signs +-1 (times the node's wmag)."""
    if bits >= 8:
        return np.frombuffer(data, f"<i{bits // 8}", count).astype(np.int64)
    per = 8 // bits
    rows = count // row_len
    row_bytes = (row_len * bits + 7) // 8
    b = np.frombuffer(data, np.uint8, rows * row_bytes).reshape(rows, row_bytes, 1)
    u = ((b >> (np.arange(per, dtype=np.uint8) * bits)) & ((1 << bits) - 1)).reshape(rows, -1)[:, :row_len]
    if bits == 1:
        return (1 - 2 * u.astype(np.int64)).reshape(-1)
    return ((u.astype(np.int64) ^ (1 << (bits - 1))) - (1 << (bits - 1))).reshape(-1)


def _err(name: str, kind: str, msg: str) -> EmitError:
    return EmitError(f"node {name!r} ({kind}): {msg}")


def _weights(node: ir.Node, w: np.ndarray, groups: int) -> np.ndarray:
    """Float-layout integer weights -> device layout."""
    if isinstance(node, ir.Scale):
        return w.reshape(-1)
    if isinstance(node, ir.Conv2d):
        if w.ndim == 3:  # Conv1d [C_out, C_in/g, K] -> KH = 1
            w = w[:, :, None, :]
        c_out, cin_g, kh, kw = w.shape  # each kernel row's taps reversed: esn_conv adds a row's taps as one run
        return w[..., ::-1].reshape(groups, c_out // groups, cin_g, kh, kw).transpose(0, 2, 3, 4, 1).reshape(-1)
    return w.T.reshape(-1)


OUT_CL, IN_CL = 1, 2  # esn_node.layout bits (ESN_LAYOUT_OUT_CL, ESN_LAYOUT_IN_CL)


def cl_perm(size: int, channels: int) -> np.ndarray:
    """Where a channel-last tensor keeps its entries: storage index s holds row-major (logical) index perm[s], for
    a tensor of `size` entries whose row-major order is [channels][rest] (stored as [rest][channels])."""
    return np.arange(size).reshape(channels, -1).T.reshape(-1)


def cl_channels(nodes, edges, k: int) -> int:
    """C of the channel-last order node k's output is stored in: its axis 0 at rank >= 2 (a Flatten that keeps the
    channel axis first keeps [rest][C] last), else that of its input (a Flatten of everything, a neuron layer
    after it)."""
    while len(nodes[k].out_shape) < 2:
        k = edges[nodes[k].first_edge].src
    return int(nodes[k].out_shape[0])


def _set_layouts(nodes: list[LNode], edges: list[LEdge], stochastic: bool) -> None:
    """Chooses each tensor's layout (esn_node.layout) and puts the arrays that index it in its order.

    Conv and pool outputs are stored channel-last ([H][W][C]) so that one conv tap adds C_out / groups contiguous
    outputs (esn_conv: the dense row kernel), with every tensor that must share their order: a neuron layer's
    output and a Flatten's are their input's, and the inputs of one node (summed entry by entry) share one. Such a
    class of tensors stays row-major where something reads it that needs row-major: the Output, a recurrent edge,
    a Scale, a neuron layer with a per-channel parameter (the neuron kernel's channel is that of [C][H][W]) or under
    stochastic rounding (its noise is keyed by the row-major index), a
    Flatten that merges the channel axis with some but not all of the others, or where the class holds the Input
    or a dense layer's output. A neuron layer's per-element parameters and a dense layer's weight rows after a
    channel-last tensor are permuted into its order (cl_perm); counters do not depend on the layout."""
    parent = list(range(len(nodes)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    ins = [[e.src for e in edges if e.dst == k] for k in range(len(nodes))]
    for k, nd in enumerate(nodes):
        for a in ins[k][1:]:
            parent[find(a)] = find(ins[k][0])
        if ins[k] and (KINDS[nd.kind].neuron or nd.kind == "Flatten"):
            parent[find(k)] = find(ins[k][0])
    veto, has_conv = set(), set()
    for k, nd in enumerate(nodes):
        row, c = KINDS[nd.kind], find(k)
        if row.conv_like:
            has_conv.add(c)
        elif nd.kind in ("Input", "Linear", "Affine", "Scale"):
            veto.add(c)
        elif row.neuron and (PM_CHANNEL in nd.modes.values() or stochastic):
            veto.add(c)
        elif nd.kind == "Flatten" and nd.flat_start == 0 and nd.flat_end != len(nd.in_shape) - 1:
            veto.add(c)
        if nd.kind in ("Output", "Scale"):
            veto.update(find(a) for a in ins[k])
    veto.update(find(e.src) for e in edges if e.back)
    cl = [find(k) in has_conv and find(k) not in veto for k in range(len(nodes))]
    for k, nd in enumerate(nodes):
        if nd.kind == "Output":
            continue
        nd.layout = (OUT_CL if cl[k] else 0) | (IN_CL if ins[k] and cl[ins[k][0]] else 0)
        if not nd.layout & IN_CL or KINDS[nd.kind].conv_like:
            continue
        perm = cl_perm(nd.in_size, cl_channels(nodes, edges, ins[k][0]))
        if nd.kind in ("Linear", "Affine"):  # weight rows [in][out] in the input's storage order
            nd.params["weight"] = nd.params["weight"].reshape(nd.in_size, -1)[perm].reshape(-1)
        for slot, mode in nd.modes.items():
            if KINDS[nd.kind].neuron and mode == PM_ELEM:
                nd.params[slot] = nd.params[slot][perm]


def _set_out_bits(nodes: list[LNode], edges: list[LEdge], input_bits: int = 0) -> None:
    """Each buffer's element width (esn_node.out_bits; esn_model.c esn_check_out_bits admits it): uint8 for the Input
    (bytes 0..255), a spiking neuron layer (spike counts <= max_spikes <= 255) and a pool whose forward inputs are
    all uint8 and whose window sums stay <= 255 (inputs' bounds summed, times the window: 2x2 over single spikes
    gives 4); a Flatten takes its input's; everything else (synaptic accumulators, membranes, an analog Input) int32."""
    bound: dict[int, int] = {}

    def owner(k: int) -> int:
        while nodes[k].kind == "Flatten":
            k = edges[nodes[k].first_edge].src
        return k

    for k, nd in enumerate(nodes):
        row = KINDS[nd.kind]
        ins = edges[nd.first_edge:nd.first_edge + nd.n_edges]
        if nd.kind == "Input" and input_bits:
            nd.out_bits = 32  # analog values, widened by esn_step
        elif nd.kind == "Input" or row.spiking:
            nd.out_bits, bound[k] = 8, 255 if nd.kind == "Input" else nd.max_spikes
        elif nd.kind == "Flatten":
            nd.out_bits = nodes[owner(k)].out_bits
        elif row.role == "pool" and ins and all(not e.back and owner(e.src) in bound for e in ins):
            b = sum(bound[owner(e.src)] for e in ins) * nd.kernel[0] * nd.kernel[1]
            if b <= 255:
                nd.out_bits, bound[k] = 8, b


def _check_int(a: np.ndarray, lo: int, hi: int, name: str, kind: str, what: str) -> None:
    if a.size and (int(a.min()) < lo or int(a.max()) > hi):
        bad = int(a.min()) if int(a.min()) < lo else int(a.max())
        raise _err(name, kind, f"{what} holds {bad}, outside [{lo}, {hi}]")


def lower(qgraph: QGraph, schedule="time", steps: int | None = None, stage=None, counters: bool = True) -> Lowered:
    """Lowers a QGraph, with a grouped schedule over `steps` steps unless schedule is "time" (module
    docstring), for a runtime built with counters (ESN_ENABLE_COUNTERS 1, the default: every runtime edgesnn
    runs itself) or without (a release library: its arena's fixed part holds no counters); raises EmitError naming the node and field for anything the runtime cannot hold, and for
    a schedule that cannot run the model (naming the recurrent edge, or early exit)."""
    if not isinstance(qgraph, QGraph):
        raise EmitError(f"expected a QGraph, got {type(qgraph).__name__}")
    g, cfg = qgraph.graph, qgraph.config
    sched = g.schedule()
    order = list(sched.order)
    if len(order) > 65535 or len(g.edges) > 65535:
        raise EmitError(f"{len(order)} nodes and {len(g.edges)} edges: the blob holds at most 65535 of each")
    index = {k: i for i, k in enumerate(order)}
    edges = sorted((LEdge(index[a], index[b], int((a, b) in sched.back_edges), i) for i, (a, b) in enumerate(g.edges)),
                   key=lambda e: (e.dst, e.orig))
    wdtype = storage_dtype(cfg.weight_bits)
    wmax = BINARY_MAX if cfg.weight_bits == 1 else (1 << (cfg.weight_bits - 1)) - 1
    smax = (1 << (cfg.state_bits - 1)) - 1
    one = 1 << cfg.decay_bits
    nodes: list[LNode] = []
    pos = 0
    for k, name in enumerate(order):
        node = g.nodes[name]
        kind = node.kind
        row = KINDS[kind]
        n_in = sum(1 for e in edges if e.dst == k)
        fwd = [a for a in g.predecessors(name) if (a, name) not in sched.back_edges]
        in_shape = sched.shapes[fwd[0]] if fwd else sched.shapes[name]
        out_shape = sched.shapes[name]
        for s in (in_shape, out_shape):
            if not 1 <= len(s) <= MAX_RANK or any(d >= 2 ** 32 for d in s):
                raise _err(name, kind, f"shape {s}: the runtime holds 1 to {MAX_RANK} axes of < 2^32 entries")
        ln = LNode(name, kind, tuple(in_shape), tuple(out_shape), first_edge=pos, n_edges=n_in)
        pos += n_in
        if isinstance(node, ir.Conv2d):
            if isinstance(node, ir.Conv1d):
                geo = ((1, node.weight.shape[2]), (1, node.stride[0]), (0, node.padding[0]), (1, node.dilation[0]))
            else:
                geo = (tuple(node.weight.shape[2:]), node.stride, node.padding, node.dilation)
            ln.groups = node.groups
        elif isinstance(node, ir.SumPool2d):
            geo = (node.kernel_size, node.stride, node.padding, (1, 1))
        else:
            geo = None
        if geo is not None:
            if any(not 0 <= int(v) < 2 ** 16 for pair in geo for v in pair):
                raise _err(name, kind, f"kernel/stride/padding/dilation {geo} do not fit 16 bits")
            ln.kernel, ln.stride, ln.pad, ln.dil = (tuple(int(v) for v in pair) for pair in geo)
        if isinstance(node, ir.Flatten):
            r = len(in_shape)
            ln.flat_start = node.start_dim + r if node.start_dim < 0 else node.start_dim
            ln.flat_end = node.end_dim + r if node.end_dim < 0 else node.end_dim
        if isinstance(node, ir._Spiking):
            ln.reset = RESET_CODES["subtract_late" if node.reset_late else node.reset]
            ln.max_spikes = int(node.max_spikes)
        if node.spiking:
            ln.spike_rule = int(node.spike_rule == ">=")
        if row.current:
            ln.syn_delay = int(bool(node.syn_delay))
        if row.required or row.optional:
            if name not in qgraph.layers:
                raise _err(name, kind, "has no quantized parameters in the QGraph")
            ln.acc_shift = int(qgraph.layers[name].acc_shift)
            if not 0 <= ln.acc_shift <= 30 or (ln.acc_shift and not row.analog_reader):
                raise _err(name, kind, f"accumulator shift {ln.acc_shift}: 0..30, and nonzero only for "
                           f"{', '.join(ANALOG_READER_KINDS)}")
            params = qgraph.layers[name].params
            missing, extra = row.required - set(params), set(params) - (row.required | row.optional)
            if missing or extra:
                raise _err(name, kind, f"parameters {sorted(params)}; the runtime needs {sorted(row.required)}"
                           + (f" and allows {sorted(row.optional)}" if row.optional else ""))
            for slot, a in params.items():
                a = np.asarray(a)
                if a.dtype.kind not in "iu":
                    raise _err(name, kind, f"parameter {slot!r} has dtype {a.dtype}; integers expected")
                a = a.astype(np.int64)
                if slot == "weight":
                    _check_int(a, -wmax - 1, wmax, name, kind, f"weight (weight_bits = {cfg.weight_bits})")
                    if cfg.weight_bits == 1:  # binary: every weight +-m, one m >= 1 for the layer
                        ln.wmag = int(np.abs(a).max()) if a.size else 1
                        if ln.wmag < 1 or np.any(np.abs(a) != ln.wmag):
                            raise _err(name, kind, "binary weights (weight_bits = 1) must all be +-m for one m in "
                                       f"[1, {BINARY_MAX}]; they hold {sorted(set(np.abs(a).tolist()))[:4]}...")
                    ln.params[slot] = _weights(node, a, ln.groups).astype(wdtype)
                    ln.bits[slot], ln.modes[slot] = weight_storage_bits(cfg.weight_bits), PM_ELEM
                    continue
                _check_int(a, -2 ** 31, 2 ** 31 - 1, name, kind, f"parameter {slot!r}")
                lim = {"threshold": (1, smax), "b0": (1, smax), "v_reset": (-smax - 1, smax), "alpha": (0, one),
                       "alpha_syn": (0, one), "rho": (0, one), "beta": (0, 2 ** 31 - 1),
                       "eta_inc": (0, 1 << cfg.adapt_bits)}.get(slot)
                if lim:
                    _check_int(a, *lim, name, kind, f"parameter {slot!r}")
                shape = tuple(out_shape) if row.neuron else (a.size,)
                values, ln.modes[slot], ln.bits[slot] = param_storage(a.reshape(shape), row.neuron and len(shape) >= 2)
                ln.params[slot] = values.astype(np.int32)
        nodes.append(ln)
    _set_layouts(nodes, edges, cfg.rounding == "stochastic")
    _set_out_bits(nodes, edges, cfg.input_bits)
    outs = [i for i, nd in enumerate(nodes) if nd.kind == "Output"]
    low = Lowered(qgraph, nodes, edges, outs[0], counters=bool(counters))
    schedule = schedule_spec(schedule)
    if isinstance(schedule, str) and schedule == "time" and not stage:
        return low
    return low.with_schedule(schedule, steps, stage)


def config_record(qgraph: QGraph) -> dict:
    """The model-wide settings as the runtime's esn_model holds them."""
    cfg, ex = qgraph.config, qgraph.exit
    return {"weight_bits": cfg.weight_bits, "state_bits": cfg.state_bits, "current_bits": cfg.current_bits,
            "adapt_bits": cfg.adapt_bits, "threshold_bits": cfg.threshold_bits, "decay_bits": cfg.decay_bits,
            "rounding": ROUNDING_CODES[cfg.rounding], "exit_enabled": int(ex is not None), "seed": cfg.seed,
            "exit_threshold_q8": int(ex["threshold_q8"]) if ex else 0,
            "exit_beta_q16": int(ex["beta_q16"]) if ex else 0, "input_bits": cfg.input_bits}


def arena_size(qgraph: QGraph, counters: bool = True) -> int:
    """Exact arena bytes the C runtime needs for `qgraph` (equals esn_arena_size() of a runtime built with
    ESN_ENABLE_COUNTERS = counters)."""
    return lower(qgraph, counters=counters).arena_size()


def arena_size_layer_major(qgraph: QGraph, steps: int) -> int:
    """Exact arena bytes of the layer-major schedule over `steps` steps (equals esn_arena_size_sched());
    raises EmitError for a model it cannot run (a recurrent edge, early exit)."""
    return lower(qgraph).arena_size_layer_major(steps)


def arena_size_schedule(qgraph: QGraph, schedule, steps: int, stage=None, counters: bool = True) -> int:
    """Exact arena bytes of `qgraph` under `schedule` over `steps` steps (staging the weights of `stage`):
    esn_arena_size() for "time" (or a single group), else esn_arena_size_sched(), of a runtime built with
    ESN_ENABLE_COUNTERS = counters; EmitError for a schedule it cannot run."""
    return lower(qgraph, schedule, steps, stage, counters).arena_bytes
