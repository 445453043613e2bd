"""The package's modules import each other without cycles and without private names.

Parsed from the source (imports under TYPE_CHECKING count too): a cycle or a private name
crossing modules is a design fault even when Python happens to import it.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGES = ("fragcge", "fragcge.model", "fragcge.calibration", "fragcge.scenarios")


def _modules() -> dict[str, Path]:
    """Dotted name -> source file of every module of the package."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        root = Path(importlib.import_module(package).__path__[0])
        for path in root.rglob("*.py"):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            out.setdefault(".".join([package, *parts]), path)
    return out


def _imports(modules: dict[str, Path]) -> dict[str, list[tuple[str, str]]]:
    """Module -> (imported module, imported name or '') for every import of a package module."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name, path in modules.items():
        found: list[tuple[str, str]] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.append((sub, "") if sub in modules else (node.module, alias.name))
            elif isinstance(node, ast.Import):
                found += [(a.name, "") for a in node.names if a.name in modules]
        out[name] = found
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of graph as a path that returns to its start; [] when there is none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    imports = _imports(modules)
    # A package's __init__ importing its own modules is not a cycle through them.
    graph = {
        m: {dep for dep, _ in deps if dep != m and modules[m].name != "__init__.py"}
        for m, deps in imports.items()
    }
    assert _cycle(graph) == []


def test_no_private_name_imported_from_another_module() -> None:
    imports = _imports(_modules())
    crossing = [
        f"{m} imports {dep}.{name}"
        for m, deps in imports.items()
        for dep, name in deps
        if name.startswith("_") and not name.startswith("__")
    ]
    assert crossing == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "d": {"a"}}) == []
