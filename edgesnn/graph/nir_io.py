"""NIR files <-> edgesnn graphs.

Import reads the HDF5 file into plain dictionaries (so a file that nir's own type checker rejects,
as some exporters write, still imports when it is runnable), flattens nested sub-graphs, finds the
Input and Output by type, broadcasts 0-d parameters to the neuron shape found by shape inference,
and discretises every neuron with a dialect (see `dialects.py`). Whatever cannot be run
faithfully is refused with an error that names the node.

Export writes the literal 'nir' dialect and records the discrete semantics NIR cannot express
(reset by subtraction, '>=' spikes, several spikes per step, ...) in each node's metadata under
`edgesnn.*`, which import honours, so export followed by import keeps the model.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from ..artifact import atomic_write_bytes
from ..errors import NirError
from . import ir
from .dialects import DIALECTS, TAU_FIELDS, Dialect, Neurons, get_dialect, same_dt

PARAM_MAX = 1e18
"""Largest magnitude of any parameter an import produces (weights as read, neuron parameters after
discretisation): the product of two parameters and an input of up to 100 then stays below float32's 3.4e38,
so the float simulation (float32, as the frameworks run) cannot overflow from the parameters alone. No
exporter writes anything near it; `r = 1e300` would otherwise import and simulate to inf/NaN."""
MAX_HDF5_DEPTH = 32  # nested groups in a NIR file (sub-graphs, parameters): far above any exporter's

SUPPORTED = ("Input", "Output", "Linear", "Affine", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
             "Scale", "IF", "LIF", "LI", "CubaLIF", "CubaLI", "Threshold", "Identity", "NIRGraph")
_KNOBS = ("reset", "spike_rule", "reset_late", "max_spikes", "syn_delay")


class NirWarning(UserWarning):
    """An import that runs but may not compute what the exporter's framework computed (a --dt that
    differs from the exporter's own)."""


def _nir():
    try:
        import nir  # noqa: F401  (pulls h5py: an optional extra)
    except ImportError:
        raise NirError("reading NIR files needs the 'nir' extra: pip install 'edgesnn[nir]'") from None
    return nir


def _s(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _s(v[()])
    return str(v)


def _meta(raw: dict) -> dict:
    m = raw.get("metadata") or {}
    return {str(k): (_s(v) if isinstance(v, (bytes, np.bytes_)) else v) for k, v in m.items()}


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------

def read_raw(path: str | os.PathLike) -> dict:
    """The NIR file as nested dictionaries of numpy arrays, or a NirError naming the file."""
    _nir()
    import h5py
    path = Path(path)
    if not path.exists():
        raise NirError(f"{path}: no such file")
    if not path.is_file():
        raise NirError(f"{path}: not a file")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise NirError(f"{path}: an HDF5 file but not a NIR graph (no 'node' group)")
            return _read_group(f["node"], str(path), "node", 1)
    except NirError:
        raise
    except Exception as e:  # h5py raises OSError and friends for anything malformed
        raise NirError(f"{path}: cannot read as a NIR (HDF5) file: {e}") from None


def _read_group(group, source: str, where: str, depth: int) -> dict:
    """nir.serialization.hdf2dict with bounds: only hard links (no external files), nesting at most
    MAX_HDF5_DEPTH, and every dataset's size checked against the element limit before it is read (a small
    HDF5 file can declare a huge dataset that holds only its fill value)."""
    import h5py
    if depth > MAX_HDF5_DEPTH:
        raise NirError(f"{source}: {where}: groups nested deeper than {MAX_HDF5_DEPTH} levels; not a NIR graph")
    out: dict = {}
    for key in group:
        name = f"{where}/{_s(key)}"
        if not isinstance(group.get(key, getlink=True), h5py.HardLink):
            raise NirError(f"{source}: {name}: a link to elsewhere (soft or external), which NIR files do not use")
        item = group[key]
        if isinstance(item, h5py.Group):
            out[_s(key)] = _read_group(item, source, name, depth + 1)
        elif isinstance(item, h5py.Dataset):
            if item.dtype.kind not in "biufSUO":
                raise NirError(f"{source}: {name}: a dataset of dtype {item.dtype}, which NIR files do not hold")
            ir.check_elements(item.shape or (), f"{source}: {name}", error=NirError)
            v = item[()]
            out[_s(key)] = v.decode("utf8", errors="replace") if isinstance(v, bytes) else v
    return out


def _flatten(raw: dict, prefix: str = "", owner: str | None = None):
    """Nested NIRGraph nodes -> one level. A sub-graph's own Input/Output become pass-throughs
    tagged with the sub-graph's name; the sub-graph itself a placeholder that `_link_subgraphs`
    removes by rewiring its edges to those pass-throughs."""
    if _s(raw.get("type", b"")) != "NIRGraph":
        raise NirError("the file's top node is not a NIRGraph")
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str]] = []
    raw_nodes = raw.get("nodes")
    if raw_nodes is not None and not isinstance(raw_nodes, dict):
        raise NirError(f"{(prefix or 'the top graph.')[:-1]}: 'nodes' must be a group of nodes")
    for name, node in (raw_nodes or {}).items():
        full = prefix + str(name)
        if not isinstance(node, dict) or "type" not in node:
            raise NirError(f"node {full!r}: malformed (no 'type' field)")
        t = _s(node["type"])
        if t == "NIRGraph":
            inner_nodes, inner_edges = _flatten(node, full + ".", owner=full)
            nodes.update(inner_nodes)
            edges += inner_edges
            nodes[full] = {"type": "Identity", "_subgraph": True}
        elif owner is not None and t in ("Input", "Output"):
            nodes[full] = {"type": "Identity", "_boundary": t, "_of": owner}
        else:
            nodes[full] = node
    raw_edges = raw.get("edges")
    if raw_edges is not None and not (isinstance(raw_edges, (list, np.ndarray)) and np.ndim(raw_edges) == 2):
        raise NirError(f"{(prefix or 'the top graph.')[:-1]}: 'edges' must be a list of [source, target] pairs")
    for e in ([] if raw_edges is None else list(raw_edges)):
        if len(e) != 2:
            raise NirError(f"malformed edge {e!r}")
        edges.append((prefix + _s(e[0]), prefix + _s(e[1])))
    return nodes, edges


