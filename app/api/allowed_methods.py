"""The methods a path allows, for the `Allow` header of a 405.

The router hands a request whose path matches but whose method does not to the first
route of that path, and that route's 405 lists only its own methods: `/api/sessions/{id}`
answered `Allow: GET` though PATCH and DELETE are routed too. Here every route of the
app is asked, for each method, whether it matches the path fully, whatever the nesting
(FastAPI's included routers), so `Allow` lists every method the path has; static files,
which a mount matches for any method, allow GET and HEAD (their own 405's). The
cost — route matching once per method — is paid only on a 405.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(scope: Scope) -> list[str]:
    """Return the methods some route of the scope's app answers on the scope's path."""
    routes = scope["app"].router.routes
    found = []
    for method in METHODS:
        probe = {"type": "http", "method": method, "path": scope["path"],  # a fresh scope:
                 # matching writes into it; a mount rewrote root_path, not app_root_path
                 "root_path": scope.get("app_root_path", scope.get("root_path", "")),
                 "headers": scope.get("headers", [])}
        if any(not isinstance(getattr(route, "app", None), StaticFiles)  # any method
               and route.matches(probe)[0] is Match.FULL for route in routes):  # matches it
            found.append(method)
    return found


def allow_header(request: Request) -> str:
    """Return the `Allow` header of a 405 on this request's path."""
    return ", ".join(allowed_methods(request.scope))
