"""Editing in the browser: a data cell changes the activations in place; bad input is refused.

The expected a¹ comes from the origin's network (every weight and bias 1, sigmoid): with
inputs (x₀, x₁), each hidden neuron of layer 1 has n = 1 + x₀ + x₁.
"""

from __future__ import annotations

import math

from playwright.sync_api import expect


def sigmoid(n: float) -> float:
    """Return σ(n)."""
    return 1.0 / (1.0 + math.exp(-n))


def test_web_cell_edit_updates_activations_without_reload(origin, shot):
    """inputs[0][0] = 0.5 → a¹ row 0 = σ(1.9) at once, in the same page (no reload)."""
    page = origin.page
    page.evaluate("window.__marker = 1")
    before = origin.matrix("a-1")
    cell = page.get_by_label("inputs row 0 column 0", exact=True)
    cell.fill("0.5")
    cell.press("Tab")
    want = [[sigmoid(1.0 + 0.5 + 0.4)] * 3, before[1]]
    origin.expect_matrix(lambda: origin.matrix("a-1"), want, 1e-12, "a¹ after inputs[0][0] = 0.5")
    expect(page.locator('#diagram g.node[data-l="1"] text.node-val')).to_have_text(
        [f"{sigmoid(1.9):.3f}"] * 3)  # the diagram shows observation 0
    expect(page.locator("#panel-matrices #m-a-1 tbody tr").first.locator("td")).to_have_text(
        [f"{sigmoid(1.9):.7f}"] * 3
    )
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    expect(page.locator("#err-inputs-0-0")).to_be_empty()
    expect(origin.counter).to_have_text("0")
    shot(page, "inputs row 0 column 0 = 0.5")


def test_web_bad_cell_shows_message_and_changes_nothing(origin, contexts, shot):
    """'abc' in an input cell → a message beside it; the counter and a¹ are unchanged."""
    contexts.expect_errors("status of 422")  # the browser logs the refusal itself
    page = origin.page
    origin.train("Step")
    step, a1, outputs = origin.step(), origin.matrix("a-1"), origin.outputs()
    page.evaluate("window.__marker = 1")
    cell = page.get_by_label("inputs row 0 column 0", exact=True)
    cell.fill("abc")
    cell.press("Tab")
    error = page.locator("#err-inputs-0-0")
    expect(error).to_be_visible()
    expect(error).to_contain_text("abc")
    expect(error).to_contain_text("not a number")
    assert origin.step() == step
    assert origin.matrix("a-1") == a1
    assert origin.outputs() == outputs
    expect(page.get_by_label("inputs row 0 column 1", exact=True)).to_have_value("0.4")
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    shot(page, "abc in inputs row 0 column 0")


def test_web_oversized_layer_names_the_limit(origin, contexts, shot):
    """Layer sizes 2-10000-2 → #err-layers names the limit (1024); the network is unchanged."""
    contexts.expect_errors("status of 422")  # the browser logs the refusal itself
    page = origin.page
    a1 = origin.matrix("a-1")
    origin.open_tab("setup")
    sizes = page.locator("#panel-architecture").get_by_label("Layer sizes")
    sizes.fill("2-10000-2")
    sizes.press("Enter")
    error = page.locator("#err-layers")
    expect(error).to_be_visible()
    expect(error).to_contain_text("1024")
    expect(page.locator("#panel-architecture .layers li")).to_have_count(4)
    assert origin.matrix("a-1") == a1
    expect(page.get_by_role("img", name="Network diagram: 2-3-3-2")).to_be_visible()
    expect(origin.counter).to_have_text("0")
    shot(page, "layer of 10000 neurons")


def test_web_checkboxes_that_default_on_can_be_turned_on_and_off(origin, shot):
    """Nesterov ticked is kept (reload shows it); the augmented view holds after an edit."""
    page = origin.page
    version = page.locator("#version")
    first = version.input_value()
    page.locator("#controls").get_by_label("Optimiser").select_option("momentum")
    expect(version).not_to_have_value(first)
    chosen = version.input_value()
    origin.open_tab("setup")
    nesterov = page.locator("#panel-training").get_by_label("Nesterov")
    expect(nesterov).not_to_be_checked()
    nesterov.check()
    expect(version).not_to_have_value(chosen)  # the edit was saved
    page.reload()  # the URL keeps the open view
    expect(page.locator("#panel-training").get_by_label("Nesterov")).to_be_checked()
    origin.open_tab("matrices")
    cell = page.get_by_label("inputs row 0 column 0", exact=True)
    cell.fill("0.5")
    cell.press("Tab")
    expect(page.locator("#panel-matrices #m-a-1 tbody tr").first.locator("td")).to_have_text(
        [f"{sigmoid(1.9):.7f}"] * 3
    )
    expect(page.locator("#panel-matrices #m-w-0 .shape")).to_have_text("3×3")  # bias row kept
    shot(page, "Nesterov on, augmented view kept")
