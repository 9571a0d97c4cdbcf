"""`backprop-playground serve` against slow and many clients, and who a client is.

A real server in a subprocess with short limits set by environment (1 s header and body
timeouts); raw sockets play the slow clients. Bounds are generous (a client must be cut off
within 15 s, against the minutes it held a connection before), and every loop is bounded.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server

BOUND = 15.0  # seconds within which a slow client must have been cut off
SHORT = {"HEADER_TIMEOUT": "1", "BODY_TIMEOUT": "1"}
JSON_TYPE = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Yield one server with 1 s header and body timeouts for the module."""
    started = Server(data_dir=tmp_path_factory.mktemp("slow-data"), env=SHORT)
    started.start()
    yield started
    started.stop()


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=BOUND)


def _until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Return (everything the server sent, seconds until it closed); fail after BOUND s."""
    start = time.monotonic()
    data = b""
    while True:
        left = BOUND - (time.monotonic() - start)
        assert left > 0, f"the connection was still open after {BOUND} s (got {data!r})"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue  # the loop's assertion ends it
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - start


def _response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Return (status, headers, body) of one raw HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _one_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response with a Content-Length from a kept-alive connection."""
    sock.settimeout(BOUND)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {raw!r}"
        raw += chunk
    status, headers, body = _response(raw)
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a response"
        body += chunk
    return status, headers, body


def _error(body: bytes) -> dict[str, Any]:
    """Return the one error shape's inner object."""
    parsed = json.loads(body)
    assert set(parsed) == {"error"}
    assert set(parsed["error"]) == {"code", "message", "field", "limit"}
    error: dict[str, Any] = parsed["error"]
    return error


def _create(base: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{base}/api/sessions", json={"example": "origin"}, headers=headers,
                      timeout=BOUND)


def _assert_cut_off(raw: bytes, took: float) -> None:
    """Assert that the server answered 408 request_timeout, closed, within BOUND."""
    status, headers, body = _response(raw)
    assert status == 408
    assert headers["connection"] == "close"
    assert _error(body)["code"] == "request_timeout"
    assert took < BOUND


# ---------------------------------------------------------------- slow clients
def test_half_sent_headers_are_answered_408_and_closed(server: Server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */")
        _assert_cut_off(*_until_closed(sock))


def test_a_pipelined_request_whose_body_stalls_is_cut_off(server: Server) -> None:
    """A request queued behind an answer (sent in one packet with the one before it)
    still has its body timed once it runs: it must not hold a request slot forever."""
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        raw, took = _until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200")  # the first request's answer came whole
    assert took < BOUND


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with _connect(server) as sock:
        raw, took = _until_closed(sock)
    assert raw == b""  # nothing was asked: nothing is answered
    assert took < BOUND


def test_half_sent_headers_after_an_answered_request_are_cut_off(server: Server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _one_response(sock)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        raw, _ = _until_closed(sock)
    assert _response(raw)[0] == 408


def _post(sock: socket.socket, body: bytes, sent: int) -> None:
    """Send a create request whose Content-Length is len(body), and `sent` bytes of body."""
    sock.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:sent]))


def test_a_body_shorter_than_its_length_is_answered_408_and_closed(server: Server) -> None:
    body = json.dumps({"example": "origin"}).encode() + b" " * 80
    with _connect(server) as sock:
        _post(sock, body, len(body))  # a whole one first: served
        status, _, created = _one_response(sock)
        assert status == 201
        sid = json.loads(created)["id"].encode()
        sock.sendall(b"GET /api/sessions/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % sid)
        assert _one_response(sock)[0] == 200
    with _connect(server) as sock:
        _post(sock, body, len(body) // 2)
        _assert_cut_off(*_until_closed(sock))


def test_a_body_is_timed_by_its_pauses_not_its_length(server_factory: type[Server],
                                                      tmp_path: Path) -> None:
    patient = server_factory(tmp_path, env={"BODY_TIMEOUT": "3"})
    patient.start()
    body = json.dumps({"example": "origin"}).encode() + b" " * 9
    with _connect(patient) as sock:
        _post(sock, body, 0)
        for k in range(0, len(body), 3):  # 10 pauses of 0.5 s: 5 s in all, none near 3 s
            time.sleep(0.5)
            sock.sendall(body[k:k + 3])
        assert _one_response(sock)[0] == 201
    with _connect(patient) as sock:
        _post(sock, body, 3)  # then a pause for good
        raw, _ = _until_closed(sock)
    assert _response(raw)[0] == 408


# ---------------------------------------------------------------- many clients
def _open_stream(server: Server, sid: str) -> socket.socket:
    """Open a live stream (a request in flight for as long as it is open)."""
    sock = _connect(server)
    sock.sendall(b"GET /s/%s/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % sid.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk, f"the stream closed: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def test_a_request_over_max_connections_is_answered_503(server_factory: type[Server],
                                                        tmp_path: Path) -> None:
    busy = server_factory(tmp_path, env={"MAX_CONNECTIONS": "2"})
    busy.start()
    sid = _create(busy.url).json()["id"]
    streams = [_open_stream(busy, sid) for _ in range(2)]
    try:
        resp = httpx.get(f"{busy.url}/api/sessions/{sid}", timeout=BOUND)
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "unavailable"
        assert resp.json()["error"]["limit"] == 2
        assert resp.headers["retry-after"] == "1"
        assert httpx.get(f"{busy.url}/healthz", timeout=BOUND).status_code == 200
    finally:
        for sock in streams:
            sock.close()
    deadline = time.monotonic() + BOUND
    while httpx.get(f"{busy.url}/api/sessions/{sid}", timeout=BOUND).status_code != 200:
        assert time.monotonic() < deadline, "still refused after the streams closed"
        time.sleep(0.1)


# ---------------------------------------------------------------- who the client is
def _creates(server: Server) -> list[int]:
    """Return the statuses of 4 creates, each claiming another X-Forwarded-For."""
    server.start()
    return [_create(server.url, **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(4)]


def test_forwarded_for_is_believed_only_from_forwarded_allow_ips(
        server_factory: type[Server], tmp_path: Path) -> None:
    alone = server_factory(tmp_path / "alone", env={"CREATE_RATE": "3"})
    assert _creates(alone) == [201, 201, 201, 429]  # all counted under 127.0.0.1
    proxied = server_factory(tmp_path / "proxied", env={"CREATE_RATE": "3",
                                                        "FORWARDED_ALLOW_IPS": "127.0.0.1"})
    assert _creates(proxied) == [201, 201, 201, 201]  # four clients behind a trusted proxy
