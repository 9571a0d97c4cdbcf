"""HTML routes: full pages, and HTMX fragments swapped out-of-band by panel id.

One router assembled from the modules by role: `pages`, `edits`, `training`, `tools`
(what they share is in `common`).
"""

from __future__ import annotations

from fastapi import APIRouter

from . import edits, pages, tools, training
from .common import error_html

router = APIRouter(include_in_schema=False)
for part in (pages, edits, training, tools):
    router.include_router(part.router)

__all__ = ["error_html", "router"]
