"""The origin journey in a real browser: the symmetry question, as a new user would take it.

The numbers are the question's own (docs/symmetry-question.txt): it computed in float32
and rounded as it went, so its a¹ matches to every printed digit and its gradient table
within 2e-7 (DESIGN.md). The journey is the issue's: one click opens the question with
its groups named and why, one click breaks the symmetry, one click in the control bar
trains until every output is within 0.01 of its target. The smoke test is the smallest
slice of it and also runs against a container (APP_URL).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

A1_ROW0 = 0.9002495  # the question's ₀a¹, every neuron
GRADIENT_W2 = [
    [0.0288126, 0.0596958],  # the question's ∂ΣC/∂w², bias row on top
    [0.028122, 0.0580562],
    [0.028122, 0.0580562],
    [0.028122, 0.0580562],
]
OUTPUTS_AFTER_1000 = [[0.5992708, 0.1997655], [0.5993174, 0.2004307]]  # the question's a³
TARGETS = [[0.2, 0.4], [1.0, 0.0]]
FIT_SECONDS = 60  # a ceiling for the Fit click (the bench times it: well under 10 s)


def test_web_smoke_origin_opens_and_steps(origin, shot):
    """Landing → the symmetry question → a¹ row 0 is 0.9002495 → Step moves the counter."""
    origin.open_tab("matrices")
    a1 = origin.page.locator("#panel-matrices #m-a-1 tbody tr").first.locator("td")
    expect(a1).to_have_text(["0.9002495"] * 3)
    row0 = origin.matrix("a-1")[0]
    assert all(abs(v - A1_ROW0) < 5e-8 for v in row0), f"a¹ row 0 = {row0}"
    expect(origin.counter).to_have_text("0")
    shot(origin.page, "origin")
    assert origin.train("Step") == 1
    expect(origin.counter).to_have_text("1")
    shot(origin.page, "after one step")


def test_web_origin_numbers_and_the_question_answered(origin, shot, readme_shot):
    """The question's a¹ and gradient table, its output after 1000 steps, and the notice
    that names the groups and says why."""
    page = origin.page
    row0 = origin.matrix("a-1")[0]
    assert all(abs(v - A1_ROW0) < 5e-8 for v in row0), f"a¹ row 0 = {row0}"
    origin.expect_matrix(
        lambda: origin.product_table(3), GRADIENT_W2, 2e-7, "walkthrough table prod-3 (∂ΣC/∂w²)"
    )
    notice = page.locator("#symmetry-notice")
    expect(notice.locator(".sym-messages li")).to_have_text([
        re.compile(r"Hidden layer 1: neurons 0, 1, 2 are identical"),
        re.compile(r"Hidden layer 2: neurons 0, 1, 2 are identical"),
    ])
    expect(notice.locator("details#why")).to_have_attribute("open", "")
    expect(notice.locator("details#why p")).to_contain_text("copies of each other")
    origin.train("×1000")
    expect(origin.counter).to_have_text("1000")
    origin.expect_matrix(origin.outputs, OUTPUTS_AFTER_1000, 5e-7, "outputs after 1000 steps")
    expect(notice).to_be_visible()
    shot(page, "after 1000 steps")


def test_web_origin_journey_three_clicks(page, contexts, requests_seen, shot, readme_shot):
    """One click opens the question (groups named, why open); one click breaks the
    symmetry; one click in the control bar trains until the outputs are within 0.01."""
    page.goto("/")
    page.locator('form.card:has(input[value="origin"])').get_by_role("button").click()
    notice = page.locator("#symmetry-notice")
    expect(notice.locator(".sym-messages li")).to_have_count(2)
    expect(notice.locator("details#why")).to_have_attribute("open", "")
    shot(page, "the question, answered")
    readme_shot(page, "playground-origin")
    notice.get_by_role("button", name="Break symmetry").click()
    expect(page.locator("#symmetry-notice")).to_have_count(0)
    expect(page.locator("#symmetry-ok")).to_be_visible()
    expect(page.locator("#step-counter")).to_have_attribute("data-step", "0")
    page.locator("#controls").get_by_role("button", name=re.compile("^Fit")).click()
    expect(page.locator("#fitted")).to_be_visible(timeout=FIT_SECONDS * 1000)
    expect(page.locator("#play-btn")).to_have_text(re.compile("Play"))  # stopped by itself
    outputs = [[float(v) for v in row] for row in page.locator("#outputs tr.arow").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td.out')].map(td => td.dataset.value))")]
    assert all(abs(a - y) <= 0.01 for row, want in zip(outputs, TARGETS, strict=True)
               for a, y in zip(row, want, strict=True)), outputs
    assert int(page.locator("#step-counter").get_attribute("data-step") or "0") > 0
    shot(page, "fitted")
    readme_shot(page, "playground-symmetry-broken")
    assert any(re.search(r"/s/[\w-]+/live", u) for u in requests_seen)
    assert contexts.foreign_requests() == []
