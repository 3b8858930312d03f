"""What the `edgesnn` command does, as Python calls: each takes plain artifacts and returns one.

    compile(qgraph, out_dir, ...) -> Compiled    model.blob + model.c/.h, checked by the C loader first
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .emit.blob import blob_from_lowered
from .emit.csource import c_sources
from .emit.files import write_files
from .errors import ArenaTooSmall, EmitError
from .lower import lower
from .quantize.qgraph import QGraph
from .runtime.binding import CModel, extension_available


@dataclass
class Compiled:
    out_dir: Path
    blob_bytes: int
    arena_bytes: int
    weight_bytes: int
    checked_by_c: bool


def compile(qgraph: QGraph, out_dir: str | os.PathLike, *, name: str = "snn",  # noqa: A001 (the stage's name)
            arena_bytes: int | None = None, schedule="time", steps: int | None = None) -> Compiled:
    """The `edgesnn compile` stage: writes model.blob (for loading at run time) and model.c / model.h (the
    same model as const C tables, for compiling in) for `qgraph` into out_dir, all or nothing.

    The blob is checked by the C loader first when the host extension is built, so a model the runtime
    would refuse never reaches a board. arena_bytes: the arena the target firmware provides; a model that
    needs more is refused (ArenaTooSmall) and nothing is written. schedule, steps: the model carries that
    schedule (edgesnn.lower; a plan's), and the arena is the schedule's.
    """
    low = lower(qgraph, schedule, steps)
    blob = blob_from_lowered(low)
    need = low.arena_bytes
    checked = extension_available()
    if checked:
        CModel(blob, arena_bytes)
    elif arena_bytes is not None and arena_bytes < need:
        raise ArenaTooSmall(f"arena of {arena_bytes} bytes is too small: this model needs {need} (esn_arena_size)")
    files = {"model.blob": blob, **c_sources(qgraph, name, schedule, steps)}
    try:
        out = write_files(out_dir, files)
    except OSError as e:
        raise EmitError(f"{out_dir}: cannot write the compiled model ({e})") from None
    weights = sum(int(a.nbytes) for nd in low.nodes for s, a in nd.params.items() if s == "weight")
    return Compiled(out, len(blob), need, weights, checked)
