"""The model blob: a versioned little-endian binary the C runtime loads and checks in place.

Layout (the C reader and the byte offsets of every field: runtime_c/include/esn/esn_blob.h):

    header (48 bytes)   magic "ESNB", version, header size, total size, CRC-32 of bytes [16, total),
                        section count, section table offset
    section table       16 bytes per section: type, flags, offset, size, count
    MODEL  (64 bytes)   node/edge counts, bit widths, rounding, seed, early exit, input/output sizes,
                        schedule steps T (0: no schedule), the memory plan's arena bytes, input bits (0: spike
                        counts; 8 / 16: analog int8 / int16, byte 44, a reserved byte before: older runtimes
                        refuse such a blob)
    NODES  (224 each)   schedule order: kind, reset, spike rule, shapes, geometry, edges, flags (bit 0
                        starts a schedule group, bit 1 stages the weights), (offset, count, bits, mode)
                        of each of the 11 parameter arrays, and the memory plan's offsets of its
                        output buffer (even, odd steps) and state block (edgesnn.lower.MemoryPlan)
    EDGES  (8 each)     src, dst, recurrent flag, index in the graph's edge list; grouped by dst
    PARAMS              the arrays in device layout and storage (edgesnn.lower: packed 2- and 4-bit
                        weights, parameters per element, channel or layer at 8/16/32 bits), each
                        8-byte aligned
    META                UTF-8 JSON the runtime skips: node names, scales, dt, metadata

Version 5 carries each buffer's element width (node byte 77, esn_node.out_bits: uint8 for the Input, spikes and
small pool sums, else int32) and a memory plan in which a neuron layer's uint8 output lies at the start of its int32
input's region. Version 4 carried each tensor's layout (node byte 14, esn_node.layout: channel-last conv/pool chains,
with the dense weight rows and neuron parameters that index them in that order) and stored conv weights with each
kernel row's taps reversed; versions 1 to 4 are refused, here and by the runtime, with the advice to recompile.
`schedule_of(blob)` reads the schedule back ((flags, steps)); `from_blob` returns the QGraph alone.

`to_blob(qgraph)` writes one; `from_blob(data)` reads one back into a QGraph whose integers,
structure, settings and exit policy are the original's, so `to_blob(from_blob(b)) == b` and
`simulate_fixed` gives the same result on both. Its float parameters are rebuilt from the
integers and their scales (for display); they are not the original floats.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from .. import __version__
from ..errors import EmitError
from ..graph import ir
from ..graph.kinds import ANALOG_READER_KINDS, BY_CODE, KINDS, PARAM_SLOTS
from ..lower import (IN_CL, OUT_CL, RESET_CODES, LEdge, LNode, Lowered, MemoryPlan, align8, cl_channels, cl_perm,
                     config_record, lower, unpack_rows, weight_bytes, weight_row_len)
from ..quantize.config import INPUT_BITS, QuantConfig
from ..quantize.fixedpoint import ROUNDING_CODES
from ..quantize.qgraph import PM_CHANNEL, PM_ELEM, PM_LAYER, QGraph, QLayer, input_scale_problem, storage_dtype

MAGIC = b"ESNB"
VERSION = 5
HEADER_BYTES, SECTION_BYTES, MODEL_BYTES, NODE_BYTES, EDGE_BYTES = 48, 16, 64, 224, 8
SEC_MODEL, SEC_NODES, SEC_EDGES, SEC_PARAMS, SEC_META = 1, 2, 3, 4, 5

_HEADER = struct.Struct("<4sHHIIHHI24x")
_SECTION = struct.Struct("<HHIII")
_MODEL = struct.Struct("<HHHH8BIiiIIIIB19x")
_NODE = struct.Struct("<BBBBHHHBBbbBB4I4IIIHHHHHHHHIBBH" + "IIBBH" * len(PARAM_SLOTS) + "III")
_EDGE = struct.Struct("<HHBBH")
_CONFIG_KEYS = ("weight_bits", "state_bits", "current_bits", "adapt_bits", "threshold_bits", "decay_bits",
                "rounding", "exit_enabled")
assert (_HEADER.size, _SECTION.size, _MODEL.size, _NODE.size, _EDGE.size) == \
    (HEADER_BYTES, SECTION_BYTES, MODEL_BYTES, NODE_BYTES, EDGE_BYTES)


class BlobError(EmitError):
    """A blob is truncated, corrupted, from another format version, or otherwise malformed."""


def _pad4(t: tuple) -> list[int]:
    return [int(v) for v in t] + [0] * (4 - len(t))


def to_blob(qgraph: QGraph, schedule="time", steps: int | None = None, stage=None) -> bytes:
    """Serialises a quantized graph for the C runtime (layout in the module docstring), with a grouped
    schedule over `steps` steps unless schedule is "time", staging the weights of `stage`
    (edgesnn.lower.lower)."""
    return blob_from_lowered(lower(qgraph, schedule, steps, stage))


def blob_from_lowered(low: Lowered) -> bytes:
    q = low.qgraph
    n, m = len(low.nodes), len(low.edges)
    meta = json.dumps({"edgesnn_version": __version__, "names": [nd.name for nd in low.nodes], "dt": q.graph.dt,
                       "graph_meta": q.graph.meta, "qgraph_meta": q.meta,
                       "layers": {k: {"scales": v.scales, "target": v.target, "into": v.into, "max_in": v.max_in}
                                  for k, v in q.layers.items()},
                       "input_scale": None if q.input_scale is None else [float(v) for v in q.input_scale]},
                      sort_keys=True).encode()
    n_sec = 5
    off = align8(HEADER_BYTES + n_sec * SECTION_BYTES)
    model_off = off
    nodes_off = model_off + MODEL_BYTES
    edges_off = nodes_off + n * NODE_BYTES
    params_off = align8(edges_off + m * EDGE_BYTES)
    # parameter arrays, each 8-byte aligned
    refs: list[list[tuple[int, int]]] = []
    chunks: list[tuple[int, bytes]] = []
    pos = params_off
    for nd in low.nodes:
        r = []
        for slot in PARAM_SLOTS:
            a = nd.params.get(slot)
            if a is None:
                r.append((0, 0, 0, 0, 0))
                continue
            data = nd.param_data(slot)
            r.append((pos, int(a.size), nd.bits[slot], nd.modes[slot], 0))
            chunks.append((pos, data))
            pos = align8(pos + len(data))
        refs.append(r)
    params_size = pos - params_off
    meta_off = pos
    total = align8(meta_off + len(meta))
    if total >= 2 ** 32:
        raise EmitError(f"the blob would take {total} bytes; the format holds at most 4 GiB")
    buf = bytearray(total)
    sections = [(SEC_MODEL, model_off, MODEL_BYTES, 1), (SEC_NODES, nodes_off, n * NODE_BYTES, n),
                (SEC_EDGES, edges_off, m * EDGE_BYTES, m), (SEC_PARAMS, params_off, params_size, len(chunks)),
                (SEC_META, meta_off, len(meta), 1)]
    for i, (typ, o, size, count) in enumerate(sections):
        _SECTION.pack_into(buf, HEADER_BYTES + i * SECTION_BYTES, typ, 0, o, size, count)
    plan = low.memory_plan()
    cfg = config_record(q)
    _MODEL.pack_into(buf, model_off, n, m, 0, low.output_node, *(cfg[k] for k in _CONFIG_KEYS), cfg["seed"],
                     cfg["exit_threshold_q8"], cfg["exit_beta_q16"], low.input_size, low.output_size, low.steps,
                     plan.arena_bytes, cfg["input_bits"])
    for k, nd in enumerate(low.nodes):
        flat = [v for ref in refs[k] for v in ref]
        _NODE.pack_into(buf, nodes_off + k * NODE_BYTES, nd.code, nd.reset, nd.spike_rule, nd.syn_delay,
                        nd.max_spikes, nd.first_edge, nd.n_edges, len(nd.in_shape), len(nd.out_shape),
                        nd.flat_start, nd.flat_end, nd.layout, nd.flags, *_pad4(nd.in_shape), *_pad4(nd.out_shape),
                        nd.in_size, nd.out_size, *nd.kernel, *nd.stride, *nd.pad, *nd.dil, nd.groups, nd.wmag,
                        nd.out_bits, nd.acc_shift, *flat,
                        *plan.buf_off[k], plan.state_off[k])
    for i, e in enumerate(low.edges):
        _EDGE.pack_into(buf, edges_off + i * EDGE_BYTES, e.src, e.dst, e.back, 0, e.orig)
    for o, data in chunks:
        buf[o:o + len(data)] = data
    buf[meta_off:meta_off + len(meta)] = meta
    _HEADER.pack_into(buf, 0, MAGIC, VERSION, HEADER_BYTES, total, 0, n_sec, 0, HEADER_BYTES)
    struct.pack_into("<I", buf, 12, zlib.crc32(bytes(buf[16:])))
    return bytes(buf)


# ----------------------------------------------------------------------------------------------
# Reading (for tests and tools): the same checks as the C loader's format checks, with messages
# ----------------------------------------------------------------------------------------------

def read_header(data: bytes) -> dict:
    """Checks magic, version, sizes and CRC; returns the header fields and the section table."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BlobError(f"a blob is bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise BlobError(f"blob truncated: {len(data)} bytes, shorter than its {HEADER_BYTES}-byte header")
    magic, version, hsize, total, crc, n_sec, flags, table = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise BlobError(f"not an edgesnn model blob (magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise BlobError(f"blob format version {version} is not supported: this edgesnn ({__version__}) reads "
                        f"version {VERSION}; re-run `edgesnn compile` with this version")
    if hsize != HEADER_BYTES:
        raise BlobError(f"malformed blob header (header size {hsize})")
    if total > len(data):
        raise BlobError(f"blob truncated: {len(data)} bytes of the {total} its header declares")
    if total % 8 or total < HEADER_BYTES:
        raise BlobError(f"malformed blob header: total size {total}")
    if zlib.crc32(data[16:total]) != crc:
        raise BlobError("blob corrupted: CRC-32 mismatch")
    if flags or table != HEADER_BYTES or any(data[24:48]):
        raise BlobError(f"malformed blob header (flags {flags}, section table at {table})")
    if not 4 <= n_sec <= 5 or HEADER_BYTES + n_sec * SECTION_BYTES > total:
        raise BlobError(f"malformed section table ({n_sec} sections)")
    sections, prev = {}, align8(HEADER_BYTES + n_sec * SECTION_BYTES)
    for i in range(n_sec):
        typ, fl, o, size, count = _SECTION.unpack_from(data, HEADER_BYTES + i * SECTION_BYTES)
        if not SEC_MODEL <= typ <= SEC_META or typ in sections or fl or o % 8 or o < prev or o + size > total:
            raise BlobError(f"malformed section table entry {i} (type {typ}, offset {o}, size {size})")
        sections[typ] = (o, size, count)
        prev = o + size
    return {"version": version, "total": total, "sections": sections, "data": data}


