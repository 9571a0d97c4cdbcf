"""The deep views: each opens in the area under the instrument, the URL keeps it (a reload
or a shared link opens it again), and closing it leaves the instrument as it was."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from app.web.preferences import TABS

SMALL_TABS = [t for t in TABS if t != "points"]  # Points is a 2-D problem's view


@pytest.mark.parametrize("tab", SMALL_TABS)
def test_each_view_opens_and_the_url_keeps_it(origin: Any, tab: str) -> None:
    page = origin.page
    view = origin.open_tab(tab)
    expect(page).to_have_url(re.compile(rf"[?&]tab={tab}(&|$)"))
    expect(page.locator(f'.tabs a[data-tab="{tab}"]')).to_have_attribute("aria-selected", "true")
    expect(page.locator("#diagram")).to_be_visible()  # the instrument stays
    page.reload()
    expect(view).to_have_attribute("data-tab", tab)
    expect(page.locator(f"#panel-{tab}")).to_be_visible()
    view.get_by_role("button", name="Close this view").click()
    expect(view).to_be_hidden()
    expect(page).not_to_have_url(re.compile(r"tab="))


def test_the_points_view_of_a_2d_problem_lists_every_point(page: Any, shot: Any) -> None:
    page.goto("/")
    page.locator('form.card:has(input[value="circle"])').get_by_role("button").click()
    page.locator('.tabs a[data-tab="points"]').click()
    rows = page.locator("#panel-points tbody tr")
    expect(rows).to_have_count(50)
    expect(page.locator("#panel-points .more")).to_contain_text("200 more points")
    page.locator("#panel-points").get_by_role("button", name="show all").click()
    expect(page.locator("#panel-points tbody tr")).to_have_count(250)
    expect(page.locator("#panel-points tbody tr.test")).to_have_count(125)
    shot(page, "points view")
    # the per-point table lives here only: not in the instrument's columns
    expect(page.locator(".instrument table.points-table")).to_have_count(0)


def test_a_link_with_a_view_opens_with_it(origin: Any, contexts: Any) -> None:
    origin.open_tab("walkthrough")
    url = origin.page.url
    other = contexts.new_page()
    other.goto(url)
    expect(other.locator("#view-body")).to_have_attribute("data-tab", "walkthrough")
    expect(other.locator("#prod-3")).to_be_visible()


def test_a_view_not_offered_here_opens_closed(origin: Any) -> None:
    """?tab=points on a small table (no plane) opens the page with no view open."""
    page = origin.page
    page.goto(page.url.split("?")[0] + "?tab=points")
    expect(page.locator("#view-body")).to_be_hidden()
    expect(page.locator('.tabs a[data-tab="points"]')).to_have_count(0)
