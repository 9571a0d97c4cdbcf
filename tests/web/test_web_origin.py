"""The origin journey in a real browser: the symmetry question, as a new user would take it.

The numbers are the question's own (shared/origin/symmetry-question.txt): it computed in
float32 and rounded as it went, so its a¹ matches to every printed digit and its gradient
table within 2e-7 (DESIGN.md). The long test is one journey by design; the smoke test is
the smallest slice of it and also runs against a container (APP_URL).
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


def test_web_smoke_origin_opens_and_steps(origin, shot):
    """Landing → the symmetry question → a¹ row 0 is 0.9002495 → Step moves the counter."""
    a1 = origin.page.locator("#panel-matrices #m-a-1 tbody tr").first.locator("td")
    expect(a1).to_have_text(["0.9002495"] * 3)
    row0 = origin.matrix("a-1")[0]
    assert all(abs(v - A1_ROW0) < 5e-8 for v in row0), f"a¹ row 0 = {row0}"
    expect(origin.counter).to_have_text("0")
    shot(origin.page, "origin")
    assert origin.train("Step") == 1
    expect(origin.counter).to_have_text("1")
    shot(origin.page, "after one step")


def test_web_origin_journey(origin, requests_seen, contexts, shot, readme_shot):
    """Open → the question's numbers → the symmetry banner → ×1000 → break it → learn."""
    page = origin.page
    # The question's a¹ and gradient table, and the banner that answers it.
    row0 = origin.matrix("a-1")[0]
    assert all(abs(v - A1_ROW0) < 5e-8 for v in row0), f"a¹ row 0 = {row0}"
    origin.expect_matrix(
        lambda: origin.product_table(3), GRADIENT_W2, 2e-7, "walkthrough table prod-3 (∂ΣC/∂w²)"
    )
    banner = page.locator("#symmetry-banner")
    expect(banner.locator(".sym-messages li")).to_have_count(2)
    expect(banner.locator(".sym-messages li").nth(0)).to_contain_text(
        "Hidden layer 1: neurons 0, 1, 2 are identical"
    )
    expect(banner.locator(".sym-messages li").nth(1)).to_contain_text(
        "Hidden layer 2: neurons 0, 1, 2 are identical"
    )
    shot(page, "origin")
    readme_shot(page, "playground-origin")

    # ×1000: the question's output after 1000 iterations, and still symmetric.
    origin.train("×1000")
    expect(origin.counter).to_have_text("1000")
    origin.expect_matrix(origin.outputs, OUTPUTS_AFTER_1000, 5e-7, "outputs after 1000 steps")
    expect(banner).to_be_visible()
    shot(page, "after 1000 steps")

    # Break symmetry (Xavier, seed 0, from the banner) and train to step 10,000.
    form = banner.locator("form")
    form.get_by_label("Scheme").select_option("xavier_uniform")
    expect(form.get_by_label("Seed")).to_have_value("0")
    form.get_by_role("button", name="Break symmetry").click()
    expect(banner).to_have_count(0)
    expect(origin.counter).to_have_attribute("data-step", "0")
    clicks = 0
    while origin.step() < 10_000 and clicks < 20:
        origin.train("×1000")
        clicks += 1
    assert origin.step() == 10_000, f"{clicks} clicks of ×1000 reached step {origin.step()}"
    assert clicks == 10
    origin.expect_matrix(origin.outputs, TARGETS, 0.02, "outputs after 10,000 steps (Xavier)")
    expect(page.locator("#symmetry-banner")).to_have_count(0)
    shot(page, "symmetry broken, step 10000")
    readme_shot(page, "playground-symmetry-broken")

    # Every request of the journey stayed on this machine.
    assert any(re.search(r"/s/[\w-]+/step", u) for u in requests_seen)
    assert contexts.foreign_requests() == []
