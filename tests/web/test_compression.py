"""Pages, fragments, JSON, CSS and JS go out compressed; a live stream is compressed and
still arrives event by event."""

from __future__ import annotations

import re
import time

import httpx
import pytest


@pytest.fixture
def session(base_url: str) -> str:
    return str(httpx.post(f"{base_url}/api/sessions", json={"example": "origin"}).json()["id"])


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("path", ["/", "/s/{sid}", "/api/sessions/{sid}", "/static/css/app.css",
                                  "/static/js/app.js", "/static/vendor/htmx/htmx.min.js",
                                  "/s/{sid}/views/walkthrough"])
def test_responses_are_compressed(base_url: str, session: str, path: str,
                                  encoding: str) -> None:
    url = base_url + path.format(sid=session)
    with httpx.Client() as client:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        packed = client.get(url, headers={"Accept-Encoding": encoding})
    assert plain.status_code == packed.status_code == 200
    assert packed.headers.get("content-encoding") == encoding
    assert packed.content == plain.content  # decoded by httpx: the same body
    assert int(packed.headers.get("content-length") or len(packed.content)) < len(plain.content)


def test_a_live_stream_is_compressed_and_streams(base_url: str, session: str) -> None:
    """Play, then read the stream as it comes: compressed, with frames arriving while it
    stays open."""
    httpx.post(f"{base_url}/s/{session}/play", data={"action": "play"}).raise_for_status()
    frames = 0
    try:
        with httpx.stream("GET", f"{base_url}/s/{session}/live",
                          headers={"Accept-Encoding": "gzip", "Last-Event-ID": "1"},
                          timeout=30) as stream:
            assert stream.headers.get("content-encoding") == "gzip"
            assert stream.headers["content-type"].startswith("text/event-stream")
            deadline = time.monotonic() + 20
            for line in stream.iter_lines():
                frames += line == "event: frame"
                if frames >= 3 or time.monotonic() > deadline:
                    break
    finally:
        httpx.post(f"{base_url}/s/{session}/play", data={"action": "pause"}).raise_for_status()
    assert frames >= 3
    step = httpx.get(f"{base_url}/api/sessions/{session}").json()["step"]
    assert step > 0
    assert re.fullmatch(r"\d+", str(step))
