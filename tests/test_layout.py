"""The house's rules, computed from the source: no import cycle, imports only go down the layers,
every room is in a layer, and the top-level API is lazy.

The import graph is read from the AST of every module: every ``import`` statement counts, also
inside functions, under ``if TYPE_CHECKING:`` and in ``try``/``except`` (the places cycles used to
hide). Independently of import-linter (which ``make lint`` runs on the same contract).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "actionkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The actionkit modules ``path`` (module ``name``) imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from a import b`: module a.b if there is one, else a
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported(path, name, set(mods)) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def layers() -> list[list[str]]:
    """The layers of the import contract in pyproject.toml, top first."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[m.strip() for m in layer.split("|")] for layer in contract["layers"]]


def layer_of(module: str, table: list[list[str]]) -> tuple[int, str] | None:
    """``(depth from the top, the layer's room)`` of ``module``, or None (the root package)."""
    for depth, rooms in enumerate(table):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                return depth, room
    return None


def upward_imports(graph: dict[str, set[str]], table: list[list[str]]) -> list[str]:
    """Imports that go up the layers or across independent siblings."""
    bad = []
    for source, targets in graph.items():
        here = layer_of(source, table)
        for target in targets:
            there = layer_of(target, table)
            if here is None or there is None or here[1] == there[1]:
                continue
            if there[0] <= here[0]:  # above, or an independent sibling
                bad.append(f"{source} -> {target}")
    return sorted(bad)


# -- the checks ----------------------------------------------------------------------------------
def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "actionkit.video._pyav" in graph["actionkit.video.reader"]  # `from x import module`
    assert "actionkit.train.workflow" in graph["actionkit.train.demo"]  # TYPE_CHECKING / in a def
    assert "actionkit.models._registry" in graph["actionkit.models.io"]
    assert len(graph) > 50


def test_no_import_cycle_inside_actionkit():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": {"g"}, "g": {"f"}}
    assert cycles(graph) == [["a", "b", "c"], ["f", "g"]]


def test_imports_only_go_down_the_layers():
    assert upward_imports(import_graph(), layers()) == []


def test_the_layer_check_catches_a_wrong_import():
    table = layers()
    graph = {
        "actionkit.models.tsn": {"actionkit.datasets.sample"},  # siblings: independent
        "actionkit.train.learner": {"actionkit.ui.plots", "actionkit.data.dataset"},
        "actionkit.utils.pool": {"actionkit.spec"},
    }
    assert upward_imports(graph, table) == [
        "actionkit.models.tsn -> actionkit.datasets.sample",
        "actionkit.train.learner -> actionkit.ui.plots",
        "actionkit.utils.pool -> actionkit.spec",
    ]


def test_every_subpackage_is_in_a_layer():
    table = layers()
    rooms = {room for layer in table for room in layer}
    top = {module_name(p) for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    top -= {"actionkit", "actionkit.__pycache__"}
    assert top == rooms, "a new room must be put in a layer of pyproject.toml's contract"


def test_import_linter_agrees():
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():
        pytest.fail(f"{linter} is missing: install the dev extra (pip install -e '.[dev]')")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_package_files_stay_readable_in_one_sitting():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420
    }
    assert long == {}
