"""Emit: a QGraph as the artifacts a device runs, a model blob and C sources.

    to_blob(qgraph) -> bytes          versioned, CRC-checked binary the C runtime loads (emit/blob.py)
    from_blob(bytes) -> QGraph        its reader, for tests and tools
    write_c(qgraph, out_dir)          model.c / model.h with const tables (emit/csource.py)
    arena_size(qgraph) -> int         the exact arena bytes the runtime needs (emit/layout.py)
    arena_size_layer_major(qgraph, T) the same for the layer-major schedule over T steps
    arena_size_schedule(qgraph, schedule, T)  the same for any schedule ("time", "layer", "fused",
                                      group sizes or group-ending node names; emit/layout.py)
    to_blob / write_c / lower take schedule= and steps= too: the model then carries its schedule
"""

from .blob import BlobError, from_blob, schedule_of, to_blob
from .csource import c_sources, write_c
from .layout import arena_size, arena_size_layer_major, arena_size_schedule, lower

__all__ = ["BlobError", "arena_size", "arena_size_layer_major", "arena_size_schedule", "c_sources", "from_blob",
           "lower", "schedule_of", "to_blob", "write_c"]
