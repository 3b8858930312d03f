"""Tables people read: layers of a graph, activity of a simulation."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from .graph import ir
from .graph.kinds import KINDS


def _shape(s) -> str:
    return "x".join(map(str, s)) if s else "-"


def _state_vars(node: ir.Node) -> int:
    """Per-neuron state variables the node keeps between steps."""
    return KINDS[node.kind].n_state(getattr(node, "reset_late", False))


def graph_info(graph: ir.Graph) -> dict:
    """What `edgesnn info` shows, as plain data: dt, where the model came from, one dict per layer in
    schedule order (name, kind, recurrent inputs, shapes, parameters, neurons, bytes at float32) and the
    totals. graph_table prints the same facts."""
    sched = graph.schedule()
    layers, tot_p, tot_n, tot_s = [], 0, 0, 0
    for name in sched.order:
        node = graph.nodes[name]
        preds = [a for a in graph.predecessors(name) if (a, name) not in sched.back_edges]
        in_shape = sched.shapes[preds[0]] if preds else ()
        params = sum(int(a.size) for a in node.arrays().values())
        neurons = int(node.size) if isinstance(node, ir.NEURON_TYPES) else 0
        state = neurons * _state_vars(node)
        layers.append({"name": name, "kind": node.kind,
                       "recurrent_from": [a for a, b in sched.back_edges if b == name],
                       "input": [int(d) for d in in_shape], "output": [int(d) for d in sched.shapes[name]],
                       "parameters": params, "neurons": neurons, "param_bytes_f32": 4 * params,
                       "state_bytes_f32": 4 * state})
        tot_p, tot_n, tot_s = tot_p + params, tot_n + neurons, tot_s + state
    src = graph.meta.get("source", "")
    return {"dt": graph.dt, "source": src or None, "dialect": graph.meta.get("dialect"),
            "layers": layers, "total": {"parameters": tot_p, "neurons": tot_n, "param_bytes_f32": 4 * tot_p,
                                        "state_bytes_f32": 4 * tot_s}}


def graph_table(graph: ir.Graph) -> str:
    info = graph_info(graph)
    rows = [[r["name"], r["kind"] + (f" (+rec from {', '.join(r['recurrent_from'])})" if r["recurrent_from"] else ""),
             _shape(r["input"]), _shape(r["output"]), r["parameters"], r["neurons"], r["param_bytes_f32"],
             r["state_bytes_f32"]] for r in info["layers"]]
    t = info["total"]
    rows.append(["total", "", "", "", t["parameters"], t["neurons"], t["param_bytes_f32"], t["state_bytes_f32"]])
    head = ["layer", "kind", "input", "output", "parameters", "neurons", "param bytes (f32)", "state bytes (f32)"]
    title = f"dt = {info['dt']:g} s" + (f", from {info['source']}" if info["source"] else "") + (
        f" ({info['dialect']} dialect)" if info["source"] and info["dialect"] else "")
    return title + "\n" + tabulate(rows, head, tablefmt="simple_outline", intfmt=",")


def activity_table(graph: ir.Graph, result) -> str:
    n, t = result.outputs.shape[:2]
    rows = []
    for name, cs in result.counts.items():
        rows.append([name, graph.nodes[name].kind] + [cs[c].sum() / n for c in cs])
    tot = ["total", ""] + [sum(r[2 + i] for r in rows) for i in range(len(rows[0]) - 2)] if rows else []
    head = ["layer", "kind", "spikes in", "synops", "neuron updates", "spikes out"]
    body = tabulate(rows + ([tot] if tot else []), head, tablefmt="simple_outline", floatfmt=",.1f")
    return f"activity per input (mean over {n} inputs, {t} steps)\n" + body


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(labels)))


def profile_table(profile, est_cycles: dict[str, float] | None = None, core: str | None = None,
                  timings: str | None = None) -> str:
    """calibrate.profile.Profile's table; with est_cycles (api.Profiled.estimated_cycles(): by row and
    "total", means per input) an "est. cycles" column beside the instructions and a footnote saying what
    the estimate is."""
    if est_cycles is None:
        return profile.table()
    u = profile.unit
    mc = profile.model_cycles   # the cost model's cycles (a calibration with estimated-cycle coefficients)
    body = [[n, k, f"{e:,.0f}", f"{m:,.0f}", f"{profile.error(e, m):+.1%}", f"{est_cycles[n]:,.0f}"]
            + ([f"{mc[i]:,.0f}", f"{profile.error(mc[i], est_cycles[n]):+.1%}"] if mc else [])
            for i, (n, k, e, m) in enumerate(profile.rows)]
    body.append(["total", "", f"{profile.total_estimated:,.0f}", f"{profile.total_measured:,.0f}",
                 f"{profile.total_error:+.1%}", f"{est_cycles['total']:,.0f}"]
                + ([f"{sum(mc):,.0f}", f"{profile.error(sum(mc), est_cycles['total']):+.1%}"] if mc else []))
    head = ["layer", "kind", f"estimated {u}", f"measured {u}", "error", "est. cycles"] + (
        ["model cycles", "error"] if mc else [])
    ratio = est_cycles["total"] / profile.total_measured if profile.total_measured else float("nan")
    return (tabulate(body, head, tablefmt="simple_outline", disable_numparse=True)
            + f"\n{profile.model} on {profile.board}: means per input over {profile.inputs} inputs "
              f"({profile.mean_steps:.1f} steps); calibration: {profile.calibration}; measured (runtime) = whole run "
              f"- layers, total = whole run (every esn_step call)"
            + f"\nest. cycles: cycle-approximate estimates, not measurements: every instruction QEMU executed, "
              f"priced with the {core or 'core'}'s published timings ({timings or 'edgesnn/firmware/cycles.py'}) "
              f"with zero-wait memory (a real board's flash wait states are not in them); {u} are QEMU's counts; "
              f"{ratio:.2f} estimated cycles per measured {u[:-1] if u.endswith('s') else u} over the whole run"
            + ("\nmodel cycles: the cost model's cycles (the calibration's estimated-cycle coefficients) against "
               "the traced run's est. cycles; estimated instructions: its instruction coefficients" if mc else ""))
