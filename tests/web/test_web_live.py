"""Play over each tab's live stream: two tabs stay in step, a dropped connection re-joins,
and training stops when the last tab closes.

The dropped connection is real: the pages reach the server through a small TCP relay on
127.0.0.1 that the test can cut.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

STOPPED_WITHIN = 2.0  # seconds: training stops this soon after the last tab closes


class Relay:
    """A TCP relay from a port of its own to the server; `cut()` drops every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.guard:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        source.close()  # each pipe closes the socket it read; the other pipe the other one

    def cut(self) -> int:
        """Drop every open connection; return how many there were."""
        with self.guard:
            dropped, self.open = self.open, []
        for s in dropped:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        return len(dropped) // 2

    def close(self) -> None:
        self.listener.close()
        self.cut()
        time.sleep(0.2)  # the pipes see their sockets shut and close them


@pytest.fixture
def relay(base_url: str) -> Iterator[Relay]:
    """Yield a relay to the server under test."""
    where = urlsplit(base_url)
    made = Relay((where.hostname or "127.0.0.1", where.port or 80))
    yield made
    made.close()


def _step(page: Page) -> int:
    return int(page.locator("#step-counter").get_attribute("data-step") or "0")


def _api_step(base_url: str, sid: str) -> int:
    return int(httpx.get(f"{base_url}/api/sessions/{sid}", timeout=10).json()["step"])


def _open_origin(page: Page, url: str = "/") -> str:
    page.goto(url)
    page.locator('form.card:has(input[value="origin"])').get_by_role("button").click()
    expect(page.locator("#step-counter")).to_be_visible()
    return str(page.locator("[data-session]").get_attribute("data-session"))


def test_two_tabs_on_one_session_stay_in_step(contexts: Any, shot: Any) -> None:
    """Play in one tab moves both; Pause in the other stops both; an edit in one shows in
    the other without a reload."""
    context = contexts.new_context()
    first = context.new_page()
    sid = _open_origin(first)
    second = context.new_page()
    second.goto(f"/s/{sid}")
    expect(second.locator("#step-counter")).to_have_text("0")
    second.evaluate("window.__marker = 1")
    first.locator("#play-btn").click()
    expect(second.locator("#step-counter")).not_to_have_text("0")
    expect(second.locator("#play-btn")).to_have_attribute("aria-pressed", "true")
    moving = _step(second)
    expect(second.locator("#step-counter")).not_to_have_attribute("data-step", str(moving))
    shot(second, "the second tab, while the first plays")
    second.locator("#play-btn").click()  # Pause from the other tab
    expect(first.locator("#play-btn")).to_have_attribute("aria-pressed", "false")
    expect(first.locator("#step-counter")).to_have_text(
        second.locator("#step-counter").text_content() or "")
    lr = first.locator('#controls input[name="learning_rate"]')
    lr.fill("0.25")
    lr.press("Enter")
    expect(second.locator('#controls input[name="learning_rate"]')).to_have_value("0.25")
    assert second.evaluate("window.__marker") == 1, "the second tab was reloaded"


def test_a_dropped_connection_rejoins_the_play(contexts: Any, relay: Relay, shot: Any) -> None:
    """Cut every connection mid-play: the tab reconnects and its counter goes on."""
    contexts.expect_errors(r"ERR_|Failed to load resource|object Event")  # htmx: sseError
    page = contexts.new_page(base_url=f"http://127.0.0.1:{relay.port}")
    _open_origin(page, f"http://127.0.0.1:{relay.port}/")
    page.locator("#play-btn").click()
    expect(page.locator("#step-counter")).not_to_have_text("0")
    assert relay.cut() >= 1
    after_cut = _step(page)
    expect(page.locator("#step-counter")).not_to_have_attribute("data-step", str(after_cut))
    expect(page.locator("#play-btn")).to_have_attribute("aria-pressed", "true")
    shot(page, "playing again after the cut")
    page.locator("#play-btn").click()
    expect(page.locator("#play-btn")).to_have_attribute("aria-pressed", "false")


def test_closing_the_last_tab_stops_training(contexts: Any, base_url: str) -> None:
    """Within 2 s of the last tab closing the step stops moving; opened again, the session
    shows paused."""
    context = contexts.new_context()
    page = context.new_page()
    sid = _open_origin(page)
    page.locator("#play-btn").click()
    expect(page.locator("#step-counter")).not_to_have_text("0")
    context.close()
    time.sleep(STOPPED_WITHIN)
    stopped = _api_step(base_url, sid)
    time.sleep(1.0)
    assert _api_step(base_url, sid) == stopped, "training went on after the tab closed"
    again = contexts.new_page()
    again.goto(f"/s/{sid}")
    expect(again.locator("#play-btn")).to_have_attribute("aria-pressed", "false")
    expect(again.locator("#status")).to_have_text("ok")
    time.sleep(0.5)
    assert _api_step(base_url, sid) == stopped


def test_a_read_only_tab_watches_but_never_trains(contexts: Any, base_url: str) -> None:
    """The read-only view follows a playing session; alone, it does not drive it."""
    owner = contexts.new_context()
    page = owner.new_page()
    sid = _open_origin(page)
    token = httpx.get(f"{base_url}/api/sessions/{sid}", timeout=10).json()["view_token"]
    viewer = contexts.new_page()
    viewer.goto(f"/v/{token}")
    expect(viewer.locator("#play-btn")).to_have_count(0)
    page.locator("#play-btn").click()
    expect(viewer.locator("#step-counter")).not_to_have_text("0")
    owner.close()
    time.sleep(STOPPED_WITHIN)
    stopped = _api_step(base_url, sid)
    time.sleep(1.0)
    assert _api_step(base_url, sid) == stopped, "a read-only tab kept the session training"
    assert re.fullmatch(r"\d+", viewer.locator("#step-counter").text_content() or "")
