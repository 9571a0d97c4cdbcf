"""What a browser is told and refused: security headers, cross-site changes, JSON-only API.

One pure ASGI middleware, outermost, so its headers reach every response — refusals of
the rate limit, the body limit and its own included:

- **Content-Security-Policy** on every HTML page that sets none of its own (/docs and
  /redoc keep theirs, set in main.py). Scripts come only from this server (`script-src
  'self'`: no inline script, no eval — htmx runs with `allowEval: false`, and its
  indicator `<style>` is off, `includeIndicatorStyles: false`, in base.html's
  htmx-config). `<script type="application/json">` data blocks are not run, so they need
  nothing. Styles: `style-src-elem 'self'` allows the stylesheet and no `<style>`
  element (injected CSS with selectors is what can read a page out); `style-src 'self'
  'unsafe-inline'` is there for `style=` attributes only, which the templates use for a
  table cell's or a swatch's colour and a layer label's position, and which htmx's settle
  step copies back — an attribute holds declarations, not selectors, and any image it
  names is still bound by `img-src`. Browsers older than CSP 3 read `style-src` alone and
  allow inline styles: the page keeps working there. Images: the stylesheet's and
  `data:` (the 2-D maps and pictures are PNG data URLs); no `blob:` (nothing makes one).
  `connect-src 'self'` for htmx and the live stream (/s/{id}/live); `object-src`,
  `base-uri` none; forms post only here; no framing at all.
- **Every response**: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`
  (a session's URL is its capability: it must not leak to a linked site).
- **Session pages and session JSON** (`/s/…`, `/compare/…`, `/api/sessions…`):
  `Cache-Control: no-store`, replacing any other. Static files keep their own caching.
- **Cross-site changes refused**: a request that is not GET, HEAD or OPTIONS outside
  /api, sent with `Sec-Fetch-Site: cross-site` — or, from a browser that sends no
  Sec-Fetch-Site, with an `Origin` whose host and port are not the request's `Host` —
  is answered 403 `cross_site`. same-origin and none (typed or bookmarked) pass;
  same-site passes unless its `Origin` names another host (a sibling subdomain may be
  someone else's). A request with neither header (curl, scripts) passes: such a client
  is not a browser carrying a learner's session id to another site's form.
- **The API takes JSON only**: POST, PUT and PATCH under /api/ must say
  `Content-Type: application/json` (any charset), even with an empty body, else 415
  `unsupported_media_type`. A cross-site page can post `text/plain` without a CORS
  preflight but never `application/json`, so this shuts the same door for the API.

Trade-offs: `Origin` is compared by host and port, except that a `Host` without a port
(a proxy forwarding `$host`) is compared by host alone — a different port on the same
host is accepted, as it would be same-site. A malformed `Origin` is foreign. A 403 or 415 is the one
JSON error shape even for a browser's form post: it is a refused forgery, not a page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "style-src-elem 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
EVERY_RESPONSE = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
CSP_HEADER = (b"content-security-policy", CSP.encode())
NO_STORE = (b"cache-control", b"no-store")
NO_STORE_PATHS = ("/s/", "/v/", "/compare/", "/api/sessions", "/api/views")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON = "application/json"
DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
NOT_JSON = {  # the 415 as the OpenAPI of every API write documents it
    "description": "The request did not say Content-Type: application/json (required even "
                   "when the body is empty)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def _error(status: int, code: str, message: str, field: str | None) -> tuple[int, bytes]:
    """Return (status, the one error shape as JSON bytes)."""
    body = {"error": {"code": code, "message": message, "field": field, "limit": None}}
    return status, json.dumps(body).encode()


def _netloc(host: str, scheme: str = "http") -> tuple[str, str]:
    """Return (host, port) of `host[:port]`, the port '' when it is the scheme's default."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name, "" if port == DEFAULT_PORTS.get(scheme) else port


def _foreign_origin(origin: str, host: str) -> bool:
    """Return whether `Origin` names another host (or port) than the request's `Host`."""
    try:
        parts = urlsplit(origin)
    except ValueError:  # "http://[" and the like: not a site this server is
        return True
    if not parts.scheme or not parts.netloc:
        return True  # "null" (a sandboxed frame, a redirect's privacy): never this site
    theirs = _netloc(parts.netloc, parts.scheme)
    ours = _netloc(host, parts.scheme)
    return theirs[0] != ours[0] or (ours[1] != "" and theirs[1] != ours[1])


def refusal(method: str, path: str, headers: dict[bytes, bytes]) -> tuple[int, bytes] | None:
    """Return the refusal (status, body) of a request this policy does not accept, or None."""
    if path.startswith("/api/") or path == "/api":
        if method not in BODY_METHODS:
            return None
        kind = headers.get(b"content-type", b"").decode("latin-1")
        if kind.split(";", 1)[0].strip().lower() == JSON:
            return None
        given = f"'{kind}'" if kind else "none"
        return _error(415, "unsupported_media_type", f"The API takes JSON only: send "
                      f"Content-Type: {JSON}, even with an empty body (got {given}).",
                      "Content-Type")
    if method in SAFE_METHODS:
        return None
    site = headers.get(b"sec-fetch-site")
    if site is not None and site.lower() != b"same-site":  # same-site: a sibling host may
        if site.lower() != b"cross-site":  # be someone else's, so Origin decides below
            return None
        return _error(403, "cross_site", "This change was sent from another site's page "
                      "(Sec-Fetch-Site: cross-site); the playground takes changes only from "
                      "its own pages.", "Sec-Fetch-Site")
    origin = headers.get(b"origin")
    if origin is None or not _foreign_origin(origin.decode("latin-1"),
                                             headers.get(b"host", b"").decode("latin-1")):
        return None
    return _error(403, "cross_site", f"This change was sent from {origin.decode('latin-1')}, "
                  "another site; the playground takes changes only from its own pages.",
                  "Origin")


def _added(no_store: bool, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Return a response's headers with the policy's added (and no-store where it applies).

    ASGI header names are lower-case, as Starlette writes them."""
    out = []
    html = has_csp = False
    missing = dict(EVERY_RESPONSE)
    for header in headers:
        name = header[0]
        if name == b"content-type":
            html = header[1].startswith(b"text/html")
        elif name == b"content-security-policy":
            has_csp = True
        elif name == b"cache-control" and no_store:
            continue
        missing.pop(name, None)
        out.append(header)
    if html and not has_csp:
        out.append(CSP_HEADER)
    out.extend(missing.items())
    if no_store:
        out.append(NO_STORE)
    return out


class BrowserPolicy:
    """ASGI middleware: add the security headers; refuse cross-site changes and non-JSON
    API writes (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request, or pass it on; add the headers to whatever answers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        no_store = path.startswith(NO_STORE_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _added(no_store, message.get("headers", ()))
            await send(message)

        method: str = scope["method"]
        refused = None
        if method not in SAFE_METHODS:
            refused = refusal(method, path, dict(scope["headers"]))
        if refused is None:
            await self.app(scope, receive, send_with_headers)
            return
        status, body = refused
        await send_with_headers({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode())]})
        await send_with_headers({"type": "http.response.body", "body": body})


def install(app: FastAPI) -> None:
    """Add the policy to the app (call it last: it must be the outermost middleware) and
    document the API's 415."""
    app.add_middleware(BrowserPolicy)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI builds it once and caches it
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if path.startswith("/api/") and method.upper() in BODY_METHODS:
                    operation.setdefault("responses", {}).setdefault("415", NOT_JSON)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
