"""Serving: worker processes each listening on a socket of its own; deadlines for slow clients.

uvicorn's workers share one listening socket, and the first to wake accepts every
connection waiting. A client that opens its keep-alive connections at once — a load test,
a proxy filling its pool — then often lands all of them on one worker, which does all the
work while the others idle: `python -m bench api` measured 100 % of a scenario's server
CPU on one of two workers in about half its runs. On Linux, `SO_REUSEPORT` gives each
worker a socket of its own on the same address, and the kernel spreads new connections
over them (by a hash of the client's address and port).

The supervisor stays uvicorn's (it starts the workers, restarts one that dies, passes
signals on); only the socket it hands each worker changes. `SpreadConfig.bind_socket`
binds the parent's socket with SO_REUSEPORT and never listens on it (so it gets no
connections), and each worker, unpickling that socket, binds a fresh one of its own to the
same address (`_PerWorkerSocket`). With one worker, `--reload`, a Unix socket, or off
Linux, uvicorn runs as it always does.

Before that, the address is bound once without SO_REUSEPORT, so a port another server
already listens on is refused as uvicorn refuses it, rather than silently shared with it.
The price of one queue per worker: connections waiting in a worker's queue when that
worker exits (a restart, a crash) are reset, where a shared queue handed them to another
worker (Linux 5.14+ migrates them with `net.ipv4.tcp_migrate_req=1`).

Every connection also gets deadlines (`DeadlineProtocol`, uvicorn's httptools protocol with
one timer): uvicorn times only the pause between two requests (`timeout_keep_alive`), so a
client that opened a connection and sent nothing, half its headers, or a body shorter than
its Content-Length held it, and the request's task, as long as it liked. Now a request's
line and headers must be complete within `HEADER_TIMEOUT` seconds of its first byte (or of
the connection opening), and its body may pause no longer than `BODY_TIMEOUT` seconds (the
time between two reads, as nginx's `client_body_timeout`: a large upload on a slow line
goes on, a stalled one does not). A late request is answered 408 `request_timeout` in the
one error shape and closed; a connection that sent nothing is just closed; a pipelined
request waits for the answer before it. The application hears that the client left (the
app's `TransportLimits` then never runs the request). One timer per request, armed at its
first byte for the shorter of the two timeouts and re-armed only when it fires before a
deadline is due, so the hot path pays what uvicorn's own keep-alive timer costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # uvicorn[standard]
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")
SPREAD = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class _PerWorkerSocket(socket.socket):
    """A bound socket that a worker process receives as a new socket on the same address
    (multiprocessing pickles it by `__reduce_ex__`: its reducer for sockets is registered
    for `socket.socket` itself, not for subclasses)."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return _worker_socket, (self.family, self.getsockname())


