"""The 2-D playground in Chromium: a dataset card, features, Play, recipe links, CSV upload.

Every check waits with `expect` (15 s ceilings, never a speed claim). Exact numbers are
read from the JSON API of the same server (`page.request` shares the page's context) and
from the matrix cells' titles, which carry full precision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

FEATURES = ["x₁²", "x₂²"]  # the features a learner switches on (the card has sin x₁, sin x₂)
TICKED = "features=x1%2Cx2%2Cx1_squared%2Cx2_squared%2Csin_x1%2Csin_x2"  # in the recipe
PLAY_MS = 3_000  # "Play for a few seconds"
SESSION_URL = re.compile(r"/s/[\w-]+(\?.*)?$")
BAD_CSV = b"a,b,y\n1,2,3\n4,5\n7,8,9\n"  # row 2 is one field short


def _open_card(page: Page, heading: str) -> str:
    """Open a landing-page card by its heading; return the new session's id."""
    page.goto("/")
    card = page.locator("form.card").filter(
        has=page.get_by_role("heading", name=heading, exact=True)
    )
    card.get_by_role("button", name="Open").click()
    expect(page).to_have_url(SESSION_URL)
    expect(page.locator("#step-counter")).to_be_visible()
    return page.url.split("/s/", 1)[1].split("?", 1)[0]


def _tick_features_and_regenerate(page: Page) -> None:
    """Switch x₁² and x₂² on, one click each: each takes effect at once."""
    for label in FEATURES:
        feature = page.locator("#data fieldset.features button", has_text=label)
        before = page.locator("#version").input_value()
        feature.click()
        expect(page.locator("#version")).not_to_have_value(before)
        expect(page.locator("#data fieldset.features button", has_text=label)).to_have_attribute(
            "aria-pressed", "true")


def _number(page: Page, selector: str) -> float:
    text = page.locator(selector).text_content() or ""
    return float(text.replace("−", "-"))


def _trace(page: Page, sid: str) -> dict[str, Any]:
    resp = page.request.get(f"/api/sessions/{sid}/trace")
    assert resp.ok, resp.text()
    body: dict[str, Any] = resp.json()
    return body


def _forward(trace: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(f["z"], f["a"]) for f in trace["forward"]]


def _a1_titles(page: Page) -> list[list[str]]:
    """Return the titles (exact values) of the Matrices view's a¹ cells, row by row."""
    if page.locator("#view-body").get_attribute("data-tab") != "matrices":
        page.locator('.tabs a[data-tab="matrices"]').click()
    titles: list[list[str]] = page.locator("#panel-matrices #m-a-1 table").evaluate(
        "t => [...t.querySelectorAll('tbody tr')]"
        ".map(r => [...r.querySelectorAll('td')].map(td => td.title))"
    )
    return titles


def _recipe_href(page: Page, pattern: re.Pattern[str] | None = None) -> str:
    """Return the Share view's recipe link once it has loaded (and matches `pattern`)."""
    if page.locator("#view-body").get_attribute("data-tab") != "share":
        page.locator('.tabs a[data-tab="share"]').click()
    link = page.locator("#panel-share #recipe-url")
    expect(link).to_have_count(1)
    if pattern is not None:
        expect(link).to_have_attribute("href", pattern)
    href = link.get_attribute("href")
    assert href, "the recipe link has no href"
    return href


def _open_in_new_context(new_page: Callable[..., Page], href: str) -> tuple[Page, str]:
    other = new_page()
    other.goto(href)
    expect(other).to_have_url(SESSION_URL)
    expect(other.locator("#diagram")).to_be_visible()
    return other, other.url.split("/s/", 1)[1].split("?", 1)[0]


