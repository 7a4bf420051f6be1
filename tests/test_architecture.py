"""The package's import graph: dependencies point one way, with no cycles (DESIGN.md, "Layout").

Every module of ``hyenadna_kipoi`` (and of a top-level ``kernels/``, which the wheel installs
as ``hyenadna_kipoi.kernels``: both spellings are one module) is read with ``ast``. Every
``import`` and ``from ... import`` counts, function-level ones included, except those under
``if TYPE_CHECKING:`` (type hints only, never run). Importing ``P.M`` also runs the package
``P/__init__.py``, so that counts as an import of ``P`` too (unless ``P`` contains the importer).

The layers, lowest first; a module may import its own layer and the layers below:

0 foundation  ``kernels`` and the utilities that know nothing of the model: ``errors``, ``io``,
              ``device``, ``tokenizer``, ``download``, ``numerics``, ``resources``, ``_version``,
              ``config_schema`` (YAML + schema validation), ``cli_args`` (argparse only). They sit below the model so that the model may use
              them and they can never use it. ``kernels`` import nothing but ``kernels``.
1 model       ``model`` (the plain reference), ``fast_path`` and ``fast_train`` (the same numbers, on kernels)
2 core        ``checkpoints``, ``heads``, ``model_commands`` (info/fetch/convert)
3 uses        ``data``, ``train``, ``score``
4 finetune    ``finetune``
5 apps        ``cli``, ``kipoi``, ``workflow``, ``demo`` and every ``__main__`` module; ``zoo`` (the
              Kipoi group's thin ``model.py``/``dataloader.py``, package data kipoi loads by path)

``hyenadna_kipoi/__init__.py`` is the public façade: it may import anything (lazily or not), but
no module of the package imports ``hyenadna_kipoi`` itself; they import the submodules they need.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = "hyenadna_kipoi"
KERNELS = f"{PACKAGE}.kernels"

LAYERS: dict[str, int] = {
    "kernels": 0, "errors": 0, "io": 0, "device": 0, "tokenizer": 0, "download": 0, "numerics": 0,
    "resources": 0, "_version": 0, "cli_args": 0, "config_schema": 0,
    "model": 1, "fast_path": 1, "fast_train": 1,
    "checkpoints": 2, "heads": 2, "model_commands": 2,
    "data": 3, "train": 3, "score": 3,
    "finetune": 4,
    "cli": 5, "kipoi": 5, "workflow": 5, "demo": 5, "zoo": 5,
}
LAYER_NAMES = ("foundation", "model", "core", "data/train/score", "finetune", "apps")
MAIN_LAYER = 5


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (a package's __init__ is the package's name)
    where: str  # file:line of the import statement
    via: str = ""  # the import that runs this package's __init__, for implicit package edges

    def describe(self) -> str:
        init = self.target.replace(".", "/") + "/__init__.py"
        what = f"imports {self.via}, which runs {init}" if self.via else f"imports {self.target}"
        return f"{self.where}: {self.source} {what}"


# --------------------------------------------------------------------------- reading the package


def discover(repo: Path = REPO) -> dict[str, Path]:
    """Module name -> file, for the package and a top-level kernels/ (named as hyenadna_kipoi.kernels)."""
    modules: dict[str, Path] = {}
    for root, prefix in ((repo / PACKAGE, PACKAGE), (repo / "kernels", KERNELS)):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = [prefix, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _normalise(name: str) -> str:
    return KERNELS + name[len("kernels"):] if name == "kernels" or name.startswith("kernels.") else name


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that runs: all depths, minus the bodies of ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit_stmt(stmt)
                continue
            visit_stmt(child)

    def visit_stmt(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        visit(node)

    visit(tree)
    return found


def module_edges(name: str, source: str, filename: str, modules: dict[str, Path], is_package: bool) -> list[Edge]:
    """The package-internal imports of one module (``source`` is its text)."""
    package = name if is_package else name.rpartition(".")[0]
    targets: list[tuple[str, int]] = []
    for node in _imports(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            targets += [(_normalise(alias.name), node.lineno) for alias in node.names]
            continue
        if node.level:
            base_parts = package.split(".")
            base_parts = base_parts[:len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = _normalise(node.module or "")
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.append((sub if sub in modules else base, node.lineno))
    edges: list[Edge] = []
    for target, line in targets:
        if target != PACKAGE and not target.startswith(PACKAGE + "."):
            continue
        while target not in modules and "." in target:  # `import hyenadna_kipoi.x.attr`: the module x
            target = target.rpartition(".")[0]
        where = f"{filename}:{line}"
        edges.append(Edge(name, target, where))
        parts = target.split(".")
        for i in range(2, len(parts)):  # the packages between the façade and the target run first
            pkg = ".".join(parts[:i])
            if pkg in modules and not (name == pkg or name.startswith(pkg + ".")):
                edges.append(Edge(name, pkg, where, via=target))
    return edges


def import_graph(repo: Path = REPO) -> tuple[dict[str, Path], list[Edge]]:
    modules = discover(repo)
    edges: list[Edge] = []
    for name, path in modules.items():
        edges += module_edges(name, path.read_text(), str(path.relative_to(repo)), modules, path.name == "__init__.py")
    return modules, [e for e in dict.fromkeys(edges) if e.source != e.target]  # one per (import, target)


def layer(module: str) -> int | None:
    """The module's layer; None for the façade and for a part missing from LAYERS."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[-1] == "__main__":
        return MAIN_LAYER
    return LAYERS.get(parts[1])


