"""One error shape for every 4xx and 5xx: {"error": {code, message, field, limit}}.

FastAPI's default `detail` bodies are replaced: validation errors name the field in the
API's own notation (`layers[1]`, `inputs[0][2]`, `optimizer.learning_rate`). A refusal of
the service (`ServiceError`, the store's 503 and 507 among them) keeps its status, and
gets `Retry-After` when waiting helps.

Unexpected errors are answered by a pure ASGI middleware (`UnexpectedErrors`), not by an
exception handler for `Exception`: Starlette runs such a handler in its outermost
middleware, which re-raises after answering, and uvicorn then closes the connection, so a
keep-alive client's next request failed with no answer. The middleware sits inside that
one (`install` adds it), answers 500 in the one shape, logs the error once with the
request's id, and returns normally: the connection stays usable. An error after the
answer began has nothing left to send: it is logged, and the server ends the connection.
Every response carries `X-Request-ID`: a sane incoming one (`REQUEST_ID`: bounded length,
safe characters, as nginx's `$request_id` or a UUID), or a new one. Trade-off: one more
frame per request and per message sent (microseconds).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.allowed_methods import allow_header
from app.sessions.errors import ServiceError

log = logging.getLogger(__name__)

ErrorPage = Callable[[int, str, str | None], Response]  # (status, message, title) → a page

CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         406: "not_acceptable", 408: "timeout", 409: "conflict", 412: "stale",
         413: "too_large", 415: "unsupported_media_type", 422: "invalid",
         429: "rate_limited", 500: "internal", 503: "unavailable", 507: "storage_full"}
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # an incoming X-Request-ID kept as it is
REQUEST_ID_HEADER = b"x-request-id"


def error_response(status: int, code: str, message: str, field: str | None = None,
                   limit: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """Return the one error shape."""
    body = {"error": {"code": code, "message": message, "field": field, "limit": limit}}
    return JSONResponse(body, status_code=status, headers=headers)


def field_name(loc: Sequence[str | int]) -> str | None:
    """Return a location tuple as `a.b[1][2]`, without the leading body/query part."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p in ("list[float]", "list[list[float]]") or "[" in str(p) or "function-" in str(p):
            continue  # pydantic's union-branch labels are noise to a user
        else:
            out += f".{p}" if out else str(p)
    return out or None


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request",
                                                             "type": ""}
    kind = str(first.get("type", ""))
    field = field_name(first.get("loc", ()))
    ctx = first.get("ctx") or {}
    limit = next((ctx[k] for k in ("ge", "gt", "le", "lt", "max_length", "min_length")
                  if k in ctx), None)
    if kind == "json_invalid":
        return error_response(422, "invalid_json", "The body is not valid JSON "
                              f"({ctx.get('error', 'parse error')}).", None)
    if kind == "extra_forbidden":
        return error_response(422, "unknown_field", f"{field} is not a field of this request "
                              "(server-owned fields such as id, step and version cannot be "
                              "set).", field)
    if kind == "finite_number":
        return error_response(422, "invalid", f"{field} must be a finite number "
                              "(not NaN or Infinity).", field)
    message = str(first.get("msg", "invalid value"))
    return error_response(422, "invalid", f"{field}: {message}" if field else message, field,
                          _jsonable(limit))


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def _wants_html(request: Request) -> bool:
    """Return True for browser page requests (not the API, not htmx fragments)."""
    path = request.url.path
    return (not path.startswith(("/api", "/static", "/healthz", "/readyz", "/openapi"))
            and "text/html" in request.headers.get("accept", "")
            and not request.headers.get("hx-request"))


def _service(request: Request, exc: Exception, page: ErrorPage | None) -> Response:
    assert isinstance(exc, ServiceError)
    wait = exc.retry_after or (1 if exc.status in (429, 503) else None)
    headers = {"Retry-After": str(wait)} if wait else None
    if page is not None and _wants_html(request):
        answer = page(exc.status, exc.message, None)
        answer.headers.update(headers or {})
        return answer
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.limit, headers)


def _http(request: Request, exc: Exception, page: ErrorPage | None) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        message = "Not found."
    if page is not None and _wants_html(request):
        return page(exc.status_code, message, None)
    headers = getattr(exc, "headers", None)
    allow = allow_header(request) if exc.status_code == 405 else ""
    if allow:  # every method of the path, not only the first route's
        headers = {**(headers or {}), "Allow": allow}
    return error_response(exc.status_code, code, message, headers=headers)


def request_id(scope: Scope) -> str:
    """Return the request's id: its X-Request-ID if sane (`REQUEST_ID`), else a new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            given: str = value.decode("latin-1")
            if REQUEST_ID.fullmatch(given):
                return given
            break
    return secrets.token_hex(8)


class UnexpectedErrors:
    """Answer an exception that no handler took with a 500 in the one shape (a browser's
    page request: `page`'s), log it once with the request id, keep the connection; give
    every response `X-Request-ID` (also in `request.state.request_id`)."""

    def __init__(self, app: ASGIApp, page: ErrorPage | None = None) -> None:
        self.app = app
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the id on every response; answer what it raises."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        header = (REQUEST_ID_HEADER, rid.encode("latin-1"))
        started = False

        async def tagged(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except Exception:
            log.exception("unexpected error answering %s %s (request %s)", scope.get("method"),
                          scope.get("path"), rid, extra={"request_id": rid})
            if not started:  # else the answer has begun: the server ends the connection
                await self._answer(scope, rid)(scope, receive, tagged)

    def _answer(self, scope: Scope, rid: str) -> Response:
        """Return the 500: the one error shape, or the page for a browser's page request."""
        message = (f"Something went wrong on our side (request {rid}). Reload to see the "
                   "session as it is now.")
        if self.page is not None and _wants_html(Request(scope)):
            return self.page(500, message, None)
        return error_response(500, "internal", message)


def install(app: FastAPI, page: ErrorPage | None = None) -> None:
    """Register the handlers that give every error the one shape, and the middleware that
    answers unexpected errors (`UnexpectedErrors`); a browser's page request gets
    `page(status, message, title)` instead, when given (the web's).

    The middleware wraps the routes and whatever middleware is added before this call, so
    that their answers carry `X-Request-ID` and their errors get the shape; only what is
    added after it (the browser policy, whose refusals raise nothing) answers without."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ServiceError, lambda r, e: _service(r, e, page))
    app.add_exception_handler(StarletteHTTPException, lambda r, e: _http(r, e, page))
    app.add_middleware(UnexpectedErrors, page=page)
