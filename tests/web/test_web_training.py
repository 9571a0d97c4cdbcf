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


def test_web_play_then_pause(origin, shot):
    """Play trains (counter and loss curve move); Pause stops it."""
    page = origin.page
    play = page.locator("#play-btn")
    curve = page.locator("#panel-loss svg.curve path.loss-line")
    expect(curve).to_have_count(0)  # "No training yet"
    expect(play).to_have_attribute("aria-pressed", "false")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(origin.counter).not_to_have_attribute("data-step", "0")
    expect(curve).to_have_attribute("d", re.compile(r"^M"))
    first_d, first_step = curve.get_attribute("d"), origin.step()
    expect(origin.counter).not_to_have_attribute("data-step", str(first_step))
    shot(page, "playing")
    play.click()  # ❚❚ Pause
    expect(play).to_have_attribute("aria-pressed", "false")
    expect(play).to_have_text(re.compile("Play"))
    expect(page.locator("#player [hx-trigger]")).to_have_count(0)
    paused = origin.step()
    page.wait_for_timeout(1000)  # a stopped player must not move the counter any more
    assert origin.step() == paused, "the counter still moves after Pause"
    assert paused > first_step > 0
    expect(curve).not_to_have_attribute("d", first_d or "")
    shot(page, "paused")


def test_web_phase_stepper_walks_every_phase(origin, shot):
    """8 clicks light forward 1-3, loss, backward 3-1, update in turn; the 9th applies it."""
    page = origin.page
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
            expect(page.locator(f"#panel-matrices #m-{key}")).to_have_class(re.compile(r"\blit\b"))
        expect(origin.counter).to_have_text("0")
        shot(page.locator("#panel-stepper"), f"phase {n} {label}")
    expect(page.locator("#phase-next")).to_have_text("Apply the update (step 1)")
    page.locator("#phase-next").click()
    expect(origin.counter).to_have_text("1")
    expect(page.locator("#panel-stepper li.just")).to_have_count(0)
    expect(page.locator("#phase-next")).to_have_text("Compute: forward layer 1")
    shot(page, "update applied")


def test_web_play_speed_travels_with_every_frame(origin):
    """The speed beside Play is sent with Play and with each frame, and kept after Pause."""
    page = origin.page
    speeds: list[str] = []
    page.on("request", lambda r: speeds.extend(
        re.findall(r"v_speed=(\d+)", r.post_data or "")) if "/play" in r.url else None)
    page.select_option("#play-speed", "50")
    play = page.locator("#play-btn")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(origin.counter).not_to_have_attribute("data-step", "0")
    page.wait_for_timeout(300)
    play.click()  # ❚❚ Pause
    expect(play).to_have_attribute("aria-pressed", "false")
    assert len(speeds) >= 2  # Play and at least one frame after it
    assert set(speeds) == {"50"}
    expect(page.locator("#play-speed")).to_have_value("50")
