"""Fixtures for the browser tests: one server, one Chromium, pages that record their requests.

`base_url` is `APP_URL` when it is set (a server already running, e.g. the container of
`shared/container/check.sh`); otherwise one uvicorn with the SQLite store in a temporary
data directory, for the whole run. Chromium is Debian's (`/usr/bin/chromium`, or
`CHROMIUM` when set), launched once; each test gets a fresh context, so no cookies or
localStorage leak between tests. Every request a context makes is recorded, screenshots of
the states a test reaches go to `test-artifacts/web/<test>/`, and a failing test leaves a
screenshot of the page as it was.

Helpers are fixtures or plain functions of this module handed out by fixtures, because
test modules here are not a package (the same convention as tests/api).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    Request,
    expect,
    sync_playwright,
)

from tests.conftest import ROOT, Server

ARTIFACTS = ROOT / "test-artifacts" / "web"
DOCS = ROOT / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 15_000  # two shared cores: generous, and only ever a ceiling (auto-waiting)
VIEWPORT = {"width": 1440, "height": 900}  # a laptop; also the README screenshots' size
PHONE = {"width": 390, "height": 844}
FAILED = pytest.StashKey[bool]()

expect.set_options(timeout=TIMEOUT_MS)


# ---------------------------------------------------------------------------- server
@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the app's URL: APP_URL as given, or one uvicorn (SQLite store) for the run."""
    given = os.environ.get("APP_URL", "").strip()
    if given:
        yield given.rstrip("/")
        return
    server = Server(data_dir=tmp_path_factory.mktemp("web-data"), env={"STORE": "sqlite"})
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