def _link_subgraphs(nodes: dict[str, dict], edges: list[tuple[str, str]]):
    for name in [k for k, v in nodes.items() if v.get("_subgraph")]:
        ins = [k for k, v in nodes.items() if v.get("_of") == name and v["_boundary"] == "Input"]
        outs = [k for k, v in nodes.items() if v.get("_of") == name and v["_boundary"] == "Output"]
        new = []
        for a, b in edges:
            new += ([(a, i) for i in ins] if b == name else [(o, b) for o in outs] if a == name else [(a, b)])
        edges[:] = new
        del nodes[name]


def _contract_identities(nodes: dict[str, dict], edges: list[tuple[str, str]]):
    for name in [k for k, v in nodes.items() if _s(v["type"]) == "Identity"]:
        ins = [a for a, b in edges if b == name]
        outs = [b for a, b in edges if a == name]
        edges[:] = [e for e in edges if name not in e] + [(a, b) for a in ins for b in outs]
        del nodes[name]


def _arr(raw: dict, key: str, name: str, default=None, allow_inf: bool = False) -> np.ndarray:
    if key not in raw or raw[key] is None:
        if default is None:
            raise NirError(f"node {name!r} ({_s(raw['type'])}): missing field {key!r}")
        return np.asarray(default, dtype=np.float64)
    a = np.asarray(raw[key])
    if a.dtype.kind not in "biuf":
        raise NirError(f"node {name!r}: field {key!r} is not numeric ({a.dtype})")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a) | (allow_inf & np.isinf(a))):
        raise NirError(f"node {name!r}: field {key!r} contains NaN or infinite values")
    return a


def _bcast(a: np.ndarray, shape: tuple, name: str, key: str) -> np.ndarray:
    try:
        return np.broadcast_to(a, shape).copy()
    except ValueError:
        raise NirError(f"node {name!r}: field {key!r} has shape {a.shape}, which does not fit "
                       f"the neuron shape {shape}") from None


def _ints(raw: dict, key: str, name: str, n: int, default) -> tuple[int, ...]:
    v = raw.get(key, default)
    if isinstance(v, (bytes, str)):
        raise NirError(f"node {name!r}: {key} {_s(v)!r} is not a number")
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, n)
    if a.size != n or a.dtype.kind not in "iuf" or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
        raise NirError(f"node {name!r}: {key} {_short(v)} must be {n} integer(s)")
    if np.any(np.abs(a) > MAX_DIM):
        raise NirError(f"node {name!r}: {key} {_short(v)} lies beyond +-{MAX_DIM} (sizes are int32)")
    return tuple(int(x) for x in a)


