"""Where the templates and static files are, wherever the package is installed.

In a checkout they sit at the top level (`templates/`, `static/`); in a wheel or image
they are copied into the package as `app/_templates` and `app/_static` at build time.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (PACKAGE / f"_{name}", PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    return PACKAGE.parent / name


TEMPLATES_DIR = _find("templates")
STATIC_DIR = _find("static")