def from_blob(data: bytes) -> QGraph:
    """Reads a blob back into a QGraph (see the module docstring for what comes back exactly)."""
    h = read_header(data)
    try:
        _validate(h)
    except _Refused as e:
        raise BlobError(str(e)) from None
    try:
        return _parse(h)
    except (struct.error, KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise BlobError(f"malformed blob ({type(e).__name__}: {e})") from None
    except EmitError:
        raise
    except Exception as e:  # an IR or quantizer check refusing what the blob describes
        raise BlobError(f"blob describes an invalid model: {e}") from None


def _parse(h: dict) -> QGraph:
    data, sec = h["data"], h["sections"]
    for t in (SEC_MODEL, SEC_NODES, SEC_EDGES, SEC_PARAMS):
        if t not in sec:
            raise BlobError(f"blob lacks section type {t}")
    vals = _MODEL.unpack_from(data, sec[SEC_MODEL][0])
    n, m, inp, out_node = vals[:4]
    cfgv = dict(zip(_CONFIG_KEYS, vals[4:12]))
    seed, thr, beta = vals[12:15]
    if sec[SEC_NODES][1] != n * NODE_BYTES or sec[SEC_EDGES][1] != m * EDGE_BYTES:
        raise BlobError("node or edge section size does not match the model record")
    meta = _meta(data, sec, n)
    names = meta["names"]
    layers_meta = meta["layers"]
    rounding = {v: k for k, v in ROUNDING_CODES.items()}[cfgv["rounding"]]
    input_bits = vals[19]
    config = QuantConfig(**{k: cfgv[k] for k in _CONFIG_KEYS[:6]}, rounding=rounding, seed=seed,
                         input_bits=input_bits, input_scale="tensor" if len(meta["input_scale"] or [1]) == 1
                         else "channel")
    edges = [_EDGE.unpack_from(data, sec[SEC_EDGES][0] + i * EDGE_BYTES) for i in range(m)]
    graph_edges = [(names[s], names[d]) for s, d, _, _, _ in sorted(edges, key=lambda e: e[4])]
    p_lo, p_size, _ = sec[SEC_PARAMS]
    nodes, layers, plan = {}, {}, MemoryPlan([], [], vals[18])
    lnodes: list[LNode] = []
    ledges = [LEdge(s, d, b, o) for s, d, b, _, o in edges]
    for k in range(n):
        f = _NODE.unpack_from(data, sec[SEC_NODES][0] + k * NODE_BYTES)
        kind = BY_CODE[f[0]].name
        in_rank, out_rank = f[7], f[8]
        in_shape, out_shape = tuple(f[13:13 + in_rank]), tuple(f[17:17 + out_rank])
        ln = LNode(names[k], kind, in_shape, out_shape, reset=f[1], spike_rule=f[2], syn_delay=f[3], max_spikes=f[4],
                   first_edge=f[5], n_edges=f[6], flat_start=f[9], flat_end=f[10],
                   kernel=f[23:25], stride=f[25:27], pad=f[27:29], dil=f[29:31], groups=f[31], layout=f[11],
                   wmag=f[32], acc_shift=f[34])
        refs = f[35:]
        plan.buf_off.append(list(f[-3:-1]))
        plan.state_off.append(f[-1])
        for i, slot in enumerate(PARAM_SLOTS):
            o, cnt, bits, mode, reserved = refs[5 * i:5 * i + 5]
            if cnt == 0:
                if o or bits or mode or reserved:
                    raise BlobError(f"node {names[k]!r}: absent parameter {slot!r} has a storage record")
                continue
            bits = bits or (8 if slot == "weight" else 32)  # 0: the default storage (esn_param_bits)
            ok = ((bits == 1 if cfgv["weight_bits"] == 1 else bits in (2, 4, 8, 16) and bits >= cfgv["weight_bits"])
                  and mode == PM_ELEM and (bits == 1) == (1 <= ln.wmag <= 127) if slot == "weight"
                  else bits in (8, 16, 32) and mode in (PM_ELEM, PM_CHANNEL, PM_LAYER))
            if not ok or reserved:
                raise BlobError(f"node {names[k]!r}: parameter {slot!r} stored at {bits} bits in mode {mode}")
            ln.bits[slot], ln.modes[slot] = bits, mode
            size = ln.stored_bytes(slot, cnt, bits)
            if o < p_lo or o + size > p_lo + p_size:
                raise BlobError(f"node {names[k]!r}: parameter {slot!r} lies outside the PARAMS section")
            raw = data[o:o + size]
            if slot == "weight":
                ln.params[slot] = unpack_rows(raw, bits, ln.weight_row_len, cnt) * (ln.wmag if bits == 1 else 1)
                continue
            values = np.frombuffer(raw, f"<i{bits // 8}", cnt).astype(np.int64)
            full = ln.out_size if KINDS[kind].neuron else ln.out_shape[0]
            if (cnt != {PM_ELEM: full, PM_CHANNEL: ln.out_shape[0], PM_LAYER: 1}[mode]
                    or mode == PM_CHANNEL and not (KINDS[kind].neuron and len(ln.out_shape) >= 2)):
                raise BlobError(f"node {names[k]!r}: parameter {slot!r} holds {cnt} values in mode {mode}")
            ln.params[slot] = np.repeat(values, full // cnt)  # per channel or layer -> per element
        lnodes.append(ln)
        if ln.layout & IN_CL and not KINDS[kind].conv_like:  # back from the input's channel-last order
            perm = cl_perm(ln.in_size, cl_channels(lnodes, ledges, ledges[ln.first_edge].src))
            for slot, a in ln.params.items():
                if KINDS[kind].neuron or slot == "weight":  # a dense layer's rows, a neuron layer's entries
                    logical = np.empty_like(a.reshape(ln.in_size, -1))
                    logical[perm] = a.reshape(ln.in_size, -1)
                    ln.params[slot] = logical.reshape(-1)
        node, qparams = _rebuild(ln, layers_meta.get(names[k], {}), config)
        nodes[names[k]] = node
        if qparams is not None:
            lm = layers_meta.get(names[k], {})
            layers[names[k]] = QLayer(qparams, {a: float(b) for a, b in lm.get("scales", {}).items()},
                                      lm.get("target"), lm.get("into", "v"), int(lm.get("max_in", 1)), ln.acc_shift)
    graph = ir.Graph(nodes, graph_edges, meta["dt"], meta["graph_meta"])
    sched = graph.schedule()
    if list(sched.order) != names[:n] or inp != 0 or names[out_node] != graph.output.name:
        raise BlobError("the blob's node order is not its graph's schedule")
    if {(names[s], names[d]) for s, d, b, _, _ in edges if b} != set(sched.back_edges):
        raise BlobError("the blob's recurrent edges are not its graph's back edges")
    exit_cfg = {"threshold_q8": thr, "beta_q16": beta} if cfgv["exit_enabled"] else None
    scale = meta["input_scale"]
    q = QGraph(graph, config, layers, meta["qgraph_meta"], exit_cfg,
               None if not input_bits or scale is None else np.asarray(scale, np.float64))
    problem = input_scale_problem(q)
    if problem:
        raise BlobError(f"the blob's META section does not give the input's scale: {problem}")
    low = lower(q)
    for k, nd in enumerate(low.nodes):  # the buffers' widths as the blob has them (byte 77; 0 reads as 32)
        nd.out_bits = data[sec[SEC_NODES][0] + k * NODE_BYTES + 77] or 32
    problem = low.plan_problem(plan)
    if problem:
        raise BlobError(f"the blob's memory plan is refused: {problem}")
    steps = vals[17]
    if steps:  # the schedule the blob carries, as esn_arena_size_sched lays it out
        flags = [data[sec[SEC_NODES][0] + k * NODE_BYTES + 15] for k in range(n)]
        for nd, fl in zip(low.nodes, flags):
            nd.flags = fl
        low.steps = steps
    need = low.arena_size_sched() if steps else low.arena_size()
    if need > 2 ** 32 - 8:
        raise BlobError(f"the model needs an arena of {need:,} bytes ({steps or 'any'} steps); the runtime holds at "
                        f"most 4 GiB")
    return q


def _meta(data: bytes, sec: dict, n: int) -> dict:
    """The META section's names, scales, dt and metadata; what is absent or malformed takes its default (the
    runtime skips META: it changes no integer, so it cannot make a blob the runtime runs unreadable here)."""
    try:
        o, size, _ = sec[SEC_META]
        meta = json.loads(data[o:o + size].decode())
    except Exception:
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    names = meta.get("names")
    if not (isinstance(names, list) and len(names) >= n and all(isinstance(x, str) and x for x in names)
            and len(set(names[:n])) == n):
        names = [f"n{i}" for i in range(n)]
    layers = meta.get("layers")
    layers = {k: v for k, v in layers.items() if isinstance(v, dict)} if isinstance(layers, dict) else {}
    for k, lm in list(layers.items()):
        ok = (isinstance(lm.get("scales", {}), dict)
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in lm.get("scales", {}).values())
              and isinstance(lm.get("target"), (str, type(None))) and lm.get("into", "v") in ("v", "i")
              and isinstance(lm.get("max_in", 1), int) and not isinstance(lm.get("max_in", 1), bool))
        if not ok:
            del layers[k]
    dt = meta.get("dt")
    dt = float(dt) if isinstance(dt, (int, float)) and not isinstance(dt, bool) and 0 < dt < float("inf") else 1e-3
    gm, qm = meta.get("graph_meta"), meta.get("qgraph_meta")
    scale = meta.get("input_scale")
    if not (isinstance(scale, list) and scale and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and 0 < v < float("inf") for v in scale)):
        scale = None
    return {"names": names, "layers": layers, "dt": dt, "graph_meta": gm if isinstance(gm, dict) else {},
            "qgraph_meta": qm if isinstance(qm, dict) else {}, "input_scale": scale}