MAX_DIM = 2**31 - 1


def _short(v) -> str:
    r = repr(v.tolist() if isinstance(v, (np.ndarray, np.generic)) else v)
    return r if len(r) <= 60 else r[:57] + "..."


def _int_scalar(raw: dict, key: str, name: str, default: int, lo: int, hi: int) -> int:
    """One integer field (groups, start_dim, ...): a number or a one-element array, integral, in [lo, hi]."""
    v = raw.get(key, default)
    a = np.asarray(v) if not isinstance(v, (bytes, str, dict)) else np.asarray([])
    if a.size != 1 or a.dtype.kind not in "iuf" or not np.isfinite(a.reshape(-1)[0]) or \
            a.reshape(-1)[0] != np.round(a.reshape(-1)[0]):
        raise NirError(f"node {name!r}: {key} {_short(v)} must be one integer")
    x = int(a.reshape(-1)[0])
    if not lo <= x <= hi:
        raise NirError(f"node {name!r}: {key} {x} must lie in [{lo}, {hi}]")
    return x


def _shape(v, what: str) -> tuple[int, ...]:
    """A declared shape: a 1-D array of integers >= 1 (at most 8 of them), or NirError naming `what`."""
    a = np.asarray(v) if not isinstance(v, (bytes, str, dict)) else np.asarray("x")
    if a.dtype.kind not in "iuf" or a.ndim > 1 or not 1 <= a.size <= 8 or not np.all(np.isfinite(a)) \
            or np.any(a != np.round(a)) or np.any(a < 1) or np.any(a > MAX_DIM):
        raise NirError(f"{what}: shape {_short(v)} must be 1 to 8 integers in [1, {MAX_DIM}]")
    return tuple(int(x) for x in a.reshape(-1))


def _knobs(raw: dict, d: Dialect, v_reset: np.ndarray | None, reset: str | None, name: str) -> dict:
    k = {"spike_rule": d.spike_rule, "reset_late": d.reset_late, "max_spikes": d.max_spikes}
    if reset is not None:
        k["reset"] = reset
    elif d.reset == "value":
        k["reset"] = "zero" if v_reset is None or not np.any(v_reset) else "value"
    else:
        k["reset"] = d.reset
    if k["reset"] != "subtract":
        k["reset_late"], k["max_spikes"] = False, 1
    for key, v in _meta(raw).items():  # written by edgesnn's exporter: the file states its semantics
        if key.startswith("edgesnn.") and key[8:] in _KNOBS and key != "edgesnn.syn_delay":
            k[key[8:]] = knob(key[8:], v, name)
    return k


