"""The layers hold: read from the source itself (every import, lazy ones included), not from a diagram.

- ``server.domain`` imports nothing above it (no service, adapter, API, nor the workbench);
- the server never imports the workbench;
- ``workbench.engine`` imports neither the application side (``workbench.app``, the CLI) nor Textual or
  an HTTP client;
- no two modules of ``server`` or ``workbench`` import each other, directly or round a longer circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "workbench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports (absolute, relative resolved), at any depth of the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)  # ``from pkg import module``


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for target in imported(name, path):
            if target in known and target != name:
                targets.add(target)
            elif target.split(".")[0] not in PACKAGES:
                targets.add(target)  # third-party: kept for the layer rules
        edges[name] = targets
    return edges


def test_the_domain_imports_nothing_above_it(graph: dict[str, set[str]]) -> None:
    wrong = {
        (source, target)
        for source, targets in graph.items()
        if source.startswith("server.domain")
        for target in targets
        if target.split(".")[0] in PACKAGES and not target.startswith("server.domain")
    }
    assert wrong == set()


def test_the_server_never_imports_the_workbench(graph: dict[str, set[str]]) -> None:
    wrong = {
        (source, target)
        for source, targets in graph.items()
        if source.startswith("server")
        for target in targets
        if target.startswith("workbench")
    }
    assert wrong == set()


def test_the_batch_engine_stays_below_the_application(graph: dict[str, set[str]]) -> None:
    wrong = {
        (source, target)
        for source, targets in graph.items()
        if source.startswith("workbench.engine")
        for target in targets
        if target.startswith(("workbench.app", "workbench.cli", "textual", "httpx", "rich"))
    }
    assert wrong == set()


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), among our own modules."""
    ours = {name: {t for t in targets if t in graph} for name, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(ours[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(ours):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    # A package importing its own submodules (``__init__`` re-exports) is not a circle of the code;
    # leave packages' ``__init__`` out of the graph.
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    code = {name: targets - packages for name, targets in graph.items() if name not in packages}
    assert circles(code) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
