"""The inspector: a neuron's or a weight's numbers beside their formulas, read against the
session's own trace from the JSON API, the same cells marked in the walkthrough, and a
weight edited in place."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect


def _trace(page: Any, sid: str) -> dict[str, Any]:
    resp = page.request.get(f"/api/sessions/{sid}/trace")
    assert resp.ok, resp.text()
    body: dict[str, Any] = resp.json()
    return body


def _exact(locator: Any) -> float:
    return float(locator.get_attribute("title"))


def test_a_neuron_shows_its_formulas_and_values(origin: Any, shot: Any) -> None:
    """Neuron 1 of layer 2 of the origin: n, a and δ of observation 0, as the trace has
    them, each beside its formula; its three incoming weights and its bias."""
    page = origin.page
    trace = _trace(page, origin.session_id())
    page.locator('#diagram g.node[data-l="2"][data-i="1"]').click()
    card = page.locator("#inspector .inspector-card")
    expect(card.locator("h3")).to_contain_text("Neuron 1 of layer 2")
    forward = trace["forward"][1]
    backward = next(b for b in trace["backward"] if b["layer"] == 2)
    assert _exact(card.locator("#insp-z")) == forward["z"][0][1]
    assert _exact(card.locator("#insp-a")) == forward["a"][0][1]
    assert _exact(card.locator("#insp-delta")) == backward["delta"][0][1]
    expect(card.locator(".formulas")).to_contain_text("b + Σ a¹·w")
    expect(card.locator(".formulas")).to_contain_text("σ(n)")
    expect(card.locator(".formulas")).to_contain_text("δ²₁ = ∂C/∂n")
    expect(card.locator("table.params tbody tr")).to_have_count(4)  # bias + 3 weights
    expect(card.locator("table.params tbody th")).to_have_text(["b¹₁", "w¹₀,₁", "w¹₁,₁",
                                                                  "w¹₂,₁"])
    shot(page, "inspector on a neuron")


def test_a_weight_shows_its_gradient_as_a_sum_over_the_batch(origin: Any) -> None:
    page = origin.page
    trace = _trace(page, origin.session_id())
    # the line's middle crosses others: a click on the line itself, wherever it is
    page.locator('#diagram line.edge[data-t="2"][data-r="0"][data-c="1"]').dispatch_event("click")
    card = page.locator("#inspector .inspector-card")
    expect(card.locator("h3")).to_contain_text("Weight w²₀,₁")
    grad = next(b for b in trace["backward"] if b["layer"] == 3)["grad_weights"][0][1]
    assert _exact(card.locator("#insp-grad")) == grad
    expect(card.locator(".formulas")).to_contain_text("Σ over the batch a²₀·δ³₁")


def test_the_walkthrough_marks_the_inspected_neurons_cells(origin: Any, shot: Any) -> None:
    page = origin.page
    origin.open_tab("walkthrough")
    page.locator('#diagram g.node[data-l="3"][data-i="0"]').click()
    expect(page.locator("#inspector .inspector-card")).to_be_visible()
    marked = page.locator('#panel-walkthrough figure[data-key="delta-3"] td.inspected')
    expect(marked).to_have_count(2)  # δ³, column 0, both observations
    expect(page.locator("#prod-3 td.res.inspected")).to_have_count(4)  # its gradient column
    shot(page, "walkthrough marked")
    page.keyboard.press("Escape")
    expect(page.locator("#inspector .inspector-card")).to_have_count(0)
    expect(page.locator(".inspected")).to_have_count(0)


def test_editing_a_weight_in_the_inspector_changes_it_everywhere(origin: Any) -> None:
    """The edit lands (API), the inspector stays open with the new value, and the page logs
    no error (the old param editor logged htmx:oobErrorNoTarget on every edit)."""
    page = origin.page
    page.locator('#diagram line.edge[data-t="0"][data-r="1"][data-c="2"]').dispatch_event("click")
    field = page.locator("#inspector").get_by_label("w⁰₁,₂")
    field.fill("0.25")
    field.press("Enter")
    expect(page.locator("#inspector").get_by_label("w⁰₁,₂")).to_have_value("0.25")
    expect(page.locator('#diagram line.edge[data-t="0"][data-r="1"][data-c="2"] title')
           ).to_have_text("w⁰₁,₂ = 0.25")
    body = page.request.get(f"/api/sessions/{origin.session_id()}").json()
    assert body["parameters"][0]["weights"][1][2] == 0.25


def test_a_neuron_can_be_inspected_from_the_keyboard(origin: Any) -> None:
    page = origin.page
    node = page.locator('#diagram g.node[data-l="1"][data-i="0"]')
    node.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#inspector h3")).to_contain_text("Neuron 0 of layer 1")


def test_an_input_shows_its_value_in_every_observation(origin: Any) -> None:
    """Input x₀ of the origin: the data's first column, observation by observation."""
    page = origin.page
    page.locator('#diagram g.node[data-l="0"][data-i="0"]').click()
    card = page.locator("#inspector .inspector-card")
    expect(card.locator("h3")).to_contain_text("Input x₀")
    expect(card.locator(".pair")).to_have_text(["obs 0: 0.8000000", "obs 1: 0.3000000"])


def test_a_neuron_drawn_as_its_map_takes_a_real_click(spiral: Any) -> None:
    """On a 2-D problem each hidden neuron is its map, painted on a canvas below the SVG:
    a pointer at the neuron's centre still selects it."""
    page = spiral.page
    page.locator('#diagram g.node[data-l="1"][data-i="0"] rect.frame').click()  # its centre
    expect(page.locator("#inspector .inspector-card h3")).to_contain_text(
        "Neuron 0 of layer 1")