def schedule_of(data: bytes) -> tuple[list[int], int]:
    """The schedule a blob carries: (ESN_NODE_NEW_GROUP flags per node, steps T); T = 0 for none."""
    h = read_header(data)
    sec = h["sections"]
    if SEC_MODEL not in sec or SEC_NODES not in sec:
        raise BlobError("blob lacks its model or node section")
    vals = _MODEL.unpack_from(h["data"], sec[SEC_MODEL][0])
    flags = [h["data"][sec[SEC_NODES][0] + k * NODE_BYTES + 15] for k in range(vals[0])]
    return flags, int(vals[17])


def _rebuild(ln: LNode, lm: dict, config: QuantConfig):
    """An IR node (floats from the integers and scales) and its QLayer params in QGraph layout."""
    name, kind, p = ln.name, ln.kind, ln.params
    row = KINDS[kind]
    scales = lm.get("scales", {})
    if kind == "Input":
        return ir.Input(name=name, shape=ln.out_shape), None
    if kind == "Output":
        return ir.Output(name=name, shape=ln.out_shape), None
    if kind == "Flatten":
        return ir.Flatten(name=name, start_dim=ln.flat_start, end_dim=ln.flat_end), None
    if row.role == "pool":
        return ir.NODE_TYPES[kind](name=name, kernel_size=ln.kernel, stride=ln.stride, padding=ln.pad), None
    if row.weighted:
        s = float(scales.get("out", 1.0))
        wd = storage_dtype(config.weight_bits)
        flat = p["weight"]
        q = {}
        if kind == "Scale":
            w = flat.reshape(ln.in_shape)
            return ir.Scale(name=name, scale=w * s), {"weight": w.astype(wd)}
        if kind in ("Linear", "Affine"):
            w = flat.reshape(ln.in_shape[0], ln.out_shape[0]).T
        else:
            g, c_out, c_in = ln.groups, ln.out_shape[0], ln.in_shape[0]
            kh, kw = ln.kernel
            w = flat.reshape(g, c_in // g, kh, kw, c_out // g).transpose(0, 4, 1, 2, 3).reshape(c_out, c_in // g, kh, kw)
            w = w[..., ::-1]  # the device stores each kernel row's taps reversed
            if kind == "Conv1d":
                w = w[:, :, 0, :]
        q["weight"] = np.ascontiguousarray(w).astype(wd)
        bias = np.zeros(ln.out_shape[0]) if "bias" not in p else p["bias"] * s
        if "bias" in p:
            q["bias"] = p["bias"].astype(np.int32)
        if kind == "Linear":
            return ir.Linear(name=name, weight=w * s), q
        if kind == "Affine":
            return ir.Affine(name=name, weight=w * s, bias=bias), q
        if kind == "Conv1d":
            return ir.Conv1d(name=name, weight=w * s, bias=bias, stride=ln.stride[1], padding=ln.pad[1],
                             dilation=ln.dil[1], groups=ln.groups), q
        return ir.Conv2d(name=name, weight=w * s, bias=bias, stride=ln.stride, padding=ln.pad, dilation=ln.dil,
                         groups=ln.groups), q
    if not row.neuron:
        raise BlobError(f"node {name!r}: unknown kind {kind}")
    shape = ln.out_shape
    q = {k: a.reshape(shape).astype(np.int32) for k, a in p.items()}
    s_v = float(scales.get("v", 1.0))
    if kind == "Threshold":
        return ir.Threshold(name=name, threshold=q["threshold"] * s_v, spike_rule=">=" if ln.spike_rule else ">"), q
    one = float(1 << config.decay_bits)
    f = {"gain": np.ones(shape), "bias": q["bias"] * s_v}
    if "alpha" in q:
        f["alpha"] = q["alpha"] / one
    if row.current:
        s_i = float(scales.get("i", 1.0))
        f.update(alpha_syn=q["alpha_syn"] / one, gain_syn=np.ones(shape),
                 gain=q["cur_mult"] * s_v / (s_i * 65536.0), syn_delay=bool(ln.syn_delay))
    rule = ">=" if ln.spike_rule else ">"
    if row.adaptive:
        f.update(rho=q["rho"] / one, b0=q["b0"] * s_v, beta=q["beta"] * s_v, spike_rule=rule)
    elif row.spiking:
        reset = {v: k for k, v in RESET_CODES.items()}[ln.reset]
        f.update(threshold=q["threshold"] * s_v, v_reset=q["v_reset"] * s_v, spike_rule=rule,
                 reset="subtract" if reset == "subtract_late" else reset, reset_late=reset == "subtract_late",
                 max_spikes=ln.max_spikes)
    return ir.NODE_TYPES[kind](name=name, **f), q


# ----------------------------------------------------------------------------------------------
# Validation: the C loader's refusals (runtime_c/src/esn_blob.c esn_blob_load, esn_model.c
# esn_model_validate), in the same order, in Python. The blob reader and the fixed-point reference
# (quantize.reference.simulate_fixed, through check_qgraph) both validate through here, so the
# specification refuses exactly what the runtime refuses, with a message naming node, field and value.
# ----------------------------------------------------------------------------------------------

# The host build's limits (edgesnn/runtime/_build.py DEFINES; runtime_c/include/esn/esn_config.h): the
# reference runs what the host runtime runs (tests/hostile/test_plans.py checks them against the extension).
MAX_NODES, MAX_EDGES, MAX_FANIN, MAX_ELEMS, MAX_RANK = 1024, 4096, 64, 1 << 26, 4
_RESET_COUNT, _SPIKE_RULE_COUNT, _ROUNDING_COUNT = 4, 2, 3
_NEW_GROUP, _STAGE_WEIGHTS = 1, 2
_INT32_MAX = 2 ** 31 - 1
_SLOT = {s: i for i, s in enumerate(PARAM_SLOTS)}


class _Refused(Exception):
    """One refusal: the C status it mirrors and the message."""

    def __init__(self, status: str, msg: str):
        super().__init__(msg)
        self.status = status


class _Rec:
    """One node record as esn_read_nodes reads it."""
    __slots__ = ("kind", "reset", "spike_rule", "syn_delay", "max_spikes", "first_edge", "n_edges", "in_rank",
                 "out_rank", "flat_start", "flat_end", "layout", "flags", "in_shape", "out_shape", "in_size",
                 "out_size", "kernel", "stride", "pad", "dil", "groups", "wmag", "out_bits", "acc_shift", "refs",
                 "pbits", "pmode", "param", "name", "row")


def _blob_meta_names(data: bytes, sec: dict) -> list[str]:
    try:
        o, size, _ = sec[SEC_META]
        names = json.loads(data[o:o + size].decode()).get("names")
        return [str(n) for n in names] if isinstance(names, list) else []
    except Exception:
        return []


def validate_blob(data: bytes) -> None:
    """Raise BlobError where the C runtime's esn_blob_load would refuse `data` (esn_blob.c's order of
    checks): the same verdict, the message naming the node, field and value."""
    h = read_header(data)
    try:
        _validate(h)
    except _Refused as e:
        raise BlobError(str(e)) from None


def check_qgraph(qgraph: QGraph) -> None:
    """Raise EmitError where the C runtime would refuse `qgraph`: lowering refuses what no blob can hold
    (EmitError naming node and field), validate_blob what the C loader refuses. The fixed-point reference
    runs this first, so it refuses what fixed-c refuses, with the same messages."""
    validate_blob(to_blob(qgraph))


def _validate(h: dict) -> None:  # noqa: C901 (one check after another, as in the C loader)
    data, total = h["data"], h["total"]
    sec = h["sections"]
    for t in (SEC_MODEL, SEC_NODES, SEC_EDGES, SEC_PARAMS):
        if t not in sec:
            raise _Refused("SECTION", f"malformed section table: no section of type {t}")
    n_sec = struct.unpack_from("<H", data, 16)[0]
    counts = [_SECTION.unpack_from(data, HEADER_BYTES + i * SECTION_BYTES) for i in range(n_sec)]
    count = {typ: c for typ, _, _, _, c in counts}
    if (sec[SEC_MODEL][1] != MODEL_BYTES or count[SEC_MODEL] != 1 or sec[SEC_NODES][1] != count[SEC_NODES] * NODE_BYTES
            or sec[SEC_EDGES][1] != count[SEC_EDGES] * EDGE_BYTES):
        raise _Refused("SECTION", "malformed section table: a section's size does not match its count")
    names = _blob_meta_names(data, sec)
    mo = sec[SEC_MODEL][0]
    vals = _MODEL.unpack_from(data, mo)
    n, m, inp, out_node = vals[:4]
    wb, sb, cb, ab, tb, db, rounding, exit_on = vals[4:12]
    thr, beta, in_size, out_size, steps, arena, input_bits = vals[13:20]
    if n != count[SEC_NODES] or m != count[SEC_EDGES] or any(data[mo + 45:mo + 64]):
        raise _Refused("SECTION", f"the model record's counts ({n} nodes, {m} edges) do not match its sections")
    if not 2 <= n <= MAX_NODES:
        raise _Refused("LIMIT", f"{n} nodes: the runtime holds 2 to {MAX_NODES}")
    if not 1 <= m <= MAX_EDGES:
        raise _Refused("LIMIT", f"{m} edges: the runtime holds 1 to {MAX_EDGES}")
    if arena == 0:
        raise _Refused("PLAN", "the blob carries no memory plan (arena bytes 0)")

    def label(k: int) -> str:
        return f"node {names[k]!r}" if 0 <= k < len(names) else f"node #{k}"

    def fail(status: str, k: int, msg: str):
        kind = recs[k].row.name if k < len(recs) and recs[k].row is not None else None
        raise _Refused(status, f"{label(k)}{f' ({kind})' if kind else ''}: {msg}")

    # edges (esn_read_edges)
    eo = sec[SEC_EDGES][0]
    edges = [_EDGE.unpack_from(data, eo + i * EDGE_BYTES) for i in range(m)]
    seen, prev_dst = set(), 0
    recs: list[_Rec] = []
    for i, (src, dst, back, res, orig) in enumerate(edges):
        if dst >= n or dst < prev_dst or orig >= m or orig in seen or back > 1 or res:
            raise _Refused("EDGE", f"malformed edge {i} (source {src}, destination {dst}, index {orig})")
        seen.add(orig)
        prev_dst = dst
    # nodes (esn_read_nodes)
    no = sec[SEC_NODES][0]
    for k in range(n):
        f = _NODE.unpack_from(data, no + k * NODE_BYTES)
        r = _Rec()
        (r.kind, r.reset, r.spike_rule, r.syn_delay, r.max_spikes, r.first_edge, r.n_edges, r.in_rank, r.out_rank,
         r.flat_start, r.flat_end, r.layout, r.flags) = f[:13]
        r.in_shape, r.out_shape, r.in_size, r.out_size = list(f[13:17]), list(f[17:21]), f[21], f[22]
        r.kernel, r.stride, r.pad, r.dil, r.groups = f[23:25], f[25:27], f[27:29], f[29:31], f[31]
        r.wmag, r.out_bits, shift_word = f[32:35]
        r.acc_shift, reserved = shift_word & 0xFF, shift_word >> 8  # byte 78 the shift, byte 79 reserved
        r.refs = [f[35 + 5 * i:40 + 5 * i] for i in range(len(PARAM_SLOTS))]
        r.pbits = [ref[2] for ref in r.refs]
        r.pmode = [ref[3] for ref in r.refs]
        r.param = [None] * len(PARAM_SLOTS)
        r.row = BY_CODE.get(r.kind)
        recs.append(r)
        if reserved:
            fail("ENUM", k, f"reserved field holds {reserved}")
        if r.wmag > 127:
            fail("ENUM", k, f"binary weight magnitude {r.wmag} out of range (0, or 1..127 with 1-bit weights)")
        for i, (o, cnt, bits, mode, res) in enumerate(r.refs):
            if res or (cnt == 0 and (bits or mode)):
                fail("PARAM", k, f"absent or malformed storage record of parameter {PARAM_SLOTS[i]!r}")
        if r.first_edge + r.n_edges > m:
            fail("EDGE", k, f"edges {r.first_edge}..{r.first_edge + r.n_edges - 1} of the {m} in the blob")
        for e in range(r.first_edge, r.first_edge + r.n_edges):
            if edges[e][1] != k:
                fail("EDGE", k, f"edge {e} is not one of its incoming edges")
    model = {"n": n, "m": m, "wb": wb, "sb": sb, "cb": cb, "ab": ab, "tb": tb, "db": db, "rounding": rounding,
             "exit": exit_on, "thr": thr, "beta": beta, "inp": inp, "out": out_node, "in_size": in_size,
             "out_size": out_size, "steps": steps, "input_bits": input_bits}
    _structure(model, recs, edges, fail)
    # parameter references (esn_read_params)
    p_lo, p_size, p_count = sec[SEC_PARAMS][0], sec[SEC_PARAMS][1], count[SEC_PARAMS]
    arrays = 0
    for k, r in enumerate(recs):
        for i, (o, cnt, bits, mode, _) in enumerate(r.refs):
            slot = PARAM_SLOTS[i]
            if cnt == 0:
                if o:
                    fail("PARAM", k, f"absent parameter {slot!r} has an offset")
                continue
            if cnt != _param_stored(r, i):
                fail("PARAM", k, f"parameter {slot!r} holds {cnt} values; its shape and storage give "
                                 f"{_param_stored(r, i)}")
            if o % 8:
                fail("ALIGN", k, f"parameter {slot!r} at offset {o} is not 8-byte aligned")
            size = _param_bytes(r, i)
            if o < p_lo or o + size > p_lo + p_size:
                fail("PARAM", k, f"parameter {slot!r} lies outside the PARAMS section")
            r.param[i] = _load(data, o, r, i, cnt)
            arrays += 1
    if arrays != p_count:
        raise _Refused("SECTION", f"the PARAMS section declares {p_count} arrays; the nodes hold {arrays}")
    _values(model, recs, edges, fail)


def _pbits(r: _Rec, i: int) -> int:
    b = r.pbits[i]
    return b if b else (8 if i == 0 else 32)


def _shape_size(shape, rank: int) -> int:
    if not 1 <= rank <= MAX_RANK:
        return 0
    p = 1
    for a in range(MAX_RANK):
        if a < rank:
            if shape[a] == 0:
                return 0
            p *= shape[a]
            if p > MAX_ELEMS:
                return 0
        elif shape[a]:
            return 0
    return p


def _param_count(r: _Rec, i: int) -> int:
    row = r.row
    if row is None or PARAM_SLOTS[i] not in (row.required | row.optional):
        return 0
    if row.neuron:
        return r.out_size
    if PARAM_SLOTS[i] == "bias":
        return r.out_shape[0]
    if row.name in ("Linear", "Affine"):
        n = r.in_size * r.out_size
    elif row.name in ("Conv1d", "Conv2d"):
        n = r.out_shape[0] * (r.in_shape[0] // r.groups if r.groups else 0) * r.kernel[0] * r.kernel[1]
    elif row.name == "Scale":
        n = r.in_size
    else:
        n = 0
    return 0 if n > MAX_ELEMS else n


def _param_stored(r: _Rec, i: int) -> int:
    n = _param_count(r, i)
    if n == 0:
        return 0
    return 1 if r.pmode[i] == PM_LAYER else r.out_shape[0] if r.pmode[i] == PM_CHANNEL else n


def _row_len(r: _Rec) -> int:
    return weight_row_len(r.row.name if r.row else "", r.in_size, r.out_size, r.out_shape[0], r.groups)


def _param_bytes(r: _Rec, i: int) -> int:
    if i == 0:
        return weight_bytes(_param_count(r, 0), _row_len(r), _pbits(r, 0))
    mode = r.pmode[i]
    cnt = 1 if mode == PM_LAYER else r.out_shape[0] if mode == PM_CHANNEL else (
        r.out_size if r.row and r.row.neuron else r.out_shape[0])
    return cnt * (_pbits(r, i) // 8)


def _load(data: bytes, o: int, r: _Rec, i: int, cnt: int) -> np.ndarray:
    bits = _pbits(r, i)
    if i == 0:
        n = _row_len(r)
        rows = _param_count(r, 0) // n
        return unpack_rows(data[o:o + _param_bytes(r, 0)], bits, n, rows * n).reshape(rows, n) * (r.wmag if bits == 1 else 1)
    return np.frombuffer(data, f"<i{bits // 8}", cnt, o).astype(np.int64)


def _structure(md: dict, recs: list[_Rec], edges: list, fail) -> None:  # noqa: C901 (esn__validate_structure)
    n, m = md["n"], md["m"]
    if not (1 <= md["wb"] <= 16 and 8 <= md["sb"] <= 32 and 8 <= md["cb"] <= 32 and 4 <= md["ab"] <= 16
            and 2 <= md["tb"] <= md["sb"] and 2 <= md["db"] <= 16):
        raise _Refused("RANGE", f"bit widths out of range: weight {md['wb']}, state {md['sb']}, current {md['cb']}, "
                                f"adapt {md['ab']}, threshold {md['tb']}, decay {md['db']}")
    if md["rounding"] >= _ROUNDING_COUNT or md["exit"] > 1:
        raise _Refused("ENUM", f"rounding code {md['rounding']} or exit flag {md['exit']} out of range")
    if md["input_bits"] not in INPUT_BITS:
        raise _Refused("ENUM", f"input bits {md['input_bits']}: 0 (spike counts), 8 or 16 (analog)")
    if (md["thr"] < 0 or md["beta"] <= 0) if md["exit"] else (md["thr"] or md["beta"]):
        raise _Refused("RANGE", f"early exit threshold_q8 {md['thr']}, beta_q16 {md['beta']} out of range")
    if md["inp"] != 0 or md["out"] >= n:
        raise _Refused("KIND", f"input node {md['inp']}, output node {md['out']}: the Input must come first")
    first = 0
    for k, r in enumerate(recs):
        row = r.row
        if row is None or (row.name == "Input") != (k == 0) or (row.name == "Output") != (k == md["out"]):
            fail("KIND", k, f"kind code {r.kind} unknown or misplaced")
        if (_shape_size(r.in_shape, r.in_rank) != r.in_size or r.in_size == 0
                or _shape_size(r.out_shape, r.out_rank) != r.out_size or r.out_size == 0):
            fail("SHAPE", k, f"shapes {r.in_shape[:r.in_rank]} -> {r.out_shape[:r.out_rank]} do not give sizes "
                             f"{r.in_size}, {r.out_size} (at most {MAX_ELEMS} elements)")
        _enums(md, k, r, fail)
        _edges(md, recs, edges, k, r, first, fail)
        first += r.n_edges
        _geometry(k, r, fail)
        _flatten(k, r, fail)
        if row.name in ("Linear", "Affine") and (r.in_rank != 1 or r.out_rank != 1):
            fail("SHAPE", k, f"rank {r.in_rank} -> {r.out_rank}; a dense layer takes and gives vectors")
        if ((row.name in ("Input", "Output", "Scale") or row.neuron)
                and (r.in_rank != r.out_rank or r.in_shape != r.out_shape)):
            fail("SHAPE", k, f"input shape {r.in_shape[:r.in_rank]} differs from output shape "
                             f"{r.out_shape[:r.out_rank]}")
        if r.acc_shift > 30 or (r.acc_shift and row.name not in ANALOG_READER_KINDS):
            fail("RANGE", k, f"accumulator shift {r.acc_shift}: 0..30, nonzero only for "
                             f"{', '.join(ANALOG_READER_KINDS)}")
        if row.weighted and _param_count(r, 0) == 0:
            fail("LIMIT", k, f"more than {MAX_ELEMS} weights")
    if first != m:
        raise _Refused("EDGE", f"the nodes' edges add up to {first}; the blob holds {m}")
    if md["in_size"] != recs[0].out_size or md["out_size"] != recs[md["out"]].out_size:
        raise _Refused("SHAPE", f"input size {md['in_size']} / output size {md['out_size']} do not match the "
                                "Input and Output nodes")
    if md["input_bits"]:  # esn_check_analog_readers
        for k in range(1, n):
            name = recs[k].row.name
            for e in range(recs[k].first_edge, recs[k].first_edge + recs[k].n_edges):
                if name != "Flatten" and _owner(recs, edges, edges[e][0]) == 0 and name not in ANALOG_READER_KINDS:
                    fail("KIND", k, f"reads the analog input (input bits {md['input_bits']}); only "
                                    f"{', '.join(ANALOG_READER_KINDS)} layers may")
    _schedule(md, recs, edges, fail)


def _enums(md: dict, k: int, r: _Rec, fail) -> None:
    row = r.row
    resets = row.spiking and "v_reset" in row.required
    if (r.reset >= _RESET_COUNT) if resets else r.reset != 0:
        fail("ENUM", k, f"reset code {r.reset} out of range")
    if (r.spike_rule >= _SPIKE_RULE_COUNT) if row.spiking else r.spike_rule != 0:
        fail("ENUM", k, f"spike rule code {r.spike_rule} out of range")
    if (r.syn_delay > 1) if row.current else r.syn_delay != 0:
        fail("ENUM", k, f"synaptic delay {r.syn_delay} out of range")
    if (not 1 <= r.max_spikes <= 255 or (not resets and r.max_spikes != 1)
            or (r.max_spikes > 1 and r.reset not in (2, 3))):
        fail("ENUM", k, f"max_spikes {r.max_spikes} out of range (1..255, above 1 only with a subtracting reset)")
    both, dense = OUT_CL | IN_CL, row.name in ("Linear", "Affine")
    if (r.layout & ~both or (not row.conv_like and not row.neuron and row.name != "Flatten"
                             and r.layout != (r.layout & IN_CL if dense else 0))
            or ((row.neuron or row.name == "Flatten") and r.layout not in (0, both))
            or (row.neuron and r.layout and md["rounding"] == ROUNDING_CODES["stochastic"])
            or (row.name == "Flatten" and r.layout and r.flat_start == 0 and r.flat_end + 1 != r.in_rank)):
        fail("ENUM", k, f"layout {r.layout} out of range")
    allowed = row.required | row.optional
    for i, slot in enumerate(PARAM_SLOTS):
        bits, mode = r.pbits[i], r.pmode[i]
        if slot not in allowed:
            ok = bits == 0 and mode == 0
        elif i == 0:
            ok = (bits == 1 if md["wb"] == 1 else bits in (0, 2, 4, 8, 16) and _pbits(r, 0) >= md["wb"]) and mode == PM_ELEM
        else:
            ok = bits in (0, 8, 16, 32) and (mode in (PM_ELEM, PM_LAYER)
                                             or (mode == PM_CHANNEL and row.neuron and r.out_rank >= 2))
        if not ok:
            fail("PARAM", k, f"parameter {slot!r} stored at {bits} bits in mode {mode}")
        if mode == PM_CHANNEL and r.layout:
            fail("ENUM", k, f"layout {r.layout}: a channel-last neuron layer with per-channel {slot!r}")
    if (r.pbits[0] == 1) != (r.wmag != 0) or r.wmag > 127:
        fail("PARAM", k, f"binary weight magnitude {r.wmag}: 1..127 exactly when the weights are stored at 1 bit")
    if (r.flags & ~(_NEW_GROUP | _STAGE_WEIGHTS) or (k == 0 and r.flags)
            or (r.flags & _STAGE_WEIGHTS and not row.weighted)):
        fail("ENUM", k, f"flags {r.flags} out of range")


def _edges(md: dict, recs, edges, k: int, r: _Rec, expect_first: int, fail) -> None:
    name = r.row.name
    if r.first_edge != expect_first:
        fail("EDGE", k, f"first edge {r.first_edge}, expected {expect_first}")
    if name == "Input":
        if r.n_edges:
            fail("EDGE", k, f"the Input has {r.n_edges} incoming edges")
        return
    if r.n_edges > MAX_FANIN:
        fail("LIMIT", k, f"{r.n_edges} incoming edges: the runtime takes at most {MAX_FANIN}")
    if r.n_edges == 0 or r.first_edge + r.n_edges > md["m"]:
        fail("EDGE", k, f"{r.n_edges} incoming edges")
    if name in ("Flatten", "SumPool2d", "AvgPool2d") and r.n_edges != 1:
        fail("EDGE", k, f"{r.n_edges} incoming edges; it takes one")
    forward = 0
    for e in range(r.first_edge, r.first_edge + r.n_edges):
        src, _, back, _, _ = edges[e]
        if src >= md["n"] or src == md["out"] or (not back and src >= k):
            fail("EDGE", k, f"edge {e} from node {src}: not an earlier node")
        if name == "Flatten" and back:
            fail("EDGE", k, f"edge {e}: a Flatten takes no recurrent edge")
        forward += not back
        s = recs[src]
        if bool(s.layout & OUT_CL) != bool(r.layout & IN_CL) or (back and s.layout & OUT_CL):
            fail("ENUM", k, f"edge {e} from node {src}: layout {s.layout} -> {r.layout}")
        if s.out_rank != r.in_rank or s.out_shape != r.in_shape:
            fail("SHAPE", k, f"edge {e} brings shape {s.out_shape[:s.out_rank]}; the node takes "
                             f"{r.in_shape[:r.in_rank]}")
    if not forward:
        fail("EDGE", k, "no forward incoming edge")


def _geometry(k: int, r: _Rec, fail) -> None:
    name = r.row.name
    pool = name in ("SumPool2d", "AvgPool2d")
    if not r.row.conv_like:
        if any(r.kernel) or any(r.stride) or any(r.pad) or any(r.dil) or r.groups:
            fail("SHAPE", k, "kernel, stride, padding, dilation or groups set on a node without a window")
        return
    rank = 2 if name == "Conv1d" else 3
    if r.in_rank != rank or r.out_rank != rank:
        fail("SHAPE", k, f"rank {r.in_rank} -> {r.out_rank}; {name} takes rank {rank}")
    for a in range(2):
        if r.kernel[a] < 1 or r.stride[a] < 1 or r.dil[a] < 1 or (pool and r.dil[a] != 1):
            fail("SHAPE", k, f"kernel {r.kernel}, stride {r.stride}, dilation {r.dil}")
    if name == "Conv1d" and (r.kernel[0], r.stride[0], r.pad[0], r.dil[0]) != (1, 1, 0, 1):
        fail("SHAPE", k, "a Conv1d's first window axis must be (1, 1, 0, 1)")
    if pool:
        if r.groups or r.out_shape[0] != r.in_shape[0]:
            fail("SHAPE", k, f"groups {r.groups} or channels {r.in_shape[0]} -> {r.out_shape[0]}")
    elif r.groups < 1 or r.in_shape[0] % r.groups or r.out_shape[0] % r.groups:
        fail("SHAPE", k, f"groups {r.groups} do not divide the channels {r.in_shape[0]} -> {r.out_shape[0]}")
    for a in range(1, rank):
        g = a - 1 if rank == 3 else 1
        o = ir.conv_out_len(r.in_shape[a], r.kernel[g], r.stride[g], r.pad[g], r.dil[g])
        if o < 1 or o != r.out_shape[a]:
            fail("SHAPE", k, f"output length {r.out_shape[a]} on axis {a}; the window gives {o}")


def _flatten(k: int, r: _Rec, fail) -> None:
    s, e, rk = r.flat_start, r.flat_end, r.in_rank
    if r.row.name != "Flatten":
        if s or e:
            fail("SHAPE", k, f"flatten axes {s}..{e} on a node that does not flatten")
        return
    if s < 0 or s > e or e >= rk or r.out_rank != rk - (e - s):
        fail("SHAPE", k, f"flatten axes {s}..{e} of rank {rk} -> {r.out_rank}")
    merged = 1
    for a in range(rk):
        if a < s and r.out_shape[a] != r.in_shape[a] or a > e and r.out_shape[a - (e - s)] != r.in_shape[a]:
            fail("SHAPE", k, f"axis {a} changes size")
        if s <= a <= e:
            merged *= r.in_shape[a]
    if merged != r.out_shape[s]:
        fail("SHAPE", k, f"merged axes give {merged}, the output holds {r.out_shape[s]}")


def _owner(recs, edges, k: int) -> int:
    while recs[k].row.name == "Flatten":
        k = edges[recs[k].first_edge][0]
    return k


def _schedule(md: dict, recs, edges, fail) -> None:
    if md["steps"] == 0:
        for k, r in enumerate(recs):
            if r.flags:
                fail("SCHEDULE", k, f"schedule flags {r.flags} without a schedule")
        return
    if md["exit"]:
        raise _Refused("SCHEDULE", "early exit with a grouped schedule (the exit needs time-step-major)")
    if md["input_bits"]:
        raise _Refused("SCHEDULE", "analog input with a grouped schedule (it stages spike counts only)")
    group = [0] * len(recs)
    for j in range(1, len(recs)):
        group[j] = group[j - 1] + (recs[j].flags & _NEW_GROUP)
    for k in range(1, len(recs)):
        r = recs[k]
        for e in range(r.first_edge, r.first_edge + r.n_edges):
            src = edges[e][0]
            own = _owner(recs, edges, src)
            if edges[e][2] and (own == 0 or group[src] != group[k] or group[own] != group[k]):
                fail("SCHEDULE", k, f"recurrent edge {e} from node {src} crosses schedule groups")


def _values(md: dict, recs, edges, fail) -> None:  # esn_validate_values
    n = len(recs)
    gain, bias, bound = [0] * n, [0] * n, [0] * n
    smax = (1 << (md["sb"] - 1)) - 1
    one = 1 << md["db"]
    lims = {"threshold": (1, smax), "v_reset": (-smax - 1, smax), "alpha": (0, one), "alpha_syn": (0, one),
            "rho": (0, one), "b0": (1, smax), "beta": (0, _INT32_MAX), "eta_inc": (0, 1 << md["ab"])}
    for k, r in enumerate(recs):
        row = r.row
        for i, slot in enumerate(PARAM_SLOTS):
            present = r.param[i] is not None
            if (not present) if slot in row.required else (present and slot not in row.optional):
                fail("PARAM", k, f"parameter {slot!r} {'missing' if slot in row.required else 'unexpected'}")
        if row.weighted:
            w = r.param[0]
            wmax = 127 if md["wb"] == 1 else (1 << (md["wb"] - 1)) - 1
            if w.size and (int(w.min()) < -wmax - 1 or int(w.max()) > wmax):
                bad = int(w.min()) if int(w.min()) < -wmax - 1 else int(w.max())
                fail("RANGE", k, f"weight (weight_bits = {md['wb']}) holds {bad}, outside [{-wmax - 1}, {wmax}]")
            a = np.abs(w.astype(np.int64))
            if row.name == "Scale":
                g = int(a.max()) if a.size else 0
            else:
                groups = r.groups if row.conv_like else 1
                g = int(a.reshape(groups, a.shape[0] // groups, -1).sum(axis=1).max()) if a.size else 0
            gain[k] = min(g, 2 ** 32 - 1)
            b = r.param[_SLOT["bias"]]
            bias[k] = min(int(np.abs(b).max()), 2 ** 32 - 1) if b is not None and b.size else 0
        else:
            gain[k] = r.kernel[0] * r.kernel[1] if row.name in ("SumPool2d", "AvgPool2d") else 1
        if row.neuron:
            for slot, (lo, hi) in lims.items():
                a = r.param[_SLOT[slot]]
                if a is not None and a.size and (int(a.min()) < lo or int(a.max()) > hi):
                    bad = int(a.min()) if int(a.min()) < lo else int(a.max())  # as lower() reports it
                    fail("RANGE", k, f"parameter {slot!r} holds {bad}, outside [{lo}, {hi}]")
        input_max = 1 << (md["input_bits"] - 1) if md["input_bits"] else 255
        bound[k] = (input_max if row.name == "Input" else r.max_spikes if row.spiking
                    else 1 << (md["sb"] - 1) if row.neuron else 0)
    for _ in range(n + 1):
        changed = False
        for k, r in enumerate(recs):
            if not r.row.synaptic and r.row.name != "Flatten":
                continue
            total = sum(bound[edges[e][0]] for e in range(r.first_edge, r.first_edge + r.n_edges))
            b = total * gain[k] + bias[k]
            if b > _INT32_MAX:
                fail("OVERFLOW", k, f"one step's input could reach {b}, beyond int32 (use fewer weight bits or a "
                                    "coarser state)")
            if b != bound[k]:
                bound[k] = b
                changed = True
        if not changed:
            return _out_bits(recs, edges, bound, fail, md["input_bits"])
    raise _Refused("OVERFLOW", "a cycle without a neuron layer: its values are unbounded")


def _out_bits(recs, edges, bound, fail, md_input_bits: int) -> None:  # esn_check_out_bits
    for k, r in enumerate(recs):
        bits = r.out_bits
        u8 = bits == 8
        ok = bits in (0, 32)
        if r.row.name == "Flatten":
            ok = u8 == (recs[_owner(recs, edges, k)].out_bits == 8) and (ok or u8)
        elif u8:
            ok = (r.row.name == "Input" and not md_input_bits) or r.row.spiking
            if r.row.role == "pool":
                ok = bound[k] <= 255 and all(recs[_owner(recs, edges, edges[e][0])].out_bits == 8
                                             for e in range(r.first_edge, r.first_edge + r.n_edges))
        if not ok:
            fail("ENUM", k, f"output element bits {bits}: 8 only for the Input, spikes and pool sums <= 255 of "
                            "uint8 inputs, a Flatten's its input's, else 32")
