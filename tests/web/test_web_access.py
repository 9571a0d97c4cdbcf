"""Offline, keyboard, narrow screens and dark mode: the page works for everyone, anywhere.

The playground must work in a classroom with no internet: no request may leave for a host
other than the server's (127.0.0.1). The layout must reach down to a 390 px phone without
the page scrolling sideways (wide tables scroll inside their own box), and follow the
system's dark colour scheme.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

PHONE = {"width": 390, "height": 844}

STEP_BUTTON = 'button.step-btn[data-n="1"]'

# Elements whose removal ends the page's sideways scroll: the culprits, smallest first.
CULPRITS_JS = """() => {
  const root = document.documentElement, width = root.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.right <= width + 1) continue;
    const display = el.style.display;
    el.style.display = 'none';
    const fixed = root.scrollWidth <= width + 1;
    el.style.display = display;
    if (fixed) out.push({area: box.width * box.height, html: el.outerHTML.slice(0, 120),
      where: el.parentElement.closest('[id]')?.id, right: box.right});
  }
  out.sort((a, b) => a.area - b.area);
  return out.slice(0, 3).map(o => `${o.html} (inside #${o.where}, right edge ${o.right} px)`);
}"""


def luminance(css_colour: str) -> float:
    """Return the relative luminance (WCAG) of an `rgb(r, g, b)` colour."""
    parts = css_colour[css_colour.index("(") + 1 : css_colour.index(")")].split(",")
    r, g, b = (float(p) / 255 for p in parts[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def test_web_no_request_leaves_the_machine(page, contexts, requests_seen):
    """Landing, a session, training, compare and the API docs: every request to 127.0.0.1."""
    page.goto("/")
    page.wait_for_load_state("networkidle")
    xor = page.locator("form.card").filter(has=page.get_by_role("heading", name="XOR"))
    xor.get_by_role("button", name="Open").click()
    expect(page.locator("#step-counter")).to_be_visible()
    page.locator("#controls").get_by_role("button", name="×100", exact=True).click()
    expect(page.locator("#step-counter")).to_have_text("100")
    page.locator("#play-btn").click()
    expect(page.locator("#step-counter")).not_to_have_text("100")
    page.locator("#play-btn").click()
    expect(page.locator("#play-btn")).to_have_text(re.compile("Play"))
    page.locator('.tabs a[data-tab="compare"]').click()
    page.locator("#panel-compare").get_by_role("button", name="Compare side by side").click()
    expect(page.locator("#compare-columns section.compare-col")).to_have_count(2)
    page.get_by_role("link", name="API").click()
    expect(page.locator(".swagger-ui")).to_be_visible()
    page.wait_for_load_state("networkidle")
    contexts.expect_errors(r"cdn\.redoc\.ly")  # ReDoc's bundled logo, blocked by the CSP
    page.goto("/redoc")
    page.wait_for_load_state("networkidle")
    assert len(requests_seen) > 10
    assert contexts.foreign_requests() == []


def test_web_tab_reaches_step_with_visible_focus(origin, shot):
    """Tab from the top of the page reaches the Step button, and its focus ring shows."""
    page = origin.page
    page.reload()
    expect(page.locator(STEP_BUTTON)).to_be_visible()
    reached = False
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement === document.querySelector('{STEP_BUTTON}')"):
            reached = True
            break
    assert reached, "200 presses of Tab never focused the Step button"
    ring = page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
        return {visible: e.matches(':focus-visible'), style: s.outlineStyle,
                width: parseFloat(s.outlineWidth)}; }""")
    assert ring["visible"], ring
    assert ring["style"] != "none", ring
    assert ring["width"] >= 2, ring
    shot(page.locator("#controls"), "Step focused from the keyboard")
    page.keyboard.press("Enter")
    expect(origin.counter).to_have_text("1")


@pytest.mark.parametrize("where", ["landing", "session"])
def test_web_phone_width_has_no_sideways_scroll(contexts, shot, where):
    """At 390 px wide the page fits: document scrollWidth ≤ 391."""
    page = contexts.new_page(viewport=PHONE)
    page.goto("/")
    if where == "session":
        page.locator("form.card").first.get_by_role("button", name="Open").click()
        expect(page.locator("#step-counter")).to_be_visible()
    shot(page, f"{where} at 390 px")
    width = page.evaluate("document.documentElement.scrollWidth")
    culprits = [] if width <= PHONE["width"] + 1 else page.evaluate(CULPRITS_JS)
    assert width <= PHONE["width"] + 1, (
        f"the {where} page is {width} px wide at a 390 px viewport; too wide: {culprits}"
    )


def test_web_dark_scheme_has_a_dark_page(contexts, shot, readme_shot):
    """prefers-color-scheme: dark → dark body background, light text (the README's dark
    picture is this page)."""
    page = contexts.new_page(color_scheme="dark")
    page.goto("/")
    page.locator("form.card").first.get_by_role("button", name="Open").click()
    expect(page.locator("#step-counter")).to_be_visible()
    readme_shot(page, "playground-origin-dark")
    colours = page.evaluate("""() => { const b = getComputedStyle(document.body),
        p = getComputedStyle(document.querySelector('.col'));
        return {bg: b.backgroundColor, ink: b.color, panel: p.backgroundColor}; }""")
    assert luminance(colours["bg"]) < 0.05, colours
    assert luminance(colours["panel"]) < 0.05, colours
    assert luminance(colours["ink"]) > 0.5, colours
    shot(page, "dark")


def test_web_one_click_anywhere_on_an_example_card_opens_it(page, base_url):
    """A click on a card's title or picture, not only on its Open button, opens it."""
    page.goto(base_url + "/")
    card = page.locator("form.card", has_text="The symmetry question")
    box = card.locator("svg.thumb").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url(re.compile(r"/s/[\w-]+$"))
    expect(page.locator("#symmetry-notice")).to_be_visible()
