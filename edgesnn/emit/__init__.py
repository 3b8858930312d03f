"""Emit: writers of the artifacts a device runs, from the lowered program (edgesnn.lower).

    to_blob(qgraph) -> bytes          versioned, CRC-checked binary the C runtime loads (emit/blob.py)
    from_blob(bytes) -> QGraph        its reader, for tests and tools
    c_sources(qgraph, name) / write_c(qgraph, out_dir)   model.c / model.h with const tables (emit/csource.py)
    to_blob / c_sources take schedule= and steps= too: the model then carries its schedule
"""

from .blob import BlobError, from_blob, schedule_of, to_blob
from .csource import c_sources, write_c

__all__ = ["BlobError", "c_sources", "from_blob", "schedule_of", "to_blob", "write_c"]
