"""Training in the browser: Play and Pause, and the phase stepper, one phase per click."""

from __future__ import annotations

import re

from playwright.sync_api import expect

ORIGIN_PHASES = [
    "forward layer 1",
    "forward layer 2",
    "forward layer 3",
    "loss",
    "backward layer 3",
    "backward layer 2",
    "backward layer 1",
    "update",
]
# The Matrices panel's figures lit after click n: n and a while forward, ∂ΣC/∂w while backward.
LIT_AFTER = {
    1: ["z-1", "a-1"],
    2: ["z-2", "a-2"],
    3: ["z-3", "a-3"],
    5: ["grad-3"],
    6: ["grad-2"],
    7: ["grad-1"],
}


def curve_points(page) -> int:
    """Return how many training points the loss curve holds."""
    return int(page.evaluate("bpChart.points(document.getElementById('curve')).train.length"))


def test_web_play_then_pause(origin, shot):
    """Play trains over the live stream (counter and loss curve move in place); Pause
    stops it, in this tab and on the server."""
    page = origin.page
    play = page.locator("#play-btn")
    assert curve_points(page) == 0  # "No training yet"
    expect(play).to_have_attribute("aria-pressed", "false")
    page.evaluate("window.__marker = 1")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(origin.counter).not_to_have_attribute("data-step", "0")
    first_step = origin.step()
    expect(origin.counter).not_to_have_attribute("data-step", str(first_step))
    page.wait_for_function("bpChart.points(document.getElementById('curve')).train.length > 2")
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    shot(page, "playing")
    play.click()  # ❚❚ Pause
    expect(play).to_have_attribute("aria-pressed", "false")
    expect(play).to_have_text(re.compile("Play"))
    paused = origin.step()
    page.wait_for_timeout(1000)  # a paused session must not move the counter any more
    assert origin.step() == paused, "the counter still moves after Pause"
    assert paused > first_step > 0
    shot(page, "paused")


def test_web_phase_stepper_walks_every_phase(origin, shot):
    """8 clicks light forward 1-3, loss, backward 3-1, update in turn; the 9th applies it."""
    page = origin.page
    origin.open_tab("stepper")
    phases = page.locator("#panel-stepper ol.phases li")
    expect(phases).to_have_text(ORIGIN_PHASES)
    expect(page.locator("#panel-stepper li.just")).to_have_count(0)
    for n, label in enumerate(ORIGIN_PHASES, start=1):
        expect(page.locator("#phase-next")).to_have_text(f"Compute: {label}")
        page.locator("#phase-next").click()
        expect(phases.nth(n - 1)).to_have_class(re.compile(r"\bjust\b"))
        expect(page.locator("#panel-stepper li.just")).to_have_text([label])
        expect(page.locator("#panel-stepper li.done")).to_have_count(n)
        for key in LIT_AFTER.get(n, []):
            expect(page.locator(f"#panel-stepper #m-{key}")).to_have_class(re.compile(r"\blit\b"))
        expect(origin.counter).to_have_text("0")
        shot(page.locator("#panel-stepper"), f"phase {n} {label}")
    expect(page.locator("#phase-next")).to_have_text("Apply the update (step 1)")
    page.locator("#phase-next").click()
    expect(origin.counter).to_have_text("1")
    expect(page.locator("#panel-stepper li.just")).to_have_count(0)
    expect(page.locator("#phase-next")).to_have_text("Compute: forward layer 1")
    shot(page, "update applied")


def test_web_play_speed_travels_with_the_live_stream(origin, requests_seen):
    """The speed beside Play reconnects the tab's stream with it, and is kept after Pause."""
    page = origin.page
    page.select_option("#play-speed", "50")
    page.wait_for_function(
        "() => document.getElementById('live').getAttribute('sse-connect').includes('v_speed=50')")
    play = page.locator("#play-btn")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(origin.counter).not_to_have_attribute("data-step", "0")
    play.click()  # ❚❚ Pause
    expect(play).to_have_attribute("aria-pressed", "false")
    assert any("/live?" in u and "v_speed=50" in u for u in requests_seen)
    expect(page.locator("#play-speed")).to_have_value("50")
