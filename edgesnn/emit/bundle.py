"""The `edgesnn compile` stage: a quantized graph -> one folder with the blob and the C sources.

    DIR/model.blob   the model blob (edgesnn.emit.blob), for loading at run time
    DIR/model.c/.h   the same model as const C tables (edgesnn.emit.csource), for compiling in

The blob is checked by the C loader before anything is written when the host extension is
available (so a model the runtime would refuse never reaches a board), and the folder is written
all or nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import EmitError
from ..quantize.qgraph import QGraph
from .blob import blob_from_lowered
from .csource import c_sources
from .files import write_files
from .layout import lower


@dataclass
class Compiled:
    out_dir: Path
    blob_bytes: int
    arena_bytes: int
    weight_bytes: int
    checked_by_c: bool


def compile_model(qgraph: QGraph, out_dir: str | os.PathLike, *, name: str = "snn",
                  arena_bytes: int | None = None, schedule="time", steps: int | None = None) -> Compiled:
    """Writes model.blob, model.c and model.h for `qgraph` into out_dir.

    arena_bytes: the arena the target firmware provides; a model that needs more is refused
    (edgesnn.runtime.ArenaTooSmall) and nothing is written. schedule, steps: the model carries that
    schedule (edgesnn.emit.layout; a plan's), and the arena is the schedule's.
    """
    low = lower(qgraph, schedule, steps)
    blob = blob_from_lowered(low)
    need = low.arena_size_sched() if low.steps else low.arena_size()
    checked = _check_in_c(blob, arena_bytes)
    if not checked and arena_bytes is not None and arena_bytes < need:
        from ..runtime.binding import arena_too_small
        raise arena_too_small(arena_bytes, need)
    files = {"model.blob": blob, **c_sources(qgraph, name, schedule, steps)}
    try:
        out = write_files(out_dir, files)
    except OSError as e:
        raise EmitError(f"{out_dir}: cannot write the compiled model ({e})") from None
    weights = sum(int(a.nbytes) for nd in low.nodes for s, a in nd.params.items() if s == "weight")
    return Compiled(out, len(blob), need, weights, checked)


def _check_in_c(blob: bytes, arena_bytes: int | None) -> bool:
    """Loads the blob in the C runtime (and initialises it in an arena of arena_bytes); False when
    the host extension is not built, so there is no C loader to ask."""
    from ..runtime.binding import CModel, extension_available
    if not extension_available():
        return False
    CModel(blob, arena_bytes)
    return True