def test_spiral_with_features_plays_and_improves(page: Page, shot: Callable[..., Any]) -> None:
    """Spiral card → switch on two more features → Play a few seconds → Pause."""
    sid = _open_card(page, "Spiral")
    _tick_features_and_regenerate(page)
    layers = page.request.get(f"/api/sessions/{sid}").json()["spec"]["layers"]
    assert layers[0] == 6
    expect(page.locator('#diagram g.node[data-l="0"]')).to_have_count(6)
    shot(page, "regenerated")
    map_before = page.locator("#output-map").get_attribute("href")
    loss_before = _number(page, "#test-loss")
    assert (map_before or "").startswith("data:image/png;base64,")
    play = page.locator("#play-btn")
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#step-counter")).not_to_have_attribute("data-step", "0")
    page.wait_for_timeout(PLAY_MS)
    play.click()  # ❚❚ Pause
    expect(play).to_have_attribute("aria-pressed", "false")
    shot(page, "paused")
    expect(page.locator("#output-map")).not_to_have_attribute("href", map_before or "")
    loss_after = _number(page, "#test-loss")
    assert loss_after < loss_before, f"test loss {loss_before} → {loss_after}"


def test_recipe_link_opened_in_a_new_context_reproduces_the_first_trace(
    page: Page, contexts: Any, shot: Callable[..., Any]
) -> None:
    """A fresh Spiral session's recipe link, opened elsewhere, starts with the same numbers."""
    sid = _open_card(page, "Spiral")
    first = _trace(page, sid)
    href = _recipe_href(page)
    other, other_sid = _open_in_new_context(contexts.new_page, href)
    assert other_sid != sid
    shot(other, "recipe opened")
    again = _trace(other, other_sid)
    assert again["observations"] == first["observations"]
    assert _forward(again) == _forward(first)
    assert _a1_titles(other) == _a1_titles(page)


def test_recipe_link_after_regenerate_reproduces_the_regenerated_session(
    page: Page, contexts: Any, shot: Callable[..., Any]
) -> None:
    """Switch features on, share: the recipe rebuilds the first trace exactly."""
    sid = _open_card(page, "Spiral")
    _tick_features_and_regenerate(page)
    first = _trace(page, sid)
    href = _recipe_href(page, re.compile(TICKED))
    other, other_sid = _open_in_new_context(contexts.new_page, href)
    shot(other, "recipe opened")
    again = _trace(other, other_sid)
    assert again["observations"] == first["observations"]
    assert _forward(again) == _forward(first)


def test_csv_upload_with_a_ragged_row_shows_the_message(
    page: Page, contexts: Any, shot: Callable[..., Any]
) -> None:
    """A bad CSV is refused beside the upload field, and the data stays as it was."""
    sid = _open_card(page, "XOR")
    contexts.expect_errors("status of 422")  # the browser logs the refusal itself
    page.locator("#data summary", has_text="Paste or upload data").click()
    form = page.locator("#data form[hx-post$='/csv']")
    form.locator("input[type=file]").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": BAD_CSV}
    )
    form.get_by_role("button", name="Upload").click()
    error = page.locator("#err-csv")
    expect(error).to_have_text("row 2 has 2 fields but the header has 3.")
    shot(page, "csv refused")
    spec = page.request.get(f"/api/sessions/{sid}").json()["spec"]
    assert len(spec["inputs"]) == 4  # the XOR truth table, untouched


def test_csv_upload_replaces_the_data(page: Page) -> None:
    """A good CSV replaces the rows; the layer sizes follow its columns."""
    sid = _open_card(page, "XOR")
    page.locator("#data summary", has_text="Paste or upload data").click()
    form = page.locator("#data form[hx-post$='/csv']")
    form.locator("input[type=file]").set_input_files(
        {"name": "good.csv", "mimeType": "text/csv", "buffer": b"p,q,r,y\n1,2,3,0\n4,5,6,1\n"}
    )
    form.get_by_role("button", name="Upload").click()
    expect(page.locator("#data .datagrid tbody tr")).to_have_count(2)
    expect(page.locator("#err-csv")).to_have_text("")
    assert page.request.get(f"/api/sessions/{sid}").json()["spec"]["layers"][0] == 3
