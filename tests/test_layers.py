"""Layers only point down (docs/architecture.md, "Layers"): every gtgan module's imports, read
with ast (top-level and inside functions alike), may name only its own layer's group or a lower
layer, and the import graph has no cycle. Imports under `if TYPE_CHECKING:` are for typing
only and do not count."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gtgan"

# Bottom first. A layer may hold several groups; groups of one layer never import each other
# (training and metrics know nothing of each other). A module's group: the longest prefix below.
LAYERS: list[list[str]] = [
    ["gtgan.errors gtgan.fileio gtgan.folders gtgan.config gtgan.device gtgan.images"],  # foundation
    ["gtgan.models"],
    ["gtgan.data"],
    ["gtgan.presets"],
    ["gtgan.storage"],
    ["gtgan.pipeline"],
    ["gtgan.training", "gtgan.metrics"],
    ["gtgan.demo gtgan.demo_report gtgan.serve"],  # the demo and the web page over a model
    ["gtgan.cli"],
]
# The package root `gtgan` is the public facade: it defines `__version__` eagerly (importable
# from anywhere) and re-exports TextToImage / load_generator lazily (so `gtgan --version` does
# not import torch); its own imports are not layered.
ROOT = "gtgan"
ALLOWED_UPWARD: set[tuple[str, str]] = set()  # (importer, imported) pairs excused; none now


def _groups() -> dict[str, tuple[int, int]]:
    out = {}
    for rank, layer in enumerate(LAYERS):
        for g, group in enumerate(layer):
            for prefix in group.split():
                out[prefix] = (rank, g)
    return out


GROUPS = _groups()


def place(module: str) -> tuple[int, int]:
    """(layer, group) of a module: its longest listed prefix."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in GROUPS:
            return GROUPS[prefix]
    raise AssertionError(f"{module}: in no layer; add it to LAYERS in tests/test_layers.py "
                         "and to the table in docs/architecture.md")


def module_files(root: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skip.update(id(n) for n in ast.walk(inner))
    return skip


def imports_of(module: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The gtgan modules `module` imports (relative imports resolved; `from X import name`
    counts as X.name when that is a module, else X)."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m == ROOT or m.startswith(ROOT + ".")}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = module_files(root)
    known = set(files)
    return {m: imports_of(m, p.read_text(), p.name == "__init__.py", known) - {m}
            for m, p in files.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        if module == ROOT:
            continue
        rank, group = place(module)
        for target in sorted(targets):
            if target == ROOT or (module, target) in ALLOWED_UPWARD:
                continue
            t_rank, t_group = place(target)
            if t_rank > rank:
                bad.append(f"{module} imports {target}, a layer above it")
            elif t_rank == rank and t_group != group:
                bad.append(f"{module} imports {target}, beside it in the same layer")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), and self-loops."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w == ROOT:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# ---------------------------------------------------------------- the package
def test_every_module_has_a_layer():
    for module in module_files():
        if module != ROOT:
            place(module)


def test_layers_only_point_down():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    graph = import_graph()
    graph = {m: {t for t in ts if (m, t) not in ALLOWED_UPWARD} for m, ts in graph.items()}
    assert cycles(graph) == []


def test_the_allowed_upward_edge_is_still_needed():
    """Delete ALLOWED_UPWARD entries once the code no longer has them."""
    graph = import_graph()
    for module, target in ALLOWED_UPWARD:
        assert target in graph[module]


# ---------------------------------------------------------------- the checks can fail
def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "gtgan"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_an_upward_import_is_found(tmp_path):
    root = _fake_package(tmp_path, {
        "models/__init__.py": "", "training/__init__.py": "", "metrics/__init__.py": "",
        "models/generator.py": "def f():\n    from ..training import loop\n",  # inside a function
        "training/loop.py": "from ..models import generator\n",
        "metrics/fid.py": "from gtgan.training.loop import x\n",
        "device.py": "from .pipeline import TextToImage\n",
        "pipeline.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .demo import x\n",
    })
    bad = upward_imports(import_graph(root))
    assert "gtgan.models.generator imports gtgan.training.loop, a layer above it" in bad
    assert "gtgan.metrics.fid imports gtgan.training.loop, beside it in the same layer" in bad
    assert "gtgan.device imports gtgan.pipeline, a layer above it" in bad
    assert not any(b.startswith("gtgan.training.loop") for b in bad)
    assert not any(b.startswith("gtgan.pipeline") for b in bad)  # typing-only import


def test_a_cycle_is_found(tmp_path):
    root = _fake_package(tmp_path, {
        "data/__init__.py": "",
        "data/encoders.py": "def table():\n    from .cub import t\n",
        "data/cub.py": "from .encoders import TextEncoder\n",
        "data/base.py": "",
    })
    assert cycles(import_graph(root)) == [["gtgan.data.cub", "gtgan.data.encoders"]]


@pytest.mark.parametrize("module", ["gtgan.nowhere", "gtgan2.data"])
def test_a_module_without_a_layer_is_named(module):
    with pytest.raises(AssertionError, match="in no layer"):
        place(module)
