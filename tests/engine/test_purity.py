"""The engine is pure NumPy: importing it must not pull in any web layer."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "app" / "engine"
FORBIDDEN = ("fastapi", "starlette", "pydantic", "jinja2", "app.api", "app.web", "app.sessions")


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_engine_module_imports_a_web_layer() -> None:
    offenders = {
        f"{p.name}: {name}"
        for p in ENGINE.glob("*.py")
        for name in _imports(p)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not offenders


def test_importing_the_engine_loads_no_web_package() -> None:
    code = (
        "import sys, pkgutil, importlib, app.engine as e\n"
        "for m in pkgutil.iter_modules(e.__path__):\n"
        "    importlib.import_module('app.engine.' + m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} or "
        f"any(m.startswith(f) for f in {FORBIDDEN!r})]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ENGINE.parents[1])
    assert out.stdout.strip() == ""
