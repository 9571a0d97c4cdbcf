"""The tools around the matrices: check a hand calculation, compare two initialisations,
and the notices the page gives (the toast, the origin's note)."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_web_check_marks_the_wrong_cell(origin, shot):
    """a¹ with ₀a¹₀ typed as 0.9 → ✗ on cell (0, 0) with the right value; ✓ elsewhere."""
    page = origin.page
    origin.open_tab("check")
    panel = page.locator("#panel-check")
    panel.get_by_label("Quantity").select_option("a")
    panel.get_by_label("Layer").select_option("1")
    panel.get_by_label("Your matrix").fill("0.9 0.9002495 0.9002495\n0.8320184 0.8320184 0.8320184")
    panel.get_by_role("button", name="Check", exact=True).click()
    result = page.locator("#check-result .check-result")
    expect(result).to_have_class(re.compile(r"\bbad\b"))
    expect(result).to_contain_text("✗ Cell (0, 0) is off")
    expect(result).to_contain_text("the right value is 0.9002495")
    cells = result.locator("table.verdicts td")
    expect(cells).to_have_count(6)
    expect(cells.nth(0)).to_have_class(re.compile(r"\bwrong\b"))
    expect(cells.nth(0).locator(".mark")).to_have_text("✗")
    expect(cells.nth(0)).to_contain_text("should be 0.9002495")
    expect(cells.nth(0)).to_have_attribute("title", "right value 0.9002495108803148")
    expect(result.locator("td.right")).to_have_count(5)
    expect(result.locator("td.right .mark")).to_have_text(["✓"] * 5)
    shot(panel, "check with one wrong cell")


def test_web_compare_shows_both_sessions_and_steps_both(origin, shot):
    """Compare → Compare side by side (Xavier) → two columns, one symmetric → Step both."""
    page = origin.page
    origin.open_tab("compare")
    share = page.locator("#panel-compare")
    expect(share.get_by_label("Scheme")).to_have_value("xavier_uniform")
    share.get_by_role("button", name="Compare side by side").click()
    expect(page).to_have_url(re.compile(r"/compare/[\w-]+/[\w-]+$"))
    columns = page.locator("#compare-columns section.compare-col")
    expect(columns).to_have_count(2)
    warned = columns.filter(has=page.locator(".notice.warn"))
    expect(warned).to_have_count(1)
    expect(warned.locator(".notice.warn")).to_contain_text(
        "Hidden layer 1: neurons 0, 1, 2 are identical"
    )
    expect(warned.locator(".notice.warn")).to_contain_text("Hidden layer 2:")
    expect(columns.filter(has_not=page.locator(".notice.warn"))).to_have_count(1)
    expect(columns.locator("svg.diagram")).to_have_count(2)
    expect(columns.locator("canvas.curve")).to_have_count(2)
    expect(columns.locator(".cmp-step")).to_have_text(["0", "0"])
    shot(page, "compare")
    page.get_by_role("button", name="Step both").click()
    expect(columns.locator(".cmp-step")).to_have_text(["1", "1"])
    page.get_by_role("button", name="×10", exact=True).click()
    expect(columns.locator(".cmp-step")).to_have_text(["11", "11"])
    shot(page, "compare after stepping both")


def test_web_toast_fades(origin, shot):
    """The 'Symmetry broken' notice shows, then fades on its own (app.js: 4.5 s)."""
    page = origin.page
    toast = page.locator("#toast")
    page.locator("#symmetry-notice").get_by_role("button", name="Break symmetry").click()
    expect(toast).to_have_text("Symmetry broken: xavier_uniform, seed 0. Press Play or Fit.")
    expect(toast).to_have_class(re.compile(r"\bshow\b"))
    shot(toast, "toast shown")
    expect(toast).not_to_have_class(re.compile(r"\bshow\b"))


def test_web_origin_note_only_over_the_origin_numbers(origin, shot):
    """The walkthrough says 'the question's own numbers' only while they are."""
    page = origin.page
    origin.open_tab("walkthrough")
    note = page.locator("#panel-walkthrough .note")
    expect(note).to_contain_text("These are the question's own numbers")
    page.locator("#symmetry-notice").get_by_role("button", name="Break symmetry").click()
    expect(page.locator("#symmetry-notice")).to_have_count(0)
    shot(page.locator("#panel-walkthrough"), "walkthrough after Break symmetry")
    expect(note).to_have_count(0)


def test_web_transpose_keeps_the_question_table(origin, shot):
    """Transposing the weights turns the Matrices panel, not the walkthrough's table."""
    page = origin.page
    before = origin.product_table(3)
    assert [len(row) for row in before] == [2, 2, 2, 2]  # (1 + 3) × 2: bias row on top
    page.get_by_label("transpose weights (out × in, as PyTorch)").check()
    origin.open_tab("matrices")
    expect(page.locator("#panel-matrices #m-grad-3 .shape")).to_have_text("2×4")
    origin.expect_matrix(lambda: origin.product_table(3), before, 0.0, "prod-3, transposed view")
    shot(page.locator("#prod-3"), "question table with transposed weights")


def test_web_copy_link_opens_a_fresh_copy(origin):
    """The share panel's copy link points at /s/<id>/copy and opens another session."""
    page = origin.page
    origin.open_tab("share")
    link = page.locator("#link-copy")
    href = link.get_attribute("href") or ""
    assert re.fullmatch(r"https?://[^/]+/s/[\w-]+/copy", href), href
    source = page.url
    link.click()
    expect(page).to_have_url(re.compile(r"/s/[\w-]+$"))
    assert page.url != source
