"""The model blob: a versioned little-endian binary the C runtime loads and checks in place.

Layout (the C reader and the byte offsets of every field: runtime_c/include/esn/esn_blob.h):

    header (48 bytes)   magic "ESNB", version, header size, total size, CRC-32 of bytes [16, total),
                        section count, section table offset
    section table       16 bytes per section: type, flags, offset, size, count
    MODEL  (64 bytes)   node/edge counts, bit widths, rounding, seed, early exit, input/output sizes,
                        schedule steps T (0: no schedule), the memory plan's arena bytes
    NODES  (224 each)   schedule order: kind, reset, spike rule, shapes, geometry, edges, flags (bit 0
                        starts a schedule group, bit 1 stages the weights), (offset, count, bits, mode)
                        of each of the 11 parameter arrays, and the memory plan's offsets of its
                        output buffer (even, odd steps) and state block (edgesnn.lower.MemoryPlan)
    EDGES  (8 each)     src, dst, recurrent flag, index in the graph's edge list; grouped by dst
    PARAMS              the arrays in device layout and storage (edgesnn.lower: packed 2- and 4-bit
                        weights, parameters per element, channel or layer at 8/16/32 bits), each
                        8-byte aligned
    META                UTF-8 JSON the runtime skips: node names, scales, dt, metadata

Version 3 stores every parameter array at its own width and coverage; versions 1 and 2 (every array
int32 or int8/int16 per element) are refused, here and by the runtime, with the advice to recompile.
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
from ..graph.kinds import BY_CODE, KINDS, PARAM_SLOTS
from ..lower import RESET_CODES, LNode, Lowered, MemoryPlan, align8, config_record, lower, unpack_rows
from ..quantize.config import QuantConfig
from ..quantize.fixedpoint import ROUNDING_CODES
from ..quantize.qgraph import PM_CHANNEL, PM_ELEM, PM_LAYER, QGraph, QLayer, storage_dtype

MAGIC = b"ESNB"
VERSION = 3
HEADER_BYTES, SECTION_BYTES, MODEL_BYTES, NODE_BYTES, EDGE_BYTES = 48, 16, 64, 224, 8
SEC_MODEL, SEC_NODES, SEC_EDGES, SEC_PARAMS, SEC_META = 1, 2, 3, 4, 5

_HEADER = struct.Struct("<4sHHIIHHI24x")
_SECTION = struct.Struct("<HHIII")
_MODEL = struct.Struct("<HHHH8BIiiIIII20x")
_NODE = struct.Struct("<BBBBHHHBBbbBB4I4IIIHHHHHHHHII" + "IIBBH" * len(PARAM_SLOTS) + "III")
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
                                  for k, v in q.layers.items()}}, sort_keys=True).encode()
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
                     plan.arena_bytes)
    for k, nd in enumerate(low.nodes):
        flat = [v for ref in refs[k] for v in ref]
        _NODE.pack_into(buf, nodes_off + k * NODE_BYTES, nd.code, nd.reset, nd.spike_rule, nd.syn_delay,
                        nd.max_spikes, nd.first_edge, nd.n_edges, len(nd.in_shape), len(nd.out_shape),
                        nd.flat_start, nd.flat_end, 0, nd.flags, *_pad4(nd.in_shape), *_pad4(nd.out_shape),
                        nd.in_size, nd.out_size, *nd.kernel, *nd.stride, *nd.pad, *nd.dil, nd.groups, 0, *flat,
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
    meta = json.loads(data[sec[SEC_META][0]:sec[SEC_META][0] + sec[SEC_META][1]].decode()) if SEC_META in sec else {}
    names = meta.get("names") or [f"n{i}" for i in range(n)]
    layers_meta = meta.get("layers", {})
    rounding = {v: k for k, v in ROUNDING_CODES.items()}[cfgv["rounding"]]
    config = QuantConfig(**{k: cfgv[k] for k in _CONFIG_KEYS[:6]}, rounding=rounding, seed=seed)
    edges = [_EDGE.unpack_from(data, sec[SEC_EDGES][0] + i * EDGE_BYTES) for i in range(m)]
    graph_edges = [(names[s], names[d]) for s, d, _, _, _ in sorted(edges, key=lambda e: e[4])]
    p_lo, p_size, _ = sec[SEC_PARAMS]
    nodes, layers, plan = {}, {}, MemoryPlan([], [], vals[18])
    for k in range(n):
        f = _NODE.unpack_from(data, sec[SEC_NODES][0] + k * NODE_BYTES)
        kind = BY_CODE[f[0]].name
        in_rank, out_rank = f[7], f[8]
        in_shape, out_shape = tuple(f[13:13 + in_rank]), tuple(f[17:17 + out_rank])
        ln = LNode(names[k], kind, in_shape, out_shape, reset=f[1], spike_rule=f[2], syn_delay=f[3], max_spikes=f[4],
                   first_edge=f[5], n_edges=f[6], flat_start=f[9], flat_end=f[10],
                   kernel=f[23:25], stride=f[25:27], pad=f[27:29], dil=f[29:31], groups=f[31])
        refs = f[33:]
        plan.buf_off.append(list(f[-3:-1]))
        plan.state_off.append(f[-1])
        for i, slot in enumerate(PARAM_SLOTS):
            o, cnt, bits, mode, reserved = refs[5 * i:5 * i + 5]
            if cnt == 0:
                if o or bits or mode or reserved:
                    raise BlobError(f"node {names[k]!r}: absent parameter {slot!r} has a storage record")
                continue
            ok = (bits in (2, 4, 8, 16) and bits >= cfgv["weight_bits"] and mode == PM_ELEM if slot == "weight"
                  else bits in (8, 16, 32) and mode in (PM_ELEM, PM_CHANNEL, PM_LAYER))
            if not ok or reserved:
                raise BlobError(f"node {names[k]!r}: parameter {slot!r} stored at {bits} bits in mode {mode}")
            ln.bits[slot], ln.modes[slot] = bits, mode
            size = ln.stored_bytes(slot, cnt, bits)
            if o < p_lo or o + size > p_lo + p_size:
                raise BlobError(f"node {names[k]!r}: parameter {slot!r} lies outside the PARAMS section")
            raw = data[o:o + size]
            if slot == "weight":
                ln.params[slot] = unpack_rows(raw, bits, ln.weight_row_len, cnt)
                continue
            values = np.frombuffer(raw, f"<i{bits // 8}", cnt).astype(np.int64)
            full = ln.out_size if KINDS[kind].neuron else ln.out_shape[0]
            if (cnt != {PM_ELEM: full, PM_CHANNEL: ln.out_shape[0], PM_LAYER: 1}[mode]
                    or mode == PM_CHANNEL and not (KINDS[kind].neuron and len(ln.out_shape) >= 2)):
                raise BlobError(f"node {names[k]!r}: parameter {slot!r} holds {cnt} values in mode {mode}")
            ln.params[slot] = np.repeat(values, full // cnt)  # per channel or layer -> per element
        node, qparams = _rebuild(ln, layers_meta.get(names[k], {}), config)
        nodes[names[k]] = node
        if qparams is not None:
            lm = layers_meta.get(names[k], {})
            layers[names[k]] = QLayer(qparams, {a: float(b) for a, b in lm.get("scales", {}).items()},
                                      lm.get("target"), lm.get("into", "v"), int(lm.get("max_in", 1)))
    graph = ir.Graph(nodes, graph_edges, float(meta.get("dt", 1e-3)), meta.get("graph_meta", {}))
    sched = graph.schedule()
    if list(sched.order) != names[:n] or inp != 0 or names[out_node] != graph.output.name:
        raise BlobError("the blob's node order is not its graph's schedule")
    if {(names[s], names[d]) for s, d, b, _, _ in edges if b} != set(sched.back_edges):
        raise BlobError("the blob's recurrent edges are not its graph's back edges")
    exit_cfg = {"threshold_q8": thr, "beta_q16": beta} if cfgv["exit_enabled"] else None
    q = QGraph(graph, config, layers, meta.get("qgraph_meta", {}), exit_cfg)
    problem = lower(q).plan_problem(plan)
    if problem:
        raise BlobError(f"the blob's memory plan is refused: {problem}")
    return q


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
