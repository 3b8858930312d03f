"""Stateless neuron layers: a layer whose decays are all zero carries nothing from one step to the next.

With alpha = 0 (and alpha_syn = 0 for a current-based layer) every step starts from v = i = 0, so the
C runtime keeps no state for such a layer (esn_runtime.h; edgesnn.lower.Lowered.stateless) and
its arena shrinks by the layer's state block. `make_stateless(qgraph, names)` makes the listed layers so,
in the integers the runtime runs and in the float graph alike, so that the planner can measure what
the accuracy pays for the memory (simulate it, or run_c it, like any QGraph).

A layer qualifies when it is LIF, LI, CubaLIF or CubaLI without a subtract-late reset (which carries
the spikes whose reset is still due) and without a synaptic delay (which reads last step's current).
IF has no decay to zero (it integrates), and ALIF carries its adaptation.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import QuantizeError
from ..graph import Graph, ir
from ..graph.kinds import KINDS, names
from .qgraph import QGraph, QLayer

_KINDS = names(lambda k: k.statelessable)


def stateless_refusal(node: ir.Node) -> str | None:
    """Why `node` cannot be made stateless (None when it can)."""
    row = KINDS[node.kind]
    if not row.statelessable:
        what = ("carries its threshold adaptation" if row.adaptive else "integrates without a decay"
                if row.state else "keeps no state already") if row.neuron else None
        return (f"a {node.kind} layer {what}" if what else f"a {node.kind} node keeps no state") + \
            f"; only {', '.join(_KINDS[:-1])} and {_KINDS[-1]} layers can be made stateless"
    if getattr(node, "reset_late", False):
        return "its subtract-late reset carries the spikes whose reset is still due to the next step"
    if getattr(node, "syn_delay", False):
        return "its synaptic delay reads last step's current"
    return None


def stateless_candidates(qgraph: QGraph) -> list[str]:
    """The neuron layers `make_stateless` accepts, in schedule order."""
    g = qgraph.graph
    return [k for k in g.schedule().order if g.nodes[k].stateful and stateless_refusal(g.nodes[k]) is None]


def make_stateless(qgraph: QGraph, layer_names) -> QGraph:
    """A copy of `qgraph` whose listed neuron layers have every decay (alpha, alpha_syn) zero, in the
    integer parameters and the float graph; QuantizeError naming the layer for one that cannot be."""
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    g = qgraph.graph
    nodes, layers = dict(g.nodes), dict(qgraph.layers)
    for name in names:
        if name not in g.nodes:
            raise QuantizeError(f"make_stateless: {name!r} is not a node of the graph "
                                f"(neuron layers: {[k for k, n in g.nodes.items() if n.stateful]})")
        why = stateless_refusal(g.nodes[name])
        if why:
            raise QuantizeError(f"layer {name!r} cannot be made stateless: {why}")
        node = g.nodes[name]
        keys = [k for k in ("alpha", "alpha_syn") if hasattr(node, k)]
        nodes[name] = replace(node, **{k: np.zeros_like(getattr(node, k)) for k in keys})
        ql = qgraph.layers[name]
        params = dict(ql.params)
        for k in keys:
            params[k] = np.zeros_like(params[k])
        layers[name] = QLayer(params, dict(ql.scales), ql.target, ql.into, ql.max_in)
    graph = Graph(nodes, list(g.edges), g.dt, dict(g.meta))
    meta = dict(qgraph.meta)
    meta["stateless"] = sorted(set(meta.get("stateless", [])) | set(names))
    return QGraph(graph, qgraph.config, layers, meta, qgraph.exit, qgraph.input_scale)