def knob(key: str, v, name: str):
    """An `edgesnn.<key>` metadata value, exactly typed: reset and spike_rule one of their names, reset_late
    and syn_delay a bool (or 0/1, as the exporter writes them), max_spikes an integer in [1, 255]."""
    v = v.item() if isinstance(v, np.ndarray) and v.shape == () else v
    v = v.item() if isinstance(v, np.generic) else v
    v = v.decode("utf8", errors="replace") if isinstance(v, bytes) else v
    where = f"node {name!r}: metadata edgesnn.{key}"
    if key in ("reset", "spike_rule"):
        allowed = ir.RESETS if key == "reset" else ir.SPIKE_RULES
        if not isinstance(v, str) or v not in allowed:
            raise NirError(f"{where} = {_short(v)} is not one of {', '.join(allowed)}")
        return v
    if key in ("reset_late", "syn_delay"):
        if v not in (0, 1) or isinstance(v, float) or not isinstance(v, (bool, int)):
            raise NirError(f"{where} = {_short(v)} must be a boolean (0 or 1)")
        return bool(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 255:
        raise NirError(f"{where} = {_short(v)} must be an integer in [1, 255]")
    return v


def _padding(raw, name, ksize, dil, n):
    p = raw.get("padding", 0)
    if isinstance(p, (bytes, str)) or (isinstance(p, np.ndarray) and p.dtype.kind in "SUO"):
        mode = _s(p)
        if mode == "valid":
            return (0,) * n
        if mode == "same":
            total = [d * (k - 1) for k, d in zip(ksize, dil)]
            if any(t % 2 for t in total):
                raise NirError(f"node {name!r}: padding 'same' with an even kernel is asymmetric, "
                               "which edgesnn does not run")
            return tuple(t // 2 for t in total)
        raise NirError(f"node {name!r}: unknown padding {mode!r}")
    return _ints(raw, "padding", name, n, 0)


def _convert(name: str, raw: dict, in_shape: tuple, d: Dialect, dt: float, reset: str | None) -> ir.Node:
    t = _s(raw["type"])
    A = lambda key, default=None: _arr(raw, key, name, default, key in d.infinite_ok)  # noqa: E731
    if t == "Linear":
        return ir.Linear(name=name, weight=A("weight"))
    if t == "Affine":
        w = A("weight")
        return ir.Affine(name=name, weight=w, bias=A("bias", np.zeros(w.shape[:1])))
    if t in ("Conv1d", "Conv2d"):
        w = A("weight")
        n = 1 if t == "Conv1d" else 2
        if w.ndim != n + 2:
            raise NirError(f"node {name!r} ({t}): weight must be {n + 2}-D, got shape {w.shape}")
        stride, dil = _ints(raw, "stride", name, n, 1), _ints(raw, "dilation", name, n, 1)
        pad = _padding(raw, name, w.shape[2:], dil, n)
        declared = raw.get("input_shape")
        if declared is not None and np.asarray(declared).size and len(in_shape) == n + 1:
            declared = _shape(declared, f"node {name!r} ({t}) field 'input_shape'")
            if declared != tuple(in_shape[1:]):
                raise NirError(f"node {name!r} ({t}): declares input_shape {declared} but receives {in_shape}")
        cls = ir.Conv1d if n == 1 else ir.Conv2d
        return cls(name=name, weight=w, bias=A("bias", np.zeros(w.shape[:1])), stride=stride,
                   padding=pad, dilation=dil, groups=_int_scalar(raw, "groups", name, 1, 1, MAX_DIM))
    if t in ("SumPool2d", "AvgPool2d"):
        cls = ir.SumPool2d if t == "SumPool2d" else ir.AvgPool2d
        ks = _ints(raw, "kernel_size", name, 2, None)
        return cls(name=name, kernel_size=ks, stride=_ints(raw, "stride", name, 2, ks),
                   padding=_ints(raw, "padding", name, 2, 0))
    if t == "Flatten":
        s, e = _int_scalar(raw, "start_dim", name, 0, -9, 9), _int_scalar(raw, "end_dim", name, -1, -9, 9)
        if d.flatten_counts_batch:
            s, e = (s - 1 if s > 0 else s), (e - 1 if e > 0 else e)
        return ir.Flatten(name=name, start_dim=s, end_dim=e)
    if t == "Scale":
        return ir.Scale(name=name, scale=_bcast(A("scale"), in_shape, name, "scale"))

    shape = in_shape
    B = lambda key, default=None: _bcast(A(key, default), shape, name, key)  # noqa: E731
    where = f"node {name!r} ({t})"
    if t == "Threshold":  # stateless, no time constant: nothing to discretise; the dialect's spike rule
        rule = _meta(raw).get("edgesnn.spike_rule")
        rule = d.spike_rule if rule is None else knob("spike_rule", rule, name)
        return ir.Threshold(name=name, threshold=B("threshold"), spike_rule=rule)
    if d.v_init and t not in ("LI", "CubaLI") and np.any(B(d.v_init, 0.0)):
        raise NirError(f"{where}: {d.name} starts the membrane at {d.v_init}, which is nonzero here; edgesnn "
                       "starts every membrane at 0 and cannot run this node faithfully")
    spiking = t in ("IF", "LIF", "CubaLIF")
    if spiking:
        thr, v_reset = B("v_threshold"), B("v_reset", 0.0)
        spike = dict(threshold=thr, v_reset=v_reset, **_knobs(raw, d, v_reset, reset, name))
    if t == "IF":
        return ir.IF(name=name, gain=d.integrator_gain(B("r", 1.0), dt), bias=np.zeros(shape), **spike)
    if t in ("LIF", "LI"):
        alpha, gain, bias = d.leaky(B("tau"), B("r", 1.0), B("v_leak", 0.0), dt, where, readout=t == "LI")
        common = dict(name=name, alpha=alpha, gain=gain, bias=bias)
        return ir.LIF(**common, **spike) if spiking else ir.LI(**common)
    if t in ("CubaLIF", "CubaLI"):
        a_syn, g_syn = d.synapse(B("tau_syn"), B("w_in", 1.0), dt, where)
        alpha, gain, bias = d.cuba_membrane(B("tau_mem"), B("r", 1.0), B("v_leak", 0.0), dt, where)
        syn_delay = _meta(raw).get("edgesnn.syn_delay")
        syn_delay = d.syn_delay if syn_delay is None else knob("syn_delay", syn_delay, name)
        common = dict(name=name, alpha=alpha, alpha_syn=a_syn, gain_syn=g_syn, gain=gain, bias=bias,
                      syn_delay=syn_delay)
        return ir.CubaLIF(**common, **spike) if spiking else ir.CubaLI(**common)
    raise NirError(f"node {name!r}: NIR node type {t!r} is not supported by edgesnn "
                   f"(supported: {', '.join(s for s in SUPPORTED if s not in ('Identity', 'NIRGraph'))})")


def _neurons(nodes: dict[str, dict], d: Dialect) -> Neurons:
    """The time constants and r of every neuron node, for the dialect's per-file decisions."""
    out = []
    for name, raw in nodes.items():
        t = _s(raw["type"])
        if t in ("IF", "LIF", "LI", "CubaLIF", "CubaLI"):
            out.append((name, t, {k: _arr(raw, k, name, None, k in d.infinite_ok) for k in (*TAU_FIELDS, "r")
                                  if raw.get(k) is not None}))
    return out


def _choose_dt(dt: float | None, meta: dict, d: Dialect, neurons: Neurons, force: bool, source: str,
               notes: list[str]) -> float:
    """dt from, in this order: the file (edgesnn records it; a different dt only with force), the caller,
    the exporter (a dialect that fixes it or a file that encodes it); else an error that asks for it."""
    if dt is not None and not (isinstance(dt, (int, float, np.integer, np.floating)) and not isinstance(dt, bool)
                               and np.isfinite(dt) and dt > 0):
        raise NirError(f"dt must be a positive number of seconds, got {dt!r}")
    if dt is not None:
        try:
            ir.check_dt(dt, "--dt")
        except ir.GraphError as e:
            raise NirError(str(e)) from None
    if "dt" in meta:
        a = np.asarray(meta["dt"]) if not isinstance(meta["dt"], (str, bytes, dict)) else np.asarray("x")
        if a.size != 1 or a.dtype.kind not in "iuf":
            raise NirError(f"{source}: metadata dt = {_short(meta['dt'])} is not a number of seconds")
        recorded = float(a.reshape(-1)[0])
        if not (np.isfinite(recorded) and recorded > 0):
            raise NirError(f"{source}: the file records dt = {recorded!r}, not a positive number of seconds")
        try:
            ir.check_dt(recorded, "the dt the file records")
        except ir.GraphError as e:
            raise NirError(f"{source}: {e}") from None
        if dt is None:
            notes.append(f"dt = {recorded:g} s, recorded in the file")
            return recorded
        if not same_dt(dt, recorded):
            if not force:
                raise NirError(f"{source}: the file records dt = {recorded:g} s and --dt {dt:g} differs; importing "
                               f"at another step changes the model's dynamics (leave out --dt, or re-discretise "
                               f"at {dt:g} s with --force)")
            notes.append(f"dt = {dt:g} s, forced (the file records {recorded:g} s)")
        return float(dt)
    exported, how = d.export_dt(neurons)
    if dt is None:
        if exported is None:
            why = how or f"dialect {d.name!r} has no fixed one"
            raise NirError(f"{source}: NIR files do not store the time step and {why}; pass dt (--dt SECONDS): "
                           f"{d.dt_hint}")
        notes.append(f"dt = {exported:g} s, {how}")
        return exported
    if exported is not None and not same_dt(dt, exported):
        if d.dt_matters:
            warnings.warn(f"{source}: --dt {dt:g} s differs from dt = {exported:g} s, {how}; the model is "
                          f"re-discretised at {dt:g} s and will not compute what {d.framework} computed "
                          f"(leave out --dt to use {exported:g} s)", NirWarning, stacklevel=4)
        else:
            notes.append(f"dt = {dt:g} s only sets the length of a step; the dynamics do not depend on it (the "
                         f"default, {exported:g} s, is {how})")
    return float(dt)


def from_raw(raw: dict, *, dt: float | None = None, dialect: str = "nir", reset: str | None = None,
             norse_tau: str = "auto", force: bool = False, notes: list[str] | None = None,
             source: str = "<memory>") -> ir.Graph:
    """Import a NIR graph held as plain data (see `read_nir` for the arguments)."""
    d = get_dialect(dialect)
    if reset is not None and reset not in ir.RESETS:
        raise NirError(f"reset {reset!r} is not one of {ir.RESETS}")
    if norse_tau != "auto" and d.name != "norse":
        raise NirError(f"--norse-tau {norse_tau} applies to dialect 'norse' only, not {d.name!r}")
    notes = [] if notes is None else notes
    meta = _meta(raw)
    nodes, edges = _flatten(raw)
    _link_subgraphs(nodes, edges)
    for name, node in nodes.items():
        t = _s(node["type"])
        if t not in SUPPORTED:
            raise NirError(f"node {name!r}: NIR node type {t!r} is not supported by edgesnn "
                           f"(supported: {', '.join(s for s in SUPPORTED if s not in ('Identity', 'NIRGraph'))})")
    _contract_identities(nodes, edges)
    neurons = _neurons(nodes, d)
    dt = _choose_dt(dt, meta, d, neurons, force, source, notes)
    d = d.for_file(neurons, dt, source, norse_tau=norse_tau)
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise NirError(f"edge {a!r} -> {b!r} names a node {end!r} that the file does not define")
    inputs = [k for k, v in nodes.items() if _s(v["type"]) == "Input"]
    outputs = [k for k, v in nodes.items() if _s(v["type"]) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirError(f"{source}: edgesnn runs graphs with one Input and one Output; found inputs "
                       f"{inputs} and outputs {outputs}")
    order, back = ir.dfs_order(inputs[0], {k: [b for a, b in edges if a == k] for k in nodes})
    unreached = [k for k in nodes if k not in order]
    if unreached:
        raise NirError(f"{source}: nodes not reachable from input {inputs[0]!r}: {unreached}")
    shapes: dict[str, tuple] = {}
    out: dict[str, ir.Node] = {}
    for name in order:
        raw_node = nodes[name]
        t = _s(raw_node["type"])
        if t == "Input":
            shp = raw_node.get("shape")
            if shp is None:
                raise NirError(f"node {name!r} (Input): no shape")
            declared = _shape(shp, f"{source}: node {name!r} (Input)")
            out[name] = ir.Input(name=name, shape=_input_shape(name, declared, nodes, edges))
            ir.check_elements(out[name].shape, f"{source}: node {name!r} (Input) field 'shape'", error=NirError)
        else:
            fwd = [a for a, b in edges if b == name and (a, name) not in back]  # never empty: the search came this way
            in_shape = shapes[fwd[0]]
            if t == "Output":
                declared = raw_node.get("shape")  # may carry extra leading batch/time axes, like Input's
                if declared is not None:
                    declared = _shape(declared, f"{source}: node {name!r} (Output)")
                if declared is not None and tuple(np.asarray(declared).reshape(-1)[-len(in_shape):]) != in_shape \
                        and int(np.prod(np.asarray(declared))) != int(np.prod(in_shape)):
                    raise NirError(f"node {name!r} (Output): declares shape {tuple(np.asarray(declared))} "
                                   f"but receives {in_shape}")
                out[name] = ir.Output(name=name, shape=in_shape)
            else:
                with np.errstate(all="ignore"):  # overflow is refused below, naming the field
                    out[name] = _convert(name, raw_node, in_shape, d, dt, reset)
                _bounded(out[name], source, dt)
        try:
            shapes[name] = out[name].out_shape(shapes[fwd[0]] if t != "Input" else ())
            ir.check_elements(shapes[name], f"node {name!r} ({t}) output", error=ir.GraphError)
        except ir.GraphError as e:
            raise NirError(f"{source}: {e}") from None
    try:
        graph = ir.Graph({k: out[k] for k in order}, edges, float(dt),
                         {"source": source, "dialect": d.name, "format": "nir"})
    except ir.GraphError as e:
        raise NirError(f"{source}: {e}") from None
    notes += d.notes
    return graph


def _bounded(node: ir.Node, source: str, dt: float) -> None:
    """Every parameter finite and within +-PARAM_MAX (see there), or NirError naming the node and field."""
    for key, a in node.arrays().items():
        if not a.size:
            continue
        bad = ~np.isfinite(a) | (np.abs(a) > PARAM_MAX)
        if np.any(bad):
            i = tuple(int(x) for x in np.argwhere(bad)[0])
            raise NirError(f"{source}: node {node.name!r} ({node.kind}): field {key!r} is {float(a[i]):.4g} at index "
                           f"{i} after discretisation at dt = {dt:g} s; every parameter must be finite and "
                           f"within +-{PARAM_MAX:.0e} (so that products of two parameters and an input stay finite "
                           "in float32, the precision the simulation runs in)")


def _input_shape(name: str, declared: tuple, nodes: dict, edges: list) -> tuple:
    """The per-step input shape. Some exporters (Norse, Rockpool, Sinabs) write batch or time axes
    into the Input type, e.g. [1, 64] or [16, 64]; where the first layer's weights fix how many
    trailing axes it reads, the leading extra axes are dropped."""
    ranks = {"Linear": 1, "Affine": 1, "Conv1d": 2, "Conv2d": 3}
    consumers = [nodes[b] for a, b in edges if a == name]
    need = {ranks[_s(c["type"])] for c in consumers if _s(c["type"]) in ranks}
    if len(need) != 1 or len(declared) <= (rank := need.pop()):
        return declared
    trailing = declared[-rank:]
    if "weight" not in consumers[0]:  # refused with its node's name when that node is converted
        return declared
    w = np.asarray(consumers[0]["weight"])
    if w.ndim < 1:
        return declared
    if rank == 1 and trailing != (w.shape[-1],):
        raise NirError(f"node {name!r} (Input): shape {declared} does not end in the {w.shape[-1]} inputs "
                       f"its first layer reads")
    return trailing


def read_nir(path, *, dt: float | None = None, dialect: str = "nir", reset: str | None = None,
             norse_tau: str = "auto", force: bool = False, notes: list[str] | None = None) -> ir.Graph:
    """Import a NIR file with `dialect` (one of DIALECTS, the exporter's convention).

    dt (seconds): a file edgesnn wrote records its dt, which is used when dt is None and refused for a
    different dt unless force. Otherwise dt defaults to the exporter's own where the dialect knows it
    (snnTorch: 1e-4; Sinabs: 1, time in steps; Rockpool: recovered from r); a different dt there warns
    (NirWarning) and is used. Other dialects need dt. norse_tau: 'auto' decides per file whether the
    taus are Norse 1.1's dt*tau (norse#411) or true taus; 'literal' or 'scaled' forces a reading.
    notes: a list that receives one line per decision taken (the dt used and why, the Norse reading,
    snnTorch's clamped betas)."""
    try:
        return from_raw(read_raw(path), dt=dt, dialect=dialect, reset=reset, norse_tau=norse_tau, force=force,
                        notes=notes, source=str(path))
    except NirError as e:  # every message names the file, once
        if str(e).startswith(f"{path}: "):
            raise
        raise NirError(f"{path}: {e}") from None


def from_nir(graph, *, dt: float | None = None, dialect: str = "nir", reset: str | None = None,
             norse_tau: str = "auto", force: bool = False, notes: list[str] | None = None) -> ir.Graph:
    """Import an in-memory `nir.NIRGraph`, as a framework's exporter returns it (arguments as read_nir)."""
    return from_raw(graph.to_dict(), dt=dt, dialect=dialect, reset=reset, norse_tau=norse_tau, force=force,
                    notes=notes)


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------

def to_nir(graph: ir.Graph):
    """The graph as a `nir.NIRGraph` in the literal 'nir' dialect (semantics knobs in metadata)."""
    nir = _nir()
    d, dt = DIALECTS["nir"], graph.dt
    shapes = graph.schedule().shapes
    preds = {k: graph.predecessors(k) for k in graph.nodes}
    nodes = {}
    for name, n in graph.nodes.items():
        in_shape = shapes[preds[name][0]] if preds[name] else None

        def fail(msg):
            raise NirError(f"node {name!r} ({n.kind}): {msg}")
        meta = {}
        if n.spiking and not isinstance(n, ir.ALIF):
            meta = {f"edgesnn.{k}": getattr(n, k) for k in _KNOBS if hasattr(n, k)}
            meta = {k: (int(v) if isinstance(v, bool) else v) for k, v in meta.items()}
        if isinstance(n, (ir.CubaLI, ir.CubaLIF)):
            meta["edgesnn.syn_delay"] = int(n.syn_delay)

        def leaky(alpha, gain, bias):  # inverse of the 'nir' dialect's Euler formulas
            if np.any(alpha >= 1):
                fail("a decay of 1 (no leak) has no finite NIR time constant")
            tau = d.tau_of(alpha, dt)
            return tau, gain * tau / dt, bias * tau / dt
        if isinstance(n, ir.Input):
            nodes[name] = nir.Input(input_type=np.array(n.shape))
        elif isinstance(n, ir.Output):
            nodes[name] = nir.Output(output_type=np.array(n.shape))
        elif isinstance(n, ir.Affine):
            nodes[name] = nir.Affine(weight=n.weight, bias=n.bias)
        elif isinstance(n, ir.Linear):
            nodes[name] = nir.Linear(weight=n.weight)
        elif isinstance(n, ir.Conv1d):
            nodes[name] = nir.Conv1d(input_shape=in_shape[1], weight=n.weight, stride=n.stride[0],
                                     padding=n.padding[0], dilation=n.dilation[0], groups=n.groups, bias=n.bias)
        elif isinstance(n, ir.Conv2d):
            nodes[name] = nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=n.weight, stride=n.stride,
                                     padding=n.padding, dilation=n.dilation, groups=n.groups, bias=n.bias)
        elif isinstance(n, ir.SumPool2d):
            cls = nir.AvgPool2d if isinstance(n, ir.AvgPool2d) else nir.SumPool2d
            nodes[name] = cls(kernel_size=np.array(n.kernel_size), stride=np.array(n.stride),
                              padding=np.array(n.padding))
        elif isinstance(n, ir.Flatten):
            nodes[name] = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=n.start_dim,
                                      end_dim=n.end_dim)
        elif isinstance(n, ir.Scale):
            nodes[name] = nir.Scale(scale=n.scale)
        elif isinstance(n, ir.IF):
            if np.any(n.bias != 0):
                fail("a bias has no NIR IF equivalent")
            nodes[name] = nir.IF(r=n.gain / dt, v_threshold=n.threshold, v_reset=n.v_reset, metadata=meta)
        elif isinstance(n, (ir.LIF, ir.LI)):
            tau, r, v_leak = leaky(n.alpha, n.gain, n.bias)
            if isinstance(n, ir.LI):
                nodes[name] = nir.LI(tau=tau, r=r, v_leak=v_leak, metadata=meta)
            else:
                nodes[name] = nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=n.threshold,
                                      v_reset=n.v_reset, metadata=meta)
        elif isinstance(n, ir.Threshold):
            nodes[name] = nir.Threshold(threshold=n.threshold, metadata=meta)
        elif isinstance(n, (ir.CubaLIF, ir.CubaLI)):
            tau_mem, r, v_leak = leaky(n.alpha, n.gain, n.bias)
            tau_syn, w_in, _ = leaky(n.alpha_syn, n.gain_syn, np.zeros_like(n.alpha_syn))
            kw = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, w_in=w_in, metadata=meta)
            if isinstance(n, ir.CubaLI):
                nodes[name] = nir.CubaLI(**kw)
            else:
                nodes[name] = nir.CubaLIF(v_threshold=n.threshold, v_reset=n.v_reset, **kw)
        else:
            fail("NIR has no equivalent node (adaptive thresholds are not in NIR 1.0)")
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges),
                        metadata={"dt": dt, "edgesnn.dialect": "nir"}, type_check=False)


def write_nir(graph: ir.Graph, path) -> None:
    """Write `graph` as a NIR file, atomically (no partial file on failure)."""
    nir = _nir()
    buf = io.BytesIO()
    nir.write(buf, to_nir(graph))
    atomic_write_bytes(path, buf.getvalue())