# ---------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Yield the Playwright driver (sync API) for the run."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Yield one headless Chromium for the run (Debian's; `playwright install` is offline)."""
    chromium = playwright_driver.chromium.launch(
        executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember whether the test body failed, for the failure screenshot."""
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-")


@dataclass
class Contexts:
    """Browser contexts opened for one test; each records every request URL it makes.

    A request the page's Content-Security-Policy stopped inside the browser (failure
    "csp") is recorded too, but never left the machine: `foreign_requests` leaves it out.
    """

    browser: Browser
    base_url: str
    requests: list[str] = field(default_factory=list)
    opened: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    expected_errors: list[re.Pattern[str]] = field(default_factory=list)
    _made: list[Request] = field(default_factory=list)
    _blocked: list[Request] = field(default_factory=list)

    def new_page(self, **options: Any) -> Page:
        """Open a page in a fresh context (1440×900 unless `viewport` is given)."""
        context = self.new_context(**options)
        return context.new_page()

    def new_context(self, **options: Any) -> BrowserContext:
        """Open a fresh context whose pages' requests and console errors are recorded."""
        context = self.browser.new_context(
            **{"viewport": VIEWPORT, "base_url": self.base_url, **options}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.on("request", self._record)
        context.on("requestfailed", self._failed)
        context.on("websocket", lambda ws: self.requests.append(ws.url))
        context.on("console", self._console)
        context.on("weberror", lambda err: self.errors.append(f"uncaught: {err.error}"))
        self.opened.append(context)
        return context

    def expect_errors(self, pattern: str) -> None:
        """Allow console errors matching `pattern` (a test that drops the network)."""
        self.expected_errors.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        """Return the console errors no test expected."""
        return [e for e in self.errors if not any(p.search(e) for p in self.expected_errors)]

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _record(self, request: Request) -> None:
        self._made.append(request)
        self.requests.append(request.url)

    def _failed(self, request: Request) -> None:
        if (request.failure or "").lower() in ("csp", "net::err_blocked_by_csp"):
            self._blocked.append(request)

    def foreign_requests(self) -> list[str]:
        """Return the URLs that went to a host other than 127.0.0.1 (or APP_URL's)."""
        allowed = {"127.0.0.1", urlsplit(self.base_url).hostname}
        local_schemes = {"data", "blob", "about"}
        sent = [r.url for r in self._made if not any(r is b for b in self._blocked)]
        sent += [u for u in self.requests if urlsplit(u).scheme in ("ws", "wss")]
        return [
            u
            for u in sent
            if urlsplit(u).scheme not in local_schemes and urlsplit(u).hostname not in allowed
        ]


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Return this test's folder in test-artifacts/web/, emptied of an earlier run's files."""
    folder = ARTIFACTS / _slug(request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture
def contexts(
    browser: Browser, base_url: str, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Contexts]:
    """Yield the test's context factory; close every context, screenshot pages on failure."""
    made = Contexts(browser, base_url)
    yield made
    failed = request.node.stash.get(FAILED, False)
    for n, context in enumerate(made.opened):
        for k, p in enumerate(context.pages if failed else []):
            try:
                p.screenshot(path=artifacts / f"failure-{n}-{k}.png", full_page=True)
            except Exception as err:  # a crashed page must not hide the real failure
                print(f"no failure screenshot: {err}")
        context.close()
    if not failed:  # every page of every test: no console error, no uncaught exception
        assert made.unexpected_errors() == [], made.unexpected_errors()


@pytest.fixture
def requests_seen(contexts: Contexts) -> list[str]:
    """Return the list of every request URL the test's pages make (filled as they run)."""
    return contexts.requests


@pytest.fixture
def page(contexts: Contexts) -> Page:
    """Return a 1400×900 page whose requests are recorded in `requests_seen`."""
    return contexts.new_page()


@pytest.fixture
def shot(artifacts: Path) -> Callable[..., Path]:
    """Return `shot(page or locator, state)`: save a screenshot into test-artifacts/web/."""
    count = 0

    def save(target: Page | Locator, state: str) -> Path:
        nonlocal count
        count += 1
        path = artifacts / f"{count:02d}-{_slug(state)}.png"
        if isinstance(target, Locator):
            target.page.mouse.move(0, 0)  # no hover state in the picture
            target.screenshot(path=path)
        else:
            target.mouse.move(0, 0)
            target.screenshot(path=path, full_page=True)
        return path

    return save


# ---------------------------------------------------------------------------- the playground
def exact_value(title: str | None) -> float:
    """Return the exact value at the end of a cell title (`₀a¹₀ = 0.9002495108803148`)."""
    assert title, "a cell without a title"
    assert " = " in title, f"cell title without a value: {title!r}"
    return float(title.rsplit(" = ", 1)[1].replace("−", "-"))


def all_close(got: list[list[float]], want: list[list[float]], tol: float) -> bool:
    """Return whether two matrices have the same shape and agree within tol."""
    return len(got) == len(want) and all(
        len(g) == len(w)
        and all(math.isclose(a, b, rel_tol=0, abs_tol=tol) for a, b in zip(g, w, strict=True))
        for g, w in zip(got, want, strict=True)
    )


@dataclass
class Playground:
    """A session page, read the way a learner reads it (by ids, titles and data attributes)."""

    page: Page

    @property
    def counter(self) -> Any:
        """Return the step counter's locator."""
        return self.page.locator("#step-counter")

    def step(self) -> int:
        """Return the step counter's value."""
        return int(self.counter.get_attribute("data-step") or "-1")

    def open_tab(self, name: str) -> Locator:
        """Open a deep view by its tab (if it is not open); return the view."""
        view = self.page.locator("#view-body")
        if view.get_attribute("data-tab") != name:
            self.page.locator(f'.tabs a[data-tab="{name}"]').click()
        expect(view).to_have_attribute("data-tab", name)
        expect(view.locator(f"#panel-{name}")).to_be_visible()
        return view

    def matrix(self, key: str) -> list[list[float]]:
        """Return the exact values of the Matrices view's figure `m-<key>` (e.g. `a-1`)."""
        self.open_tab("matrices")
        table = self.page.locator(f"#panel-matrices #m-{key} table")
        titles = table.evaluate(
            "t => [...t.querySelectorAll('tbody tr')]"
            ".map(r => [...r.querySelectorAll('td')].map(td => td.title))"
        )
        return [[exact_value(t) for t in row] for row in titles]

    def product_table(self, layer: int) -> list[list[float]]:
        """Return the gradient cells (td.res) of the walkthrough's table `prod-<layer>`."""
        self.open_tab("walkthrough")
        titles = self.page.locator(f"#prod-{layer}").evaluate(
            "t => [...t.querySelectorAll('tr')].map(r => [...r.querySelectorAll('td.res')]"
            ".map(td => td.title)).filter(r => r.length)"
        )
        return [[exact_value(t) for t in row] for row in titles]

    def outputs(self) -> list[list[float]]:
        """Return the outputs table's values (td.out data-value), row by row."""
        cells = self.page.locator("#outputs td.out").evaluate_all(
            "tds => tds.map(td => [+td.dataset.row, +td.dataset.col, td.dataset.value])"
        )
        rows: dict[int, dict[int, float]] = {}
        for r, c, v in cells:
            rows.setdefault(r, {})[c] = float(v)
        return [[rows[r][c] for c in sorted(rows[r])] for r in sorted(rows)]

    def expect_matrix(
        self, read: Callable[[], list[list[float]]], want: list[list[float]], tol: float, what: str
    ) -> None:
        """Wait until read() agrees with want within tol; fail showing both."""
        got: list[list[float]] = []
        deadline = TIMEOUT_MS
        while deadline > 0:
            got = read()
            if all_close(got, want, tol):
                return
            self.page.wait_for_timeout(200)
            deadline -= 200
        raise AssertionError(f"{what}: got {got}, expected {want} within {tol}")

    def train(self, label: str) -> int:
        """Click a Train button of the control bar (Step, ×10, ×100, ×1000); wait for the
        counter to move."""
        before = self.step()
        self.page.locator("#controls .train").get_by_role("button", name=label, exact=True).click()
        expect(self.counter).not_to_have_attribute("data-step", str(before))
        return self.step()

    def session_id(self) -> str:
        """Return the session's id (from the page)."""
        return str(self.page.locator("[data-session]").get_attribute("data-session"))


def open_card(p: Page, card: str) -> Playground:
    """Go to the landing page and open the card named `card` (app/web/gallery.py)."""
    p.goto("/")
    p.locator(f'form.card:has(input[name="card"][value="{card}"])').get_by_role(
        "button", name="Open").click()
    expect(p).to_have_url(re.compile(r"/s/[\w-]+$"))
    expect(p.locator("#step-counter")).to_be_visible()
    return Playground(p)


def open_example(p: Page, heading: str) -> Playground:
    """Go to the landing page and click the Open button of the card titled `heading`."""
    p.goto("/")
    card = p.locator("form.card").filter(has=p.get_by_role("heading", name=heading, exact=True))
    card.get_by_role("button", name="Open").click()
    expect(p).to_have_url(re.compile(r"/s/[\w-]+$"))
    expect(p.locator("#step-counter")).to_be_visible()
    return Playground(p)


@pytest.fixture
def origin(page: Page) -> Playground:
    """Return the symmetry question's session page, opened from the landing page's card."""
    return open_example(page, "The symmetry question")


@pytest.fixture
def spiral(page: Page) -> Playground:
    """Return the Spiral card's session page (a 2-D problem: every neuron is its map)."""
    return open_card(page, "spiral")


@pytest.fixture
def readme_shot() -> Callable[[Page, str], Path]:
    """Return `readme_shot(page, name)`: the first screen of the page as a PNG.

    It lands in docs/<name>.png (the README's pictures) when UPDATE_DOCS=1, else among the
    test artifacts, so running the tests leaves the checkout clean. The toast is hidden in
    the picture: it is a passing notice, not part of the screen the README shows.
    """

    def save(p: Page, name: str) -> Path:
        folder = DOCS if os.environ.get("UPDATE_DOCS") == "1" else ARTIFACTS / "docs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        p.mouse.move(0, 0)
        toast = p.locator("#toast")  # hidden through the CSSOM: the page's CSP refuses
        toast.evaluate("t => { t.style.visibility = 'hidden'; }")  # an injected <style>
        p.screenshot(path=path)
        toast.evaluate("t => { t.style.visibility = ''; }")
        return path

    return save
