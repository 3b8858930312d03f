"""The simulation engines behind `edgesnn simulate --engine`, and the quantization they share.

    float         edgesnn.graph.simulate on the float graph (float32)
    fixed-python  edgesnn.quantize.reference.simulate_fixed, the integer specification
    fixed-c       the C runtime through cffi (edgesnn.runtime.run_c), bit-exact with fixed-python

A model is either a float graph (then the fixed engines quantize it first, with the given bit
widths, rounding and calibration inputs) or an already quantized model: a QGraph, or a compiled
blob (`edgesnn compile`), which the fixed engines run as is.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..artifact import load_json
from ..emit.blob import check_qgraph, from_blob
from ..errors import EdgesnnError, QuantizeError
from ..graph import Graph
from ..graph.simulate import SimResult, simulate
from ..quantize import QGraph, QuantConfig, quantize
from ..quantize import fixedpoint as F
from ..quantize.reference import simulate_fixed
from .binding import run_c

ENGINES = ("float", "fixed-python", "fixed-c")


def quantize_with(graph: Graph, *, weight_bits: int | None = None, state_bits: int | None = None,
                  rounding: str | None = None, input_bits: int | None = None, input_scale: str | None = None,
                  calib=None, exit_confidence: float | None = None, exit_temperature: float | None = None,
                  exit_nats: float | None = None) -> QGraph:
    """quantize() with the settings a user gave (the rest at QuantConfig's defaults). input_bits 8 or 16: the input
    is analog (real values, calib in the same units sets its scale; input_scale 'tensor' or 'channel').

    exit_confidence P: early exit once the output's confidence 1 - H / ln K reaches P, H the entropy of
    softmax(mean output per step / exit_temperature) (default EXIT_TEMPERATURE = 0.125), computed by the
    runtime in Q8 (quantize.fixedpoint: confidence_to_q8). exit_nats: the older form, an entropy threshold
    in nats with the temperature 1."""
    given = {"weight_bits": weight_bits, "state_bits": state_bits, "rounding": rounding, "input_bits": input_bits,
             "input_scale": input_scale}
    q = quantize(graph, QuantConfig(**{k: v for k, v in given.items() if v is not None}), calib)
    if exit_nats is not None and exit_confidence is not None:
        raise QuantizeError("give the exit as exit_confidence (--exit-confidence) or exit_nats, not both")
    if exit_temperature is not None:
        if exit_confidence is None:
            raise QuantizeError("exit_temperature (--exit-temperature) applies to exit_confidence "
                                "(--exit-confidence), which is not given")
        if not (exit_temperature > 0 and math.isfinite(exit_temperature)):
            raise QuantizeError(f"exit_temperature {exit_temperature} (--exit-temperature) must be a positive "
                                "number")
    if exit_confidence is not None:
        if not 0 <= exit_confidence <= 1:
            raise QuantizeError(f"exit_confidence {exit_confidence} (--exit-confidence) must be a fraction in "
                                "[0, 1]")
        k = int(np.prod(graph.output.shape))
        t = F.EXIT_TEMPERATURE if exit_temperature is None else exit_temperature
        q = q.with_exit(F.confidence_to_q8(exit_confidence, k), F.temperature_to_beta_q16(t, q.output_scale))
    if exit_nats is not None:
        if not exit_nats >= 0:
            raise EdgesnnError(f"exit entropy {exit_nats} must be a non-negative number of nats")
        q = q.with_exit(F.nats_to_q8(exit_nats))
    return q


def load_model(path: str):
    """A float Graph (.json), or a quantized model: a QGraph (.json) or a compiled blob (.blob)."""
    if Path(path).suffix == ".blob":
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise EdgesnnError(f"{path}: no such file") from None
        try:
            return from_blob(data)
        except EdgesnnError as e:
            raise type(e)(f"{path}: {e}") from None
    d = load_json(path)
    if isinstance(d, dict) and d.get("artifact") == "qgraph":
        return checked(QGraph.from_dict(d, path), path)
    return Graph.from_dict(d, path)


def checked(q: QGraph, where: str) -> QGraph:
    """`q` when the C runtime would accept it, else the runtime's reason (naming node, field and value) as a
    QuantizeError naming `where`: both engines run exactly the models the runtime runs."""
    try:
        check_qgraph(q)
    except EdgesnnError as e:
        raise QuantizeError(f"{where}: {e}") from None
    return q


def refuse_settings(given: list[str], *, engine: str | None = None, quantized: bool = False) -> None:
    """Quantization settings make sense only for a float model run by a fixed-point engine."""
    if not given:
        return
    if engine == "float":
        raise EdgesnnError(f"{', '.join(given)}: quantization settings apply to the fixed-point engines only "
                           "(--engine fixed-python or fixed-c)")
    if quantized:
        raise EdgesnnError(f"this model is already quantized; {', '.join(given)} cannot change it")


def to_qgraph(model, **quant) -> QGraph:
    """The model itself when it is quantized (settings refused), else quantize_with(model, **quant)."""
    if isinstance(model, QGraph):
        refuse_settings(sorted(k for k, v in quant.items() if v is not None), quantized=True)
        return model
    return quantize_with(model, **quant)


def run_engine(engine: str, model, inputs, *, progress: bool = False, **quant) -> tuple[Graph, SimResult]:
    """Runs `inputs` on `model` with `engine`; `quant` are quantize_with's settings (fixed engines,
    float models only). Returns the float graph (for reports) and the result."""
    if engine not in ENGINES:
        raise EdgesnnError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "float":  # named as the command line's options, where they usually come from
        refuse_settings([f"--{k.replace('_', '-')}" for k, v in quant.items() if v is not None], engine=engine)
        if isinstance(model, QGraph):
            raise EdgesnnError("this model is already quantized; run it with --engine fixed-python or fixed-c")
        return model, simulate(model, inputs, progress=progress)
    q = to_qgraph(model, **quant)
    if engine == "fixed-python":   # the C runtime validates what it loads; the reference is checked as it does
        return q.graph, simulate_fixed(checked(q, "model"), inputs, progress=progress)
    return q.graph, run_c(q, inputs)
