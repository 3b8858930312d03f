"""The package layout reads as the pipeline: each module imports only from the stages before it.

Levels (docs/architecture.md): a module may import edgesnn modules of a lower level, and modules of
its own package; never a later stage, never a sibling stage. Imports of edgesnn modules sit at module
level: a function-level import would only hide a loop. Optional heavy packages (torch, matplotlib,
scipy, nir, h5py, sklearn, tqdm, ray) and the compiled extension stay lazy."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.paths import ROOT

PACKAGE = ROOT / "edgesnn"

LEVELS = {
    # the base every stage may use
    "__init__": 0, "errors": 0, "artifact": 0.1, "progress": 0.1, "resources": 0.1, "schema": 0.1,  # the validator
    "executor": 0.1,  # where a search's tasks run: locally or on Ray
    "board": 0.2, "data": 0.2, "events": 0.15,  # events: arrays only; data reads event files
    "measurement": 0.2,
    "graph": 1,       # IR, node kinds, NIR, float simulation
    "quantize": 2,    # formats, PTQ, the fixed-point reference
    "lower": 3,       # the lowered program, schedules, the memory plan
    "emit": 4,        # writers: blob, C sources
    "runtime": 5, "firmware": 5, "cost": 5,
    "plan": 6, "device": 6, "train": 6,
    "calibrate": 7,
    "report": 7.5,    # tables people read
    "api": 8,         # simulate, compile, plan, run, profile, calibrate as Python calls
    "demo": 8.5,
    "cli": 9,
}
LAZY_OK = {"torch", "matplotlib", "scipy", "nir", "h5py", "sklearn", "tqdm", "ray"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        yield path, rel.parts


def _stage(parts: tuple[str, ...]) -> str:
    return parts[0]


def _imports(path: Path, parts: tuple[str, ...]):
    """(line, imported edgesnn module path parts or None, top-level external name, at module level)."""
    tree = ast.parse(path.read_text())
    top_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                name = a.name.split(".")
                yield node.lineno, (tuple(name[1:]) if name[0] == "edgesnn" else None), name[0], id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = (node.module or "").split(".")
                yield node.lineno, (tuple(name[1:]) if name[0] == "edgesnn" else None), name[0], id(node) in top_level
            else:
                pkg = list(parts[:-1]) if parts[-1] != "__init__" else list(parts[:-1])
                base = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                if node.module:
                    yield node.lineno, tuple(base + node.module.split(".")), "edgesnn", id(node) in top_level
                else:  # `from . import a, b`: each name is a module of that package
                    for a in node.names:
                        yield node.lineno, tuple(base + [a.name]), "edgesnn", id(node) in top_level


def _violations():
    out = []
    for path, parts in _modules():
        stage = _stage(parts)
        assert stage in LEVELS, f"{path}: stage {stage!r} has no level in LEVELS (add it to the table)"
        for line, target, external, top in _imports(path, parts):
            where = f"edgesnn/{'/'.join(parts)}.py:{line}"
            if target is None:
                continue
            if not target:
                continue  # `from .. import __version__`
            tstage = target[0]
            if tstage == "train" and not top:
                continue  # the trainer needs the optional extra `train` (torch): imported when asked for
            if tstage == "runtime" and target[-1] in ("_esn", "_build"):
                continue  # the compiled extension may be absent, the build script is checked only in a checkout
            if not top:
                out.append(f"{where}: function-level import of edgesnn.{'.'.join(target)}")
            if tstage == stage or tstage == "__init__":
                continue
            if tstage not in LEVELS:
                continue
            if LEVELS[tstage] >= LEVELS[stage]:
                out.append(f"{where}: {stage} (level {LEVELS[stage]}) imports {'.'.join(target)} "
                           f"(level {LEVELS[tstage]})")
    return out


def test_imports_follow_the_pipeline():
    bad = _violations()
    assert not bad, "imports against the pipeline:\n" + "\n".join(bad)
