"""One exception tree, so callers can catch everything edgesnn raises with one clause.

Messages name the file, node or field at fault; the CLI prints them without a traceback.
"""


class EdgesnnError(Exception):
    """Base of every error edgesnn raises on bad input."""


class GraphError(EdgesnnError):
    """A graph is malformed: unknown node, bad parameter, shapes that do not match, a cycle we cannot run."""


class NirError(GraphError):
    """A NIR file cannot be read or cannot be reproduced faithfully."""


class SimulationError(EdgesnnError):
    """Inputs handed to a simulator are of the wrong shape, dtype or value range."""


class QuantizeError(EdgesnnError):
    """A quantization setting is out of range."""


class PlanInfeasible(EdgesnnError):
    """Raised only where a caller asked for an exception instead of an Infeasible result."""


class EmitError(EdgesnnError):
    """Code or blob generation failed."""


class DeviceError(EdgesnnError):
    """A board, toolchain, emulator or serial link misbehaved."""


class DeviceWarning(UserWarning):
    """A device that works, but not as built: e.g. a board running on its fallback clock. The CLI prints it as
    one `warning:` line."""


class CRuntimeError(DeviceError):
    """The C runtime refused a call (bad arguments, call order)."""


class ExtensionMissing(CRuntimeError):
    """The host extension of the C runtime (edgesnn.runtime._esn) is not built."""


class ArenaTooSmall(CRuntimeError):
    """The arena handed to the runtime is smaller than the model needs (esn_arena_size)."""


class ScheduleRefused(CRuntimeError):
    """The model cannot run in the schedule asked for (a recurrent edge across groups, or early exit)."""


class BoardError(DeviceError):
    """A board file is invalid; the message lists every problem found in it, each with its file and key."""
