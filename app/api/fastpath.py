"""A fast path for hot routes: the plain request answered without FastAPI's generic work.

For every request FastAPI reads the route's signature again — dependencies, path,
header and body parameters, each validated through generic machinery — which cost a
1-iteration step about 0.1 ms of its ~0.6 ms (`python -m bench api`, CPU per request).
A route of `FastRoute` whose endpoint has a fast handler (`fast_path`) first offers the
request to that handler. The handler takes only the plain case — a well-formed body
that its model accepts, the expected content type — and calls the same code the
endpoint calls; for anything else it returns None, and FastAPI's own handler answers the
same request (Starlette keeps the body it read), so every refusal is FastAPI's, in the
app's one error shape. The endpoint's signature still documents the route in OpenAPI.
The `fast_paths` setting (FAST_PATHS=false) turns fast handlers off. A fast handler's
model must validate as FastAPI does: strict types make the JSON and the Python modes of
pydantic agree (`tests/api/test_fastpath.py` compares the two answers).

Three rules hold for every route of `FastRoute`, fast or not: an operation without a
request body refuses one (anything but nothing or `{}`: a client that sent a body meant
something the operation would silently ignore); a body that is not JSON is 422
`invalid_json`, also when it is not UTF-8 or nests too deeply (FastAPI answers those a
generic 400); and a 405 lists in `Allow` every method the path has
(`allowed_methods`, used by the 405's handler in `errors`), not only the first route's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from app.sessions.errors import ServiceError

FastHandler = Callable[[Request], Awaitable[Response | None]]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

_HANDLERS: dict[Callable[..., Any], FastHandler] = {}
NO_BODY = object()  # `json_body`'s answer for an empty body


def fast_path(handler: FastHandler) -> Callable[[Endpoint], Endpoint]:
    """Give the endpoint a fast handler (put this decorator below the route's)."""

    def register(endpoint: Endpoint) -> Endpoint:
        _HANDLERS[endpoint] = handler
        return endpoint

    return register


class FastRoute(APIRoute):
    """An APIRoute that lets its endpoint's fast handler answer first, if it has one;
    that refuses a body it does not take (a 405's `Allow` is the error handler's)."""

    def get_route_handler(self) -> Handler:
        """Return FastAPI's handler, behind the fast handler or the body check."""
        generic = _undecodable_is_invalid_json(super().get_route_handler())
        if self.body_field is None:

            async def bodiless(request: Request) -> Response:
                await refuse_body(request)
                return await generic(request)

            return bodiless
        fast = _HANDLERS.get(self.endpoint)
        if fast is None:
            return generic

        async def handler(request: Request) -> Response:
            if request.app.state.settings.fast_paths:
                answer = await fast(request)
                if answer is not None:
                    return answer
            return await generic(request)

        return handler


async def json_body(request: Request, model: type[M]) -> M | object | None:
    """Return the body validated by `model`, `NO_BODY` for an empty body, or None when
    the body is anything but plain JSON that the model accepts (FastAPI then answers)."""
    raw = await request.body()
    if not raw:
        return NO_BODY
    kind = request.headers.get("content-type", "")
    if kind.split(";", 1)[0].strip().lower() != "application/json":
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        return None


def invalid_json(err: Exception) -> RequestValidationError:
    """Return the validation error FastAPI raises for a body that is not JSON."""
    reason = getattr(err, "msg", None) or ("nested too deeply" if isinstance(err, RecursionError)
                                           else str(err))
    return RequestValidationError([{
        "type": "json_invalid", "loc": ("body", getattr(err, "pos", 0)),
        "msg": "JSON decode error", "input": {}, "ctx": {"error": reason}}])


def _undecodable_is_invalid_json(handler: Handler) -> Handler:
    """Return the handler with FastAPI's 400 for an unreadable JSON body made a 422."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except HTTPException as exc:
            if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
                raise invalid_json(exc.__cause__) from None
            raise

    return answer


async def refuse_body(request: Request) -> None:
    """Raise 422 unless the body is empty or `{}`: malformed JSON as FastAPI does
    (`invalid_json`), anything else naming the body."""
    raw = await request.body()
    if not raw.strip():
        return
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as err:  # not JSON, not in a JSON encoding, too deep
        raise invalid_json(err) from None
    if value != {}:
        path = getattr(request.scope.get("route"), "path", "this path")  # not the session id
        raise ServiceError(422, "invalid", f"{request.method} {path} takes no body: send "
                           "none, or {}.", "body")
