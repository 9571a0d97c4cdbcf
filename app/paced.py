"""Responses sent in pieces: a large body leaves the event loop a turn between pieces.

The compression middleware compresses what it is sent on the event loop; a body of
megabytes sent in one piece held every other request of the process behind it (a small
session's step p99 went from 9 ms to over 200 ms while a big trace or page went out).
A body over `STREAM_FROM` bytes is sent `CHUNK` bytes at a time, with a checkpoint of
the loop after each; its Content-Length stays. Used by the JSON API and the pages alike.
"""

from __future__ import annotations

import anyio.lowlevel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

STREAM_FROM = 256 * 1024  # bytes: a larger body goes out in pieces
CHUNK = 64 * 1024  # bytes of one piece: ~1 ms of zstd, ~4 ms of brotli (quality 3) here


class Paced(Response):
    """A response whose large body goes out in pieces (mixed in before the media class)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the body, a large one CHUNK bytes at a time with a turn of the loop after
        each (the middleware compresses each piece as it comes)."""
        body = bytes(self.body)
        if len(body) <= STREAM_FROM:
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        for start in range(0, len(body), CHUNK):
            await send({"type": "http.response.body", "body": body[start : start + CHUNK],
                        "more_body": start + CHUNK < len(body)})
            await anyio.lowlevel.checkpoint()
