"""A learner's tab without the browser: Play over a session's live stream (bench load).

`watch` opens `GET /s/{id}/live` as a reconnecting tab does (`Last-Event-ID`, so the
stream drives a session already marked playing), compressed as a browser asks, and
counts the frames it is sent and the newest step each shows. Every loop is bounded by
its seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import zstandard

ACCEPT = "gzip"  # compressed, as a browser asks (httpx decodes it)


@dataclass
class Watcher:
    """One stream's frames: how many, and the steps shown."""

    sid: str
    frames: int = 0
    first_step: int | None = None
    last_step: int | None = None
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


async def play(client: httpx.AsyncClient, sid: str, action: str = "play") -> None:
    """Press Play (or "pause", "fit") as the control bar does."""
    r = await client.post(f"/s/{sid}/play", data={"action": action})
    if r.status_code != 200:
        raise RuntimeError(f"{action} {sid}: {r.status_code} {r.text[:200]}")


async def watch(client: httpx.AsyncClient, watcher: Watcher, seconds: float,
                warmup: float = 0.0) -> None:
    """Read the session's live stream for `warmup` + `seconds`; count the last `seconds`."""
    counting_from = time.perf_counter() + warmup
    end = counting_from + seconds
    headers = {"Accept-Encoding": ACCEPT, "Last-Event-ID": "0"}
    try:
        async with client.stream("GET", f"/s/{watcher.sid}/live", headers=headers) as stream:
            lines = stream.aiter_lines()
            event = ""
            while (left := end - time.perf_counter()) > 0:
                try:
                    line = await asyncio.wait_for(lines.__anext__(), left)
                except (TimeoutError, StopAsyncIteration):
                    break
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "frame":
                    _count(watcher, json.loads(line[5:]), time.perf_counter() >= counting_from)
    except httpx.HTTPError as err:
        watcher.errors.append(repr(err))
    watcher.seconds = min(seconds, max(0.0, time.perf_counter() - counting_from))


def _count(watcher: Watcher, frame: dict[str, object], counting: bool) -> None:
    if not counting:
        return
    watcher.frames += 1
    step = frame.get("step")
    if isinstance(step, int):
        if watcher.first_step is None:
            watcher.first_step = step
        watcher.last_step = step


async def count_frames(host: str, port: int, sid: str, seconds: float,
                       warmup: float = 0.0) -> tuple[int, float]:
    """Read a live stream over a bare socket (zstd, as Chromium asks; chunked) and count
    its frames in the last `seconds` of `warmup` + `seconds`: a load generator light enough
    that a hundred of them share two cores with the server. Return (frames, seconds)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"GET /s/{sid}/live HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: zstd\r\n"
                  "Last-Event-ID: 0\r\nAccept: text/event-stream\r\n\r\n").encode())
    await writer.drain()
    inflate = zstandard.ZstdDecompressor().decompressobj()
    start = time.perf_counter()
    counting_from, end = start + warmup, start + warmup + seconds
    frames, tail = 0, b""
    try:
        await reader.readuntil(b"\r\n\r\n")  # the response's head
        while (left := end - time.perf_counter()) > 0:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), left)
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                break
            chunk = await asyncio.wait_for(reader.readexactly(size + 2), left)
            text = tail + inflate.decompress(chunk[:-2])
            if time.perf_counter() >= counting_from:
                frames += text.count(b"event: frame")
            tail = text[-16:]
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
    return frames, min(seconds, max(0.0, time.perf_counter() - counting_from))
