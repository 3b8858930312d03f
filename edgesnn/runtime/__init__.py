"""Host execution of the C runtime through cffi (the extension is compiled when the package is installed).

    run_c(qgraph, inputs) -> SimResult   the C runtime on a batch, input by input; same fields as simulate_fixed
    CModel(blob)                         a blob loaded and checked by the C loader, with its arena
"""

from .binding import ArenaTooSmall, CModel, CRuntimeError, run_c

__all__ = ["ArenaTooSmall", "CModel", "CRuntimeError", "run_c"]
