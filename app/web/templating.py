"""The Jinja2 environment of the pages (autoescaped, templates found wherever installed)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.paths import TEMPLATES_DIR

WARM = ("session.html", "partials/macros.html")  # the templates nearly every request renders


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Return the shared environment: templates compiled once per process, at startup
    (`app.main`'s lifespan builds it before the app's objects are frozen)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                      autoescape=select_autoescape(["html"]), auto_reload=False)
    for name in WARM:
        env.get_template(name)
    return env


def render_blocks(template_name: str, blocks: Iterable[str], **context: Any) -> str:
    """Render named blocks of a template, one after the other, in one shared context.

    What jinja2-fragments' `render_blocks` does, less a copy of the context per block
    (a fragment renders up to a dozen blocks; a block's `set` stays local to it).
    """
    env = environment()
    template = env.get_template(template_name)
    ctx = template.new_context(context)
    try:
        return "".join(env.concat(template.blocks[name](ctx))
                       for name in blocks)
    except Exception:
        env.handle_exception()
        raise
