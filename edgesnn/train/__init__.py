"""A small surrogate-gradient (BPTT) trainer whose forward pass is the graph IR's equations.

Every layer here computes, in float32, exactly what the IR node it exports to computes in
`edgesnn.graph.simulate` (see `edgesnn.graph.ir`), so a trained model exported with `to_graph`
makes the same predictions in the simulator as in torch, up to float rounding ties (torch and
numpy sum a matrix product in different orders, which very rarely moves a membrane across its
threshold at a different step).

torch is an optional dependency (`pip install 'edgesnn[train]'`): importing `edgesnn.train` does
not import it; the names below load it on first use.

    from edgesnn.train import SNN, Affine, LIF, fit, evaluate, to_graph
    from edgesnn.train import ALIF, Recurrent, qat_finetune          # recurrent ALIF, QAT
"""

from __future__ import annotations

import importlib

from ..errors import EdgesnnError

_EXPORTS = {
    "SNN": "layers", "Affine": "layers", "Conv2d": "layers", "SumPool2d": "layers", "AvgPool2d": "layers",
    "Flatten": "layers", "LIF": "layers", "LI": "layers", "CubaLIF": "layers", "ALIF": "layers",
    "Recurrent": "layers", "spike_fn": "layers",
    "to_graph": "export", "from_graph": "export",
    "QATModel": "qat", "qat_finetune": "qat", "QATResult": "qat",
    "fit": "trainer", "evaluate": "trainer", "predict": "trainer", "TrainConfig": "trainer",
    "TrainResult": "trainer",
}

__all__ = sorted(_EXPORTS)


def require_torch():
    """Import and return torch, or raise an EdgesnnError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise EdgesnnError("training needs PyTorch: pip install 'edgesnn[train]'") from None
    return torch


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgesnn.train' has no attribute {name!r}")
    require_torch()
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    return getattr(module, name)
