"""docs/dialects.md's export recipes ("Exporting from each framework") match what
tests/fixtures/make_fixtures.py runs (which needs the frameworks, so it is not run here), and each
recipe's `edgesnn import` line imports that framework's fixture."""

import ast
import re
import shlex

import pytest

from edgesnn.cli import main
from tests.helpers.paths import FIXTURES, ROOT

pytest.importorskip("nir")

FRAMEWORKS = ["snntorch", "norse", "sinabs", "spikingjelly", "rockpool"]
COMMON = {"nir", "torch", "numpy"}  # not framework calls


def recipes() -> dict[str, dict[str, list[str]]]:
    """{framework: {"python": [code, ...], "sh": [code, ...]}} from the doc's section."""
    text = (ROOT / "docs" / "dialects.md").read_text()
    m = re.search(r"^## Exporting from each framework\n(.*?)^## ", text, re.S | re.M)
    assert m, "docs/dialects.md has no '## Exporting from each framework' section"
    out = {}
    for part in re.split(r"^### ", m.group(1), flags=re.M)[1:]:
        fw = part.split()[0].lower()
        blocks = re.findall(r"^```(\w+)\n(.*?)^```", part, re.S | re.M)
        out[fw] = {lang: [code for kind, code in blocks if kind == lang] for lang in ("python", "sh")}
    return out


def dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return base and f"{base}.{node.attr}"
    return None


def summary(tree) -> tuple[set, set, set]:
    """(imports, dotted names called, exporter calls as source) of an AST."""
    imports, calls, exports = set(), set(), set()
    exporters = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            imports |= {(n.module, a.name, a.asname) for a in n.names}
            if "nir" in n.module.split(".")[-1] or n.module.endswith("nir_exchange"):
                exporters |= {a.asname or a.name for a in n.names}
        elif isinstance(n, ast.Import):
            imports |= {(None, a.name, a.asname) for a in n.names}
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and (name := dotted(n.func)):
            calls.add(name)
            if name in exporters:
                exports.add(ast.unparse(n))
    return imports, calls, exports


def fixture_function(fw: str):
    tree = ast.parse((FIXTURES / "make_fixtures.py").read_text())
    return next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == f"fixtures_{fw}")


def test_every_framework_has_a_recipe():
    assert list(recipes()) == FRAMEWORKS
    for fw, blocks in recipes().items():
        assert len(blocks["python"]) == 1 and blocks["sh"], fw


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_recipe_makes_the_calls_the_fixture_script_makes(fw):
    code = recipes()[fw]["python"][0]
    imports, calls, exports = summary(ast.parse(code))
    f_imports, f_calls, f_exports = summary(fixture_function(fw))
    missing = {i for i in imports if (i[1] if i[0] is None else i[0]).split(".")[0] not in COMMON} - f_imports
    assert not missing, f"{fw}: the recipe imports what make_fixtures.py does not: {missing}"
    roots = {a or n.split(".")[0] if m is None else a or n for m, n, a in imports
             if (n if m is None else m).split(".")[0] not in COMMON}
    framework_calls = {c for c in calls if c.split(".")[0] in roots}
    assert framework_calls - f_calls == set(), f"{fw}: calls that make_fixtures.py does not make"
    assert exports, f"{fw}: the recipe does not call the exporter"
    assert exports <= f_exports, f"{fw}: exporter call {exports} differs from make_fixtures.py's {f_exports}"
    assert 'nir.write("model.nir", graph)' in code


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_recipe_import_lines_import_the_frameworks_fixture(fw, tmp_path, capsys):
    fixture = sorted(FIXTURES.glob(f"{fw}_*.nir"))[0]
    lines = [ln for block in recipes()[fw]["sh"] for ln in block.splitlines() if ln.startswith("edgesnn import")]
    assert lines
    for ln in lines:
        argv = shlex.split(ln, comments=True)[1:]
        assert argv[argv.index("--dialect") + 1] == fw
        argv = [str(fixture) if a == "model.nir" else str(tmp_path / "m.json") if a == "model.json" else a
                for a in argv]
        assert main(argv) == 0, (ln, capsys.readouterr().err)
        assert capsys.readouterr().err == "", ln  # the recipe's dt is the exporter's: no warning
