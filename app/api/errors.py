"""One error shape for every 4xx and 5xx: {"error": {code, message, field, limit}}.

FastAPI's default `detail` bodies are replaced: validation errors name the field in the
API's own notation (`layers[1]`, `inputs[0][2]`, `optimizer.learning_rate`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.sessions.errors import ServiceError

log = logging.getLogger(__name__)

ErrorPage = Callable[[int, str, str | None], Response]  # (status, message, title) → a page

CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
         409: "conflict", 412: "stale", 413: "too_large", 415: "unsupported_media_type",
         422: "invalid", 429: "rate_limited", 500: "internal", 503: "unavailable"}


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
    if page is not None and _wants_html(request):
        return page(exc.status, exc.message, None)
    headers = {"Retry-After": "1"} if exc.status in (429, 503) else None
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.limit, headers)


def _http(request: Request, exc: Exception, page: ErrorPage | None) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404:
        message = "Not found."
    if page is not None and _wants_html(request):
        return page(exc.status_code, message, None)
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal", "Something went wrong on our side; the session "
                          "was not changed.")


def install(app: FastAPI, page: ErrorPage | None = None) -> None:
    """Register the handlers that give every error the one shape; a browser's page
    request gets `page(status, message, title)` instead, when given (the web's)."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ServiceError, lambda r, e: _service(r, e, page))
    app.add_exception_handler(StarletteHTTPException, lambda r, e: _http(r, e, page))
    app.add_exception_handler(Exception, _unexpected)
