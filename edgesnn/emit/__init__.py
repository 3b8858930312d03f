"""Emit: a QGraph as the artifacts a device runs, a model blob and C sources.

    to_blob(qgraph) -> bytes          versioned, CRC-checked binary the C runtime loads (emit/blob.py)
    from_blob(bytes) -> QGraph        its reader, for tests and tools
    write_c(qgraph, out_dir)          model.c / model.h with const tables (emit/csource.py)
    arena_size(qgraph) -> int         the exact arena bytes the runtime needs (emit/layout.py)
    arena_size_layer_major(qgraph, T) the same for the layer-major schedule over T steps
"""

from .blob import BlobError, from_blob, to_blob
from .csource import c_sources, write_c
from .layout import arena_size, arena_size_layer_major, lower

__all__ = ["BlobError", "arena_size", "arena_size_layer_major", "c_sources", "from_blob", "lower", "to_blob", "write_c"]
