"""Many and slow clients: a cap on requests in flight, and bodies read whole before the app.

At most `max_connections` requests are in flight at once in this process (an open live
stream counts as one for as long as it is open); one more is answered 503 `unavailable`
with `Retry-After: 1` and `Connection: close`, before anything of it is read. uvicorn's own
`limit_concurrency` answers a plain-text 503 and counts idle keep-alive connections too;
this answers in the one error shape and counts only the work being done, which is what
runs out. `/healthz` is exempt: a busy process is still alive. Idle connections are
bounded by uvicorn's keep-alive timeout (5 s); half-sent headers and stalled bodies by the
protocol's deadlines (`app/serving.py`, `HEADER_TIMEOUT`, `BODY_TIMEOUT`).

A request's body is read here, whole, before the application starts. A client that leaves
meanwhile — or that the protocol cut off for stalling, after answering it 408 — is then
not answered, and the application never sees its request: nothing half-read is acted on
(the body limit once handed a chunked body cut short to the route as if complete), and no
`ClientDisconnect` is raised inside a route to be logged as an error. A body declared
longer than `max_body_bytes` is passed on unread (the body limit refuses it by its
header), and a chunked one is read only until it passes that size.

Trade-offs: the count is per process, like the rate limit. A client trickling its body one
byte per `BODY_TIMEOUT` holds its request, but only one of `max_connections`. A body is
held in memory whole (up to `max_body_bytes`) before the application reads it, as the
JSON routes did anyway; a multipart upload is no longer spooled to disk as it arrives.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXEMPT = frozenset({"/healthz"})  # liveness: answered however busy the process is


def _declared(scope: Scope) -> tuple[bool, int | None]:
    """Return (whether the request has a body, its declared length or None if chunked)."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            chunked = True
        elif name == b"content-length" and value.strip().isdigit():
            length = int(value) if len(value) <= 18 else 2**63  # past any limit: refused
    return chunked or bool(length), None if chunked else length


class TransportLimits:
    """ASGI middleware: 503 over the requests in flight; a body read whole before the app."""

    def __init__(self, app: ASGIApp, max_connections: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes  # a body declared longer is refused unread
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request in; refuse it over the cap; read its body, then run the app."""
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_connections:
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            has_body, length = _declared(scope)
            if not has_body or (length is not None and length > self.max_body_bytes):
                await self.app(scope, receive, send)  # nothing to read, or refused unread
            else:
                await self._read_first(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _read_first(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body (up to just past the limit), then run the app on it; a client
        gone meanwhile is not answered."""
        parts: list[bytes] = []
        size = 0
        more = True
        while more and size <= self.max_body_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left, or was cut off: nobody to answer
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            more = bool(message.get("more_body", False))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(parts), "more_body": more}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        """Answer the 503 of a request over the cap."""
        body = json.dumps({"error": {
            "code": "unavailable", "message": "The server is serving as many requests as it "
            f"takes at once ({self.max_connections}); try again in a moment.", "field": None,
            "limit": self.max_connections}}).encode()
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"retry-after", b"1")]})
        await send({"type": "http.response.body", "body": body})


def install(app: FastAPI, max_connections: int, max_body_bytes: int) -> None:
    """Add the cap and the whole-body read to the app (outside the rate and body limits)."""
    app.add_middleware(TransportLimits, max_connections=max_connections,
                       max_body_bytes=max_body_bytes)
