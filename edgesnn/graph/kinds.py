"""The node kinds: one row per kind, read by every stage.

A kind's facts live here and nowhere else in Python: its code in the blob (the C `enum esn_kind`), its
role, whether it spikes, the state variables a neuron keeps between steps, the parameter slots the runtime
requires and allows, its cost family, whether it can be made stateless, the quantization knobs that apply
to it, and its IR class (graph/ir.py builds NODE_TYPES, NEURON_TYPES and SYNAPTIC_TYPES from this table).
The C side is runtime_c/include/esn/esn_kinds.h, an X-macro with the same rows; tests/graph/test_kinds.py
checks that the two agree.

Adding a kind: a row here and in esn_kinds.h, the IR class (graph/ir.py), then the per-kind arithmetic
(see docs/architecture.md for the list of files).

This module imports nothing of edgesnn, so that every stage, graph/ir.py included, may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("boundary", "weighted", "pool", "shape", "neuron")
"""boundary: the graph's Input and Output; weighted: a synaptic layer with weights (Linear, Affine, Conv,
Scale); pool: a synaptic layer without weights; shape: a view of its input (Flatten); neuron: a layer of
neurons fed by weighted layers, updated every step (counted in neuron_updates), with state, or without any
(Threshold: state ())."""

STATE_VARS = ("v", "i", "eta")
"""State variables of a neuron layer, in the order of the C `enum esn_var` (ESN_VAR_V, ESN_VAR_I,
ESN_VAR_ETA; ESN_VAR_PENDING, the spikes a subtract-late reset still owes, follows them and belongs to the
reset mode, not to a kind)."""

PARAM_SLOTS = ("weight", "bias", "threshold", "v_reset", "alpha", "alpha_syn", "cur_mult", "rho", "b0", "beta",
               "eta_inc")
"""Parameter slots of a node, in the order of the C `enum esn_param`."""

KNOBS = ("decay_bits", "current_bits", "adapt_bits")
"""The quantization knobs (QuantConfig fields) that apply only to some kinds; the others (weight_bits,
state_bits, threshold_bits, rounding) apply to every model."""


@dataclass(frozen=True)
class Kind:
    """One node kind (see the module docstring)."""

    name: str                          # the IR kind name, the registry key in files
    code: int                          # esn_kind value, stored in the blob
    role: str                          # one of ROLES
    spiking: bool = False              # emits spike counts (uint8) rather than real values
    state: tuple[str, ...] = ()        # state variables, a prefix-ordered subset of STATE_VARS (() for Threshold)
    required: frozenset = frozenset()  # parameter slots the runtime requires
    optional: frozenset = frozenset()  # and those it allows besides
    family: str | None = None          # cost family of cost/model.py (None: not a counted layer)
    statelessable: bool = False        # make_stateless may zero its decays (quantize/stateless.py)
    knobs: tuple[str, ...] = ()        # quantization knobs of KNOBS that apply

    @property
    def ir_class(self) -> str:
        """The name of its class in graph/ir.py."""
        return self.name

    @property
    def c_name(self) -> str:
        """Its C enumerator, ESN_KIND_<NAME>."""
        return "ESN_KIND_" + self.name.upper()

    @property
    def neuron(self) -> bool:
        return self.role == "neuron"

    @property
    def weighted(self) -> bool:
        return self.role == "weighted"

    @property
    def analog_reader(self) -> bool:
        """May read an analog input (esn_model.input_bits): a dense or conv layer multiplies it into its weights."""
        return self.family in ("affine", "conv")

    @property
    def synaptic(self) -> bool:
        """A weighted layer or a pool: it sums its input into a new output (event-driven)."""
        return self.role in ("weighted", "pool")

    @property
    def conv_like(self) -> bool:
        """It carries a kernel window (kernel, stride, padding, dilation): Conv1d, Conv2d and the pools."""
        return self.family in ("conv", "pool")

    @property
    def current(self) -> bool:
        """It keeps a synaptic current i (current-based: CubaLIF, CubaLI)."""
        return "i" in self.state

    @property
    def adaptive(self) -> bool:
        """It keeps an adaptation eta (ALIF)."""
        return "eta" in self.state

    def n_state(self, reset_late: bool = False) -> int:
        """State variables per neuron S: its own, plus the pending spikes of a subtract-late reset."""
        return len(self.state) + (bool(reset_late) if self.neuron else 0)


def _slots(*names: str) -> frozenset:
    return frozenset(names)


_SPIKE = ("bias", "threshold", "v_reset")
_CUBA = ("alpha", "alpha_syn", "cur_mult")

_ROWS = (
    Kind("Input", 0, "boundary"),
    Kind("Output", 1, "boundary"),
    Kind("Linear", 2, "weighted", required=_slots("weight"), family="affine"),
    Kind("Affine", 3, "weighted", required=_slots("weight"), optional=_slots("bias"), family="affine"),
    Kind("Conv1d", 4, "weighted", required=_slots("weight"), optional=_slots("bias"), family="conv"),
    Kind("Conv2d", 5, "weighted", required=_slots("weight"), optional=_slots("bias"), family="conv"),
    Kind("SumPool2d", 6, "pool", family="pool"),
    Kind("AvgPool2d", 7, "pool", family="pool"),
    Kind("Flatten", 8, "shape"),
    Kind("Scale", 9, "weighted", required=_slots("weight"), family="scale"),
    Kind("IF", 10, "neuron", spiking=True, state=("v",), required=_slots(*_SPIKE), family="if"),
    Kind("LIF", 11, "neuron", spiking=True, state=("v",), required=_slots(*_SPIKE, "alpha"), family="lif",
         statelessable=True, knobs=("decay_bits",)),
    Kind("LI", 12, "neuron", state=("v",), required=_slots("bias", "alpha"), family="li", statelessable=True,
         knobs=("decay_bits",)),
    Kind("CubaLIF", 13, "neuron", spiking=True, state=("v", "i"), required=_slots(*_SPIKE, *_CUBA),
         family="cubalif", statelessable=True, knobs=("decay_bits", "current_bits")),
    Kind("CubaLI", 14, "neuron", state=("v", "i"), required=_slots("bias", *_CUBA), family="cubali",
         statelessable=True, knobs=("decay_bits", "current_bits")),
    Kind("ALIF", 15, "neuron", spiking=True, state=("v", "eta"),
         required=_slots("bias", "alpha", "rho", "b0", "beta", "eta_inc"), family="alif",
         knobs=("decay_bits", "adapt_bits")),
    Kind("Threshold", 16, "neuron", spiking=True, required=_slots("threshold"), family="threshold"),
)

KINDS: dict[str, Kind] = {k.name: k for k in _ROWS}
"""Every kind by name, in code order."""

BY_CODE: dict[int, Kind] = {k.code: k for k in _ROWS}

NEURON_FAMILIES = tuple(k.family for k in _ROWS if k.neuron)


def kind_of(x) -> Kind:
    """The row of `x`: a kind name, or anything with a `.kind` name (an IR node, a lowered node)."""
    return KINDS[x if isinstance(x, str) else x.kind]


def names(pred) -> tuple[str, ...]:
    """The names of the kinds for which pred(kind) holds, in code order: names(lambda k: k.neuron)."""
    return tuple(k.name for k in _ROWS if pred(k))


ANALOG_READER_KINDS = names(lambda k: k.analog_reader)
"""The kinds that may read an analog input (esn_check_analog_readers): Linear, Affine, Conv1d, Conv2d."""


def _check() -> None:
    assert [k.code for k in _ROWS] == list(range(len(_ROWS))), "codes must be 0..n-1 in row order"
    for k in _ROWS:
        assert k.role in ROLES, k
        assert k.state == tuple(v for v in STATE_VARS if v in k.state) and (not k.state or k.neuron), k
        assert (k.required | k.optional) <= set(PARAM_SLOTS) and not (k.required & k.optional), k
        assert set(k.knobs) <= set(KNOBS), k
        assert not k.statelessable or k.neuron, k


_check()
