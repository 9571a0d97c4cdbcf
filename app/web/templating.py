"""The Jinja2 environment of the pages (autoescaped, templates found wherever installed)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.paths import TEMPLATES_DIR

from .diagram import edge_colour, edge_width, tone_colour
from .format import num, sub, sup
from .frames import status_text

WARM = ("session/page.html", "session/controls.html", "session/network.html",
        "session/output.html", "partials/macros.html")  # what nearly every request renders


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Return the shared environment: templates compiled once per process, at startup
    (`app.main`'s lifespan builds it before the app's objects are frozen)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                      autoescape=select_autoescape(["html"]), auto_reload=False)
    env.globals.update(num=num, sub=sub, sup=sup, tone_colour=tone_colour,
                       edge_colour=edge_colour, edge_width=edge_width,
                       status_text=status_text)
    for name in WARM:
        env.get_template(name)
    return env
