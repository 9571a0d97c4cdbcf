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
        return _bound, (self.family, self.getsockname())


def _bound(family: int, address: tuple[Any, ...], kind: type[socket.socket] = socket.socket
           ) -> socket.socket:
    """Return a TCP socket bound to `address` with SO_REUSEPORT (listen() comes later)."""
    sock = kind(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class SpreadConfig(Config):
    """uvicorn's Config whose workers each listen on a socket of their own (on Linux)."""

    def bind_socket(self) -> socket.socket:
        """Bind the address for the workers (see the module's docstring)."""
        if not SPREAD or self.workers <= 1 or self.uds is not None or self.fd is not None:
            return super().bind_socket()
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        try:
            sock = _bound(family, (self.host, self.port), _PerWorkerSocket)
        except OSError as exc:
            logger.error(exc)
            sys.exit(STARTUP_FAILURE)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        logger.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit); %d workers, "
                    "each on a socket of its own", shown, port, self.workers)
        return sock


def run(app: str, **options: Any) -> None:
    """Serve `app` (an import string) like `uvicorn.run`, spreading connections over the
    workers when there are several."""
    if not SPREAD or options.get("reload") or (options.get("workers") or 1) <= 1:
        uvicorn.run(app, **options)
        return
    config = SpreadConfig(app, **options)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl+C ends quietly
        Multiprocess(config, sockets=[config.bind_socket()]).run()
