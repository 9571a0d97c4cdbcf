"""The bugs issue 13 found, each held fixed by a test that failed before the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_why_stays_as_the_learner_left_it_after_a_step(origin: Any) -> None:
    page = origin.page
    why = page.locator("details#why")
    expect(why).to_have_attribute("open", "")  # open on the first visit
    origin.train("Step")
    expect(why).to_have_attribute("open", "")  # the bug: it collapsed after every Step
    why.locator("summary").click()
    expect(why).not_to_have_attribute("open", "")
    origin.train("Step")
    expect(page.locator("details#why")).not_to_have_attribute("open", "")


def test_break_symmetry_neither_covers_play_nor_moves_the_page(origin: Any) -> None:
    page = origin.page
    tabs, play = _box(page, ".tabs"), _box(page, "#play-btn")
    page.locator("#symmetry-notice").get_by_role("button", name="Break symmetry").click()
    toast = page.locator("#toast")
    expect(toast).to_have_class(re.compile(r"\bshow\b"))
    shown = _box(page, "#toast")
    for selector in ("#play-btn", "#play-speed", "#fit-btn", 'button.step-btn[data-n="1"]'):
        assert not _overlap(shown, _box(page, selector)), f"the toast covers {selector}"
    expect(page.locator("#symmetry-notice")).to_have_count(0)
    assert _box(page, ".tabs") == tabs, "the page moved when the notice went"
    assert _box(page, "#play-btn") == play
    assert page.evaluate("window.scrollY") == 0


def test_the_rate_shown_is_the_rate_the_counter_rises(origin: Any) -> None:
    """The old page showed 2.4 × the counter's rate (the iterations the server ran); now
    the rate is the counter's own rise over the last second, read in one turn of the page
    (no timing in the test: the rate and the counter's values it came from)."""
    page = origin.page
    page.locator("#play-btn").click()
    expect(page.locator("#rate")).to_contain_text("steps/s")
    page.wait_for_function("() => bpStats.steps.length >= 3")
    seen = page.evaluate("""() => ({
        shown: document.getElementById('rate').textContent,
        counter: +document.getElementById('step-counter').dataset.step,
        steps: bpStats.steps.map(([t, s]) => [t, s])})""")
    page.locator("#play-btn").click()
    (t0, s0), (t1, s1) = seen["steps"][0], seen["steps"][-1]
    assert s1 == seen["counter"], "the rate is taken from the counter the page shows"
    assert s1 > s0
    shown = int(seen["shown"].split()[1].replace(",", ""))
    assert shown == round((s1 - s0) / ((t1 - t0) / 1000))


def test_an_added_neuron_keeps_hand_edits_and_says_so(origin: Any) -> None:
    page = origin.page
    page.locator('#diagram line.edge[data-t="0"][data-r="0"][data-c="0"]').dispatch_event("click")
    field = page.locator("#inspector").get_by_label("w⁰₀,₀")
    field.fill("0.25")
    field.press("Enter")
    expect(page.locator('#diagram line.edge[data-t="0"][data-r="0"][data-c="0"] title')
           ).to_have_text("w⁰₀,₀ = 0.25")
    page.get_by_role("button", name="Add a neuron to hidden layer 1").click()
    expect(page.locator("#toast")).to_contain_text("w⁰, w¹ resized: their weights are kept")
    body = page.request.get(f"/api/sessions/{origin.session_id()}").json()
    assert body["spec"]["layers"] == [2, 4, 3, 2]
    assert body["parameters"][0]["weights"][0][0] == 0.25


def test_the_loss_chart_shows_its_first_point(origin: Any) -> None:
    page = origin.page
    curve = page.locator("#curve")
    expect(curve).to_have_attribute("aria-label", "Loss curve: no training yet")
    origin.train("Step")
    expect(curve).to_have_attribute("aria-label", re.compile(r"over 1 points; at step 1 the loss"))
    drawn = page.evaluate("""() => { const c = document.getElementById('curve');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 3; i < d.length; i += 4) ink += d[i] > 0; return ink; }""")
    assert drawn > 0


def test_histograms_have_a_count_axis(origin: Any) -> None:
    page = origin.page
    origin.open_tab("diagnostics")
    figures = page.locator("#panel-diagnostics figure.hist svg")
    expect(figures).to_have_count(6)  # a and δ of layers 1 … 3
    for k in range(6):
        ticks = figures.nth(k).locator("text.tick").all_text_contents()
        assert "0" in ticks, ticks
        assert any(t.isdigit() and int(t) > 0 for t in ticks), ticks
        expect(figures.nth(k).locator("line.axis")).to_have_count(1)


def test_each_symmetry_group_has_a_colour_of_its_own(origin: Any) -> None:
    page = origin.page
    rings = page.locator("#diagram circle.ring")
    expect(rings).to_have_count(6)
    layer1 = {page.locator(f'#diagram g.node[data-l="1"][data-i="{i}"] circle.ring')
              .get_attribute("stroke") for i in range(3)}
    layer2 = {page.locator(f'#diagram g.node[data-l="2"][data-i="{i}"] circle.ring')
              .get_attribute("stroke") for i in range(3)}
    assert len(layer1) == len(layer2) == 1
    assert layer1 != layer2


def test_the_initialisation_shows_only_its_schemes_fields(origin: Any) -> None:
    page = origin.page
    form = page.locator("#network form.init-form")
    visible = form.locator("label.init-field:visible")
    expect(visible).to_have_count(2)  # constant: value, and the bias every scheme has
    expect(visible).to_contain_text(["value", "bias"])
    form.get_by_label("Initialisation").select_option("normal")
    expect(form.locator("label.init-field:visible")).to_contain_text(["seed", "mean", "std",
                                                                      "bias"])
    form.get_by_label("Initialisation").select_option("he_uniform")
    expect(form.locator("label.init-field:visible")).to_contain_text(["seed", "gain", "bias"])


def test_the_check_compare_and_share_forms_line_up(origin: Any) -> None:
    """In each form, the fields of one column end at one edge."""
    page = origin.page
    for tab in ("check", "compare", "share"):
        origin.open_tab(tab)
        for form in page.locator(f"#panel-{tab} form.form-grid").all():
            edges: dict[int, set[int]] = {}
            for label in form.locator("label:has(input), label:has(select)").all():
                box, field = label.bounding_box(), label.locator("input, select").first
                inner = field.bounding_box()
                assert box is not None
                assert inner is not None
                edges.setdefault(round(box["x"]), set()).add(round(inner["x"] + inner["width"]))
            assert edges, f"no fields in the {tab} form"
            assert all(len(right) == 1 for right in edges.values()), (tab, edges)


def test_a_2d_output_neuron_is_its_map_and_a_feature_counts_at_once(page: Page) -> None:
    page.goto("/")
    page.locator('form.card:has(input[value="circle"])').get_by_role("button").click()
    output = page.locator('#diagram g.node[data-l="3"]')
    expect(output.locator("image.output-thumb")).to_have_count(1)
    expect(output.locator("circle.neuron")).to_have_count(0)
    sid = page.locator("[data-session]").get_attribute("data-session")
    page.locator("#data fieldset.features button", has_text="x₁x₂").click()
    expect(page.locator('#diagram g.node[data-l="0"]')).to_have_count(3)
    assert page.request.get(f"/api/sessions/{sid}").json()["spec"]["layers"][0] == 3


def test_the_readme_links_the_question_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "shared/origin" not in readme
    assert "](docs/symmetry-question.txt)" in readme
    question = (ROOT / "docs" / "symmetry-question.txt").read_text(encoding="utf-8")
    assert "0.9002495" in question  # the question's own a¹
