"""The pages under their Content-Security-Policy in Chromium: the policy is sent, and the
origin's page and a 2-D page load, step, play and swap views with no console error and no
CSP violation.

Violations are reported by the page itself (a `securitypolicyviolation` listener added
before any of the page's scripts run); console errors and uncaught exceptions fail every
browser test through the `contexts` fixture.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, Response, expect

REPORT = """document.addEventListener("securitypolicyviolation", (e) => window.reportViolation(
  `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
));"""
SESSION_PAGE = re.compile(r"/s/[\w-]+$")


class Watched:
    """A page whose CSP violations are collected in `violations`."""

    def __init__(self, contexts: Any) -> None:
        context = contexts.new_context()
        self.violations: list[str] = []
        context.expose_function("reportViolation", self._report)
        context.add_init_script(REPORT)
        self.page: Page = context.new_page()

    def _report(self, violation: str) -> None:
        self.violations.append(violation)

    def open_card(self, card: str) -> Response:
        """Open a landing-page card (a same-origin form post); return the session page's
        response."""
        landing = self.page.goto("/")
        assert landing is not None
        _assert_strict(landing)
        form = self.page.locator(f'form.card:has(input[name="card"][value="{card}"])')
        with self.page.expect_response(lambda r: bool(SESSION_PAGE.search(r.url))
                                       and r.request.method == "GET") as info:
            form.get_by_role("button", name="Open").click()
        expect(self.page.locator("#step-counter")).to_be_visible()
        return info.value


def _assert_strict(resp: Response) -> None:
    """Check the page came with the strict policy (scripts from this server only)."""
    policy = resp.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy, policy
    assert "'unsafe-eval'" not in policy, policy
    assert "frame-ancestors 'none'" in policy, policy


def _step_and_play(page: Page) -> None:
    """Press Step and see the counter move; Play until it moves again; Pause."""
    counter = page.locator("#step-counter")
    before = counter.get_attribute("data-step")
    page.locator("#controls .train").get_by_role("button", name="Step", exact=True).click()
    expect(counter).not_to_have_attribute("data-step", str(before))
    stepped = counter.get_attribute("data-step")
    play = page.locator("#play-btn")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(counter).not_to_have_attribute("data-step", str(stepped))
    play.click()
    expect(play).to_have_attribute("aria-pressed", "false")


def _open_view(page: Page, name: str) -> None:
    """Open a deep view by its tab (an htmx swap with coloured cells)."""
    page.locator(f'.tabs a[data-tab="{name}"]').click()
    expect(page.locator("#view-body")).to_have_attribute("data-tab", name)
    expect(page.locator(f"#view-body #panel-{name}")).to_be_visible()


@pytest.mark.parametrize(("card", "view"), [("origin", "matrices"), ("spiral", "points")])
def test_a_session_page_runs_under_the_policy_without_violations(contexts: Any, card: str,
                                                                 view: str) -> None:
    watched = Watched(contexts)
    _assert_strict(watched.open_card(card))
    _step_and_play(watched.page)
    _open_view(watched.page, view)
    watched.page.wait_for_load_state("networkidle")
    assert watched.violations == []
    assert contexts.unexpected_errors() == []
