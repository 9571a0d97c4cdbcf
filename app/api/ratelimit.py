"""Per-client limits on creating sessions: a token bucket per client address, per process.

Every route that creates a session — the JSON API's create, import and fork, the HTML
new-network form, copy link, recipe link, compare and upload — draws one token from the
client's bucket (a new creating route must be added to `CREATING`). A bucket holds
`create_rate` tokens and refills at `create_rate` per `create_rate_window` seconds; an empty
bucket answers 429 with `Retry-After` before the request is read. `install` also documents
that 429 in the OpenAPI of the creating operations.

The client is `scope["client"]`, i.e. `request.client.host`: behind a reverse proxy,
uvicorn's proxy headers rewrite it from `X-Forwarded-For` only when `FORWARDED_ALLOW_IPS`
is set and the peer is one of its addresses (unset, the default, the peer is the client),
so an untrusted client cannot pick its own bucket.

Trade-offs: buckets live in this process's memory. With several workers or replicas each
counts on its own (the effective limit is the rate times their number), and a restart
forgets them. At most `MAX_CLIENTS` buckets are kept; the least recently used is dropped
first (that client starts again with a full bucket).
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.sessions.errors import ServiceError

from .errors import ErrorPage

ErrorBeside = Callable[[ServiceError, str], Response]  # (refusal, slot) → beside the control

MAX_CLIENTS = 100_000  # buckets kept in memory at most (≈ 100 bytes each)
RATE_LIMITED = {  # the 429 as the OpenAPI of a creating operation documents it
    "description": "Too many new sessions from this address (see Retry-After)",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}

# Routes that create a session: (methods, path pattern, the HTML error slot or None for JSON).
CREATING: tuple[tuple[frozenset[str], re.Pattern[str], str | None], ...] = (
    (frozenset({"POST"}), re.compile(r"/api/sessions/?"), None),
    (frozenset({"POST"}), re.compile(r"/api/sessions/import"), None),
    (frozenset({"POST"}), re.compile(r"/api/sessions/[^/]+/fork"), None),
    (frozenset({"POST"}), re.compile(r"/new"), "new"),
    (frozenset({"GET", "POST"}), re.compile(r"/s/[^/]+/copy"), "copy"),
    (frozenset({"GET"}), re.compile(r"/v/[^/]+/copy"), "copy"),  # a reader's own copy
    (frozenset({"POST"}), re.compile(r"/import"), "import"),
    (frozenset({"POST"}), re.compile(r"/s/[^/]+/compare"), "compare"),
    (frozenset({"GET"}), re.compile(r"/r"), "recipe"),  # a recipe link opens a new session
)


def creating_route(method: str, path: str) -> tuple[bool, str | None]:
    """Return (whether the request creates a session, its HTML error slot)."""
    for methods, pattern, slot in CREATING:
        if method in methods and pattern.fullmatch(path):
            return True, slot
    return False, None


def client_key(scope: Scope) -> str:
    """Return the address a request is counted under (as uvicorn's proxy headers left it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


@dataclass
class TokenBucket:
    """`rate` requests per `window` seconds for each key, with bursts up to `rate`."""

    rate: int  # tokens a full bucket holds; 0 disables the limit
    window: float  # seconds to refill an empty bucket
    clock: Callable[[], float] = time.monotonic
    max_keys: int = MAX_CLIENTS
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def take(self, key: str) -> float:
        """Take one token for `key`; return 0 if granted, else the seconds until one is."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        per_second = self.rate / self.window
        tokens, then = self._buckets.pop(key, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - then) * per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / per_second
        self._buckets[key] = (tokens, now)  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class CreateRateLimit:
    """ASGI middleware: refuse session creation over the client's rate with 429."""

    def __init__(self, app: ASGIApp, rate: int, window: float, page: ErrorPage | None = None,
                 beside: ErrorBeside | None = None) -> None:
        self.app = app
        self.bucket = TokenBucket(rate, window)
        self.page, self.beside = page, beside

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count requests that create a session; answer 429 when the bucket is empty."""
        if scope["type"] == "http" and self.bucket.rate > 0:
            creates, slot = creating_route(scope["method"], scope["path"])
            if creates:
                wait = self.bucket.take(client_key(scope))
                if wait > 0:
                    await self.refusal(scope, slot, wait)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope, slot: str | None, wait: float) -> Response:
        """Return the 429: the one JSON error shape, or HTML for the browser routes."""
        retry = max(1, math.ceil(wait))
        message = (
            f"Too many new sessions from your address: at most {self.bucket.rate} "
            f"per {self.bucket.window:g} s. Try again in {retry} s."
        )
        headers = {"Retry-After": str(retry)}
        if slot is not None and self.page is not None and self.beside is not None:
            html = _html(scope, slot, message, self.page, self.beside)
            if html is not None:
                html.headers.update(headers)
                return html
        body = {
            "error": {
                "code": "rate_limited",
                "message": message,
                "field": None,
                "limit": self.bucket.rate,
            }
        }
        return JSONResponse(body, status_code=429, headers=headers)


def _html(scope: Scope, slot: str, message: str, page: ErrorPage,
          beside: ErrorBeside) -> Response | None:
    """Return the HTML refusal: the message beside the control for htmx, the error page
    for a browser request (None for any other client)."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if headers.get("hx-request"):
        response = beside(ServiceError(429, "rate_limited", message), slot)
        response.status_code = 429
        return response
    if "text/html" in headers.get("accept", ""):
        return page(429, message, "Too many new sessions")
    return None


def install(app: FastAPI, rate: int, window: float, page: ErrorPage | None = None,
            beside: ErrorBeside | None = None) -> None:
    """Limit the app's creating routes (outermost middleware) and document their 429; a
    browser gets its refusal as HTML (`page`, `beside`: the web's), when given."""
    app.add_middleware(CreateRateLimit, rate=rate, window=window, page=page, beside=beside)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI builds it once and caches it
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if rate > 0 and creating_route(method.upper(), path)[0]:
                    operation.setdefault("responses", {}).setdefault("429", RATE_LIMITED)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
