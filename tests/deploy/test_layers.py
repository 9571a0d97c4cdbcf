"""The layers point one way (engine ← sessions ← api | web), as the import contracts in
pyproject.toml say: they hold for the app as it is, and an import against them — even
one hidden inside a function — breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT = Path(sys.executable).with_name("lint-imports")
WRONG = {  # a file of the app, an import against the layers, the contract it breaks
    "api imports web": ("app/api/errors.py", "from app.web import panels", "Layers"),
    "web imports api": ("app/web/panels.py", "from app.api import sessions", "Layers"),
    "sessions imports web": ("app/sessions/costs.py", "from app.web import context", "Layers"),
    "engine imports sessions": ("app/engine/losses.py", "from app.sessions import model",
                                "engine is pure"),
    "engine reads settings": ("app/engine/maps.py", "from app import settings",
                              "engine is pure"),
}


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(root)})


def test_the_app_keeps_its_import_contracts() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("case", list(WRONG))
def test_an_import_against_the_layers_breaks_a_contract(case: str, tmp_path: Path) -> None:
    """A copy of the app with one wrong import, inside a function as the hidden loops
    were: the contracts fail, naming the module that imports."""
    path, line, contract = WRONG[case]
    shutil.copytree(ROOT / "app", tmp_path / "app")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    source = tmp_path / path
    source.write_text(source.read_text() + f"\n\ndef _wrong() -> None:\n    {line}  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0, done.stdout[-3000:]
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert path.removesuffix(".py").replace("/", ".") in broken