def cycles(modules: dict[str, Path], edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:  # recursion depth is bounded by the module count (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
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
            connect(v)
    return found


# --------------------------------------------------------------------------- the rules


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], list[Edge]]:
    return import_graph()


def test_the_scanner_sees_function_level_imports_and_skips_type_checking_blocks():
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from . import errors\n"
        "from .score import commands as sc, embed_sequences\n"
        "import kernels.dispatch\n"
        "if TYPE_CHECKING:\n"
        "    from .heads import Head\n"
        "if typing.TYPE_CHECKING:\n"
        "    from .finetune import trainer\n"
        "else:\n"
        "    from .data import genome\n"
        "def f():\n"
        "    from .checkpoints import load_model\n"
        "    import hyenadna_kipoi\n"
    )
    names = ["", ".errors", ".score", ".score.commands", ".kernels", ".kernels.dispatch", ".heads", ".finetune",
             ".finetune.trainer", ".data", ".data.genome", ".checkpoints", ".cli"]
    modules = {PACKAGE + n: Path() for n in names}
    edges = module_edges(f"{PACKAGE}.cli", source, "cli.py", modules, is_package=False)
    got = {(e.target.removeprefix(PACKAGE), int(e.where.rsplit(":", 1)[1]), bool(e.via)) for e in edges}
    assert got == {
        (".errors", 3, False),
        (".score.commands", 4, False), (".score", 4, False), (".score", 4, True),  # runs score/__init__.py
        (".kernels.dispatch", 5, False), (".kernels", 5, True),  # top-level kernels = hyenadna_kipoi.kernels
        (".data.genome", 11, False), (".data", 11, True),  # the else branch of TYPE_CHECKING runs
        (".checkpoints", 13, False), ("", 14, False),  # function-level imports count
    }


def test_every_module_has_a_layer(graph):
    modules, _ = graph
    missing = sorted(m for m in modules if m != PACKAGE and layer(m) is None)
    assert not missing, ("modules without a layer (add their top-level part to LAYERS in "
                         "tests/test_architecture.py, and to DESIGN.md's layout): " + ", ".join(missing))


def test_no_import_cycles(graph):
    modules, edges = graph
    found = cycles(modules, edges)
    if found:
        lines = []
        for component in found:
            members = set(component)
            lines.append("import cycle among " + ", ".join(component) + ":")
            lines += [f"  {e.describe()}" for e in edges if e.source in members and e.target in members]
        pytest.fail("\n".join(lines))


def test_imports_point_down_the_layers(graph):
    _, edges = graph
    upward = []
    for e in edges:
        src, dst = layer(e.source), layer(e.target)
        if src is not None and dst is not None and dst > src:
            upward.append(f"{e.describe()}: layer {src} ({LAYER_NAMES[src]}) must not import layer {dst} "
                          f"({LAYER_NAMES[dst]}); move the shared code down, or pass it in")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_module_imports_the_public_facade(graph):
    _, edges = graph
    bad = [f"{e.describe()}: import the submodule that defines the name instead (the package __init__ is the "
           "public API, for users)" for e in edges if e.target == PACKAGE and e.source != PACKAGE]
    assert not bad, "\n".join(bad)


def test_kernels_import_only_kernels(graph):
    _, edges = graph
    def inside(module: str) -> bool:
        return module == KERNELS or module.startswith(KERNELS + ".")

    bad = [e.describe() for e in edges if inside(e.source) and not inside(e.target)]
    assert not bad, "kernels know nothing of the rest of the package:\n" + "\n".join(bad)
