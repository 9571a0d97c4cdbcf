"""The instrument on one screen: at 1440 × 900, every card shows the control bar, the data,
the network and the output inside the first viewport; at 390 × 844 the columns stack and
the control bar stays reachable.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from app.web.gallery import CARDS, PLANES

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CONTROLS = ["#reset-btn", "#play-btn", 'button.step-btn[data-n="1"]', "#play-speed",
            "#step-counter", "#epoch-counter", '#controls input[name="learning_rate"]',
            '#controls select[name="hidden_activation"]', '#controls select[name="loss"]',
            '#controls select[name="optimizer"]']  # every card has a hidden layer


def _open(page: Page, card: str) -> None:
    page.goto("/")
    page.locator(f'form.card:has(input[name="card"][value="{card}"])').get_by_role(
        "button", name="Open").click()
    expect(page.locator("#step-counter")).to_be_visible()


def _inside(page: Page, locator: Locator, what: str) -> dict[str, float]:
    """Assert the element lies wholly inside the viewport (no scrolling); return its box."""
    box = locator.bounding_box()
    assert box is not None, f"{what} is not on the page"
    size = page.viewport_size
    assert size is not None
    assert box["x"] >= 0, f"{what} starts left of the screen: {box}"
    assert box["y"] >= 0, f"{what} starts above the screen: {box}"
    assert box["x"] + box["width"] <= size["width"] + 1, f"{what} overflows sideways: {box}"
    assert box["y"] + box["height"] <= size["height"] + 1, f"{what} is below the fold: {box}"
    return box


@pytest.mark.parametrize("card", list(CARDS))
def test_every_card_fits_one_screen_at_1440(contexts: Any, shot: Any, card: str) -> None:
    page = contexts.new_page(viewport=WIDE)
    _open(page, card)
    assert page.evaluate("window.scrollY") == 0
    for selector in CONTROLS:
        _inside(page, page.locator(selector), selector)
    data = _inside(page, page.locator(".col-data"), "the data column")
    network = _inside(page, page.locator("#diagram"), "the network diagram")
    output = _inside(page, page.locator(".col-output"), "the output column")
    assert data["x"] < network["x"] < output["x"], "not data | network | output"
    _inside(page, page.locator("#curve"), "the loss curve")
    _inside(page, page.locator(".tabs"), "the tabs of the deep views")
    if card in PLANES:
        plane = _inside(page, page.locator("#output-map"), "the output map")
        assert min(plane["width"], plane["height"]) >= 360, plane
        _inside(page, page.locator(".legend-bar"), "the colour legend")
        expect(page.locator("svg.plane .tick")).to_have_count(10)  # both axes: −6 … 6
        assert page.locator("svg.plane .points.test circle").count() > 0
        _inside(page, page.locator("#data fieldset.features"), "the features")
        expect(page.locator("#data fieldset.features img")).to_have_count(7)
    else:
        _inside(page, page.locator("#outputs"), "the outputs against the targets")
        _inside(page, page.locator("#data .datagrid"), "the data grid")
    shot(page, f"{card} at 1440")


@pytest.mark.parametrize("card", ["origin", "spiral"])
def test_at_390_the_columns_stack_and_the_control_bar_stays(contexts: Any, shot: Any,
                                                             card: str) -> None:
    page = contexts.new_page(viewport=PHONE)
    _open(page, card)
    boxes = {name: page.locator(sel).bounding_box() for name, sel in (
        ("network", ".col-network"), ("data", ".col-data"), ("output", ".col-output"))}
    assert all(b is not None for b in boxes.values())
    xs = {round(b["x"]) for b in boxes.values() if b}
    assert len(xs) == 1, f"columns side by side at 390 px: {boxes}"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    page.locator(".col-output").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 0
    play = page.locator("#play-btn")
    _inside(page, play, "Play, after scrolling down")
    for button in page.locator("#controls .train button").all():
        _inside(page, button, f"the control bar's {button.text_content()}")
    bar = page.locator("#controls").bounding_box()
    assert bar is not None
    assert bar["height"] <= PHONE["height"] / 4, f"the sticky bar hides the page: {bar}"
    play.click()  # reachable, not only visible
    expect(play).to_have_attribute("aria-pressed", "true")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "false")
    shot(page, f"{card} at 390, scrolled")
