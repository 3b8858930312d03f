"""Tables people read: layers of a graph, activity of a simulation."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from .graph import ir


def _shape(s) -> str:
    return "x".join(map(str, s)) if s else "-"


def _state_vars(node: ir.Node) -> int:
    """Per-neuron state variables the node keeps between steps."""
    if not node.stateful:
        return 0
    extra = isinstance(node, (ir.CubaLIF, ir.CubaLI)) + isinstance(node, ir.ALIF) + bool(getattr(node, "reset_late", False))
    return 1 + extra


def graph_table(graph: ir.Graph) -> str:
    sched = graph.schedule()
    rows, tot_p, tot_n, tot_s = [], 0, 0, 0
    for name in sched.order:
        node = graph.nodes[name]
        preds = [a for a in graph.predecessors(name) if (a, name) not in sched.back_edges]
        in_shape = sched.shapes[preds[0]] if preds else ()
        params = sum(int(a.size) for a in node.arrays().values())
        neurons = node.size if isinstance(node, ir.NEURON_TYPES) else 0
        state = neurons * _state_vars(node)
        rec = [a for a, b in sched.back_edges if b == name]
        kind = node.kind + (f" (+rec from {', '.join(rec)})" if rec else "")
        rows.append([name, kind, _shape(in_shape), _shape(sched.shapes[name]), params, neurons, 4 * params, 4 * state])
        tot_p, tot_n, tot_s = tot_p + params, tot_n + neurons, tot_s + state
    rows.append(["total", "", "", "", tot_p, tot_n, 4 * tot_p, 4 * tot_s])
    head = ["layer", "kind", "input", "output", "parameters", "neurons", "param bytes (f32)", "state bytes (f32)"]
    src = graph.meta.get("source", "")
    title = f"dt = {graph.dt:g} s" + (f", from {src} ({graph.meta.get('dialect')} dialect)" if src else "")
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
