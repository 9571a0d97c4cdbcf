"""A wheel built from a clean checkout holds the templates and static files.

pyproject.toml maps templates/ and static/ into the package as app/_templates and
app/_static, and lists every package of app/ by hand (a mapping cannot be combined with
automatic discovery): these tests catch a missing package or file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.conftest import ROOT

SHIPPED = ("pyproject.toml", "README.md", "app", "templates", "static")
MAPPED = {"app._templates": "templates", "app._static": "static"}


def _packages_in_the_tree() -> set[str]:
    return {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "app").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def _files(folder: str) -> set[str]:
    return {
        p.relative_to(ROOT / folder).as_posix()
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_pyproject_lists_every_package_of_app() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == MAPPED
    assert set(setuptools["packages"]) == _packages_in_the_tree() | set(MAPPED)


def test_a_wheel_from_a_clean_checkout_holds_templates_and_static(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name in SHIPPED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(origin, src / name)
    out = tmp_path / "wheels"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(out),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("backprop_playground-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package, folder in MAPPED.items():
        prefix = package.replace(".", "/")
        expected = {f"{prefix}/{name}" for name in _files(folder)}
        assert expected
        assert expected <= names, sorted(expected - names)
    assert "app/paths.py" in names


def test_the_lock_pins_every_dependency_pyproject_names() -> None:
    """requirements.lock holds an exact version of every dependency and extra of
    pyproject.toml (installs are reproducible), and nothing of the app itself."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"],
              *(d for extra in project["optional-dependencies"].values() for d in extra)]
    lines = [line for line in (ROOT / "requirements.lock").read_text().splitlines()
             if line and not line.startswith("#")]
    pinned = {_name(line.split("==")[0]) for line in lines if "==" in line}
    assert all("==" in line for line in lines), "every line pins one exact version"
    missing = {_name(re.split(r"[\[<>=!~;, ]", d)[0]) for d in wanted} - pinned
    assert missing <= {"setuptools"}, missing  # pip leaves setuptools out of a freeze
    assert _name(project["name"]) not in pinned


def _name(text: str) -> str:
    """Return a distribution name as pip compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", text).lower().strip()
