"""The Jinja2 environment of the pages (autoescaped, templates found wherever installed)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.paths import TEMPLATES_DIR


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Return the shared environment (templates are compiled once per process)."""
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                       autoescape=select_autoescape(["html"]), auto_reload=False)
