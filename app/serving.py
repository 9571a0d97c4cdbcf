"""Serving with several worker processes, each listening on a socket of its own.

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
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config
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