def _bound(family: int, address: tuple[Any, ...], kind: type[socket.socket] = socket.socket,
           reuse_port: bool = True) -> socket.socket:
    """Return a TCP socket bound to `address`, with SO_REUSEPORT unless told otherwise
    (listen() comes later)."""
    sock = kind(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _worker_socket(family: int, address: tuple[Any, ...]) -> socket.socket:
    """Return the worker's own socket on `address` (called as the worker unpickles its
    arguments); if it cannot be bound, end the worker as a failed start, which uvicorn's
    supervisor does not retry."""
    try:
        return _bound(family, address)
    except OSError as exc:
        logger.error("A worker could not bind %s: %s", address, exc)
        sys.exit(STARTUP_FAILURE)


def _spreads(workers: int | None, uds: str | None, fd: int | None) -> bool:
    """Return whether the workers get a socket each: several of them, on a TCP address,
    on Linux."""
    return SPREAD and (workers or 1) > 1 and uds is None and fd is None


class SpreadConfig(Config):
    """uvicorn's Config whose workers each listen on a socket of their own (on Linux)."""

    def bind_socket(self) -> socket.socket:
        """Bind the address for the workers (see the module's docstring)."""
        if not _spreads(self.workers, self.uds, self.fd):
            return super().bind_socket()
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        try:
            with _bound(family, (self.host, self.port), reuse_port=False) as alone:
                port = alone.getsockname()[1]  # free, and not shared with anyone else
            sock = _bound(family, (self.host, port), _PerWorkerSocket)
        except OSError as exc:
            logger.error(exc)
            sys.exit(STARTUP_FAILURE)
        shown = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        logger.info("Uvicorn running on %s://%s:%d (Press CTRL+C to quit); %d workers, each "
                    "on a socket of its own", "https" if self.is_ssl else "http", shown, port,
                    self.workers)
        return sock


def run(app: str, **options: Any) -> None:
    """Serve `app` (an import string) like `uvicorn.run`, spreading connections over the
    workers when there are several."""
    if options.get("reload") or not _spreads(options.get("workers"), options.get("uds"),
                                             options.get("fd")):
        uvicorn.run(app, **options)
        return
    config = SpreadConfig(app, **options)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl+C ends quietly
        Multiprocess(config, sockets=[config.bind_socket()]).run()


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines: a request's line and headers must be
    complete within `header_timeout` s of its first byte (or of the connection opening),
    and its body may pause no longer than `body_timeout` s (see the module's docstring)."""

    def __init__(self, *args: Any, header_timeout: float, body_timeout: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.deadline: asyncio.TimerHandle | None = None  # one timer, re-armed lazily
        self.partial = False  # bytes of a request came since the deadline was armed
        self.in_body = False  # the request's headers are complete, its body is not
        self.started = 0.0  # loop time of the request's first byte (or the connection's)
        self.last_read = 0.0  # loop time of the body's latest bytes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Start the clock at the first byte of a request that follows an answered one;
        note when the body last moved."""
        if self.deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        self.partial = True
        if self.in_body:
            self.last_read = self.loop.time()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """The headers are in: from now on the clock times pauses in the body (also for a
        request pipelined behind an answer, whose clock may have been stopped)."""
        super().on_headers_complete()
        if self.parser.should_upgrade():  # a WebSocket is no longer this protocol's
            self._disarm()
            return
        self.in_body = True
        self.last_read = self.loop.time()
        if self.deadline is None:
            self.deadline = self.loop.call_later(self.body_timeout, self._late)

    def on_message_complete(self) -> None:
        """The whole request is in: stop the clock."""
        super().on_message_complete()
        self.in_body = False
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self.partial = False
        self.started = self.loop.time()
        self.deadline = self.loop.call_later(min(self.header_timeout, self.body_timeout),
                                             self._late)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _late(self) -> None:
        """Act on the deadline: wait on if it is not yet due (the body moved since, or the
        headers have longer), else cut the request off."""
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.in_body and self.pipeline:  # queued behind an answer: its body is not read
            self.last_read = self.loop.time()  # yet (uvicorn paused reading); wait for it
            self.deadline = self.loop.call_later(self.body_timeout, self._late)
            return
        if self.in_body:
            due = self.last_read + self.body_timeout
        else:
            due = self.started + self.header_timeout
        if due > self.loop.time():
            self.deadline = self.loop.call_at(due, self._late)
        elif self.in_body:
            self._cut_off(f"The request's body stopped arriving: no part of it came within "
                          f"{self.body_timeout:g} s.", self.body_timeout)
        elif self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined request: close after this answer
        elif self.partial:
            self._cut_off(f"The request's line and headers did not arrive within "
                          f"{self.header_timeout:g} s.", self.header_timeout)
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def _cut_off(self, message: str, limit: float) -> None:
        """Answer 408 (unless the request's answer began) and close; the app, if it has
        the request, hears that the client left."""
        cycle = self.cycle if self.in_body else None  # else: the previous request's
        if cycle is None or not cycle.response_started:
            self.transport.write(_request_timeout(message, limit))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # its receive says so, its sends are dropped
            cycle.message_event.set()
        self.transport.close()


def _request_timeout(message: str, limit: float) -> bytes:
    """Return a whole 408 response in the one error shape, closing the connection."""
    body = json.dumps({"error": {"code": "request_timeout", "message": message,
                                 "field": None, "limit": limit}}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"x-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))


def with_deadlines(header_timeout: float, body_timeout: float) -> Callable[..., asyncio.Protocol]:
    """Return what uvicorn's `http=` takes: the protocol with these deadlines."""
    return functools.partial(DeadlineProtocol, header_timeout=header_timeout,
                             body_timeout=body_timeout)
