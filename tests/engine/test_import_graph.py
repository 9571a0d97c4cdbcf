"""The engine's modules import one another one way: no cycle, not even through an import
hidden inside a function (grimp reads those too), and no import of the app hides there."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TypeGuard

import grimp
import pytest

ENGINE = Path(__file__).resolve().parents[2] / "app" / "engine"


def _imports_within(package: str) -> dict[str, set[str]]:
    """Return each module of the package → the modules of the package it imports."""
    graph = grimp.build_graph(package.split(".")[0], cache_dir=None)
    inside = {m for m in graph.modules if m.startswith(package + ".")}
    return {m: graph.find_modules_directly_imported_by(m) & inside for m in sorted(inside)}


def _cycle(imports: Mapping[str, set[str]]) -> list[str]:
    """Return one import cycle as [a, b, …, a], or [] when there is none (depth-first)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str]:
        if module in path:
            return [*path[path.index(module):], module]
        if module in done:
            return []
        path.append(module)
        for imported in sorted(imports.get(module, ())):
            if found := visit(imported):
                return found
        path.pop()
        done.add(module)
        return []

    for module in sorted(imports):
        if found := visit(module):
            return found
    return []


def test_the_engine_imports_have_no_cycle() -> None:
    cycle = _cycle(_imports_within("app.engine"))
    assert not cycle, "import loop: " + " → ".join(cycle)


def test_a_loop_closed_inside_a_function_is_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the engine whose losses import spec back inside a function, as the
    registries once did: the check above would name the loop."""
    copy = tmp_path / "engine_with_a_loop"
    shutil.copytree(ENGINE, copy)
    losses = copy / "losses.py"
    losses.write_text(losses.read_text() + "\n\ndef _hidden() -> None:\n"
                      "    from .spec import SpecError  # noqa\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cycle = _cycle(_imports_within(copy.name))
    assert {f"{copy.name}.losses", f"{copy.name}.spec"} <= set(cycle)
    assert cycle[0] == cycle[-1]


def _is_app_import(node: ast.AST) -> TypeGuard[ast.Import | ast.ImportFrom]:
    """Return True for an import of the app: relative, or of a module named app…"""
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "app"
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "app" for a in node.names)


def _hidden_app_imports(path: Path) -> list[str]:
    """Return 'file:line' of each import of the app made below the module's top level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(statement) for statement in tree.body}
    return [f"{path.name}:{node.lineno}" for node in ast.walk(tree)
            if _is_app_import(node) and id(node) not in top]


def test_every_engine_import_of_the_app_stands_at_the_top_of_its_module() -> None:
    hidden = [hit for path in sorted(ENGINE.glob("*.py")) for hit in _hidden_app_imports(path)]
    assert not hidden, "imports inside a function: " + ", ".join(hidden)
