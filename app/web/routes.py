"""HTML routes: the pages, and the fragments that refresh the parts a learner sees.

One router assembled from the rooms of the page: `pages` (landing, session, views),
`controls` (the control bar), `data`, `network`, `inspector`, `tools` (check and copy)
and `play` (the live stream).
"""

from __future__ import annotations

from fastapi import APIRouter

from . import controls, data, inspector, network, pages, play, tools

router = APIRouter(include_in_schema=False)
for part in (pages, controls, data, network, inspector, tools, play):
    router.include_router(part.router)

__all__ = ["router"]
