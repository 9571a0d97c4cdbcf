"""Bad input in any control: its message appears beside the control, and nothing else
changes (the session's version stays, the page is not reloaded)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

# control (how to reach it), the bad value, the error slot beside it, words of the message
CASES = [
    ('#controls input[name="learning_rate"]', "abc", "#err-optimizer-learning_rate",
     "not a number"),
    ('#controls input[name="learning_rate"]', "-1", "#err-optimizer-learning_rate", ""),
    ('#network form.init-form input[name="value"]', "x", "#err-init-value", "not a number"),
    ('#network form.init-form input[name="bias"]', "1e999", "#err-init-bias", "finite"),
    ('#symmetry-notice input[name="seed"]', "-3", "#err-break", "at least 0"),
]


@pytest.mark.parametrize(("control", "value", "slot", "words"), CASES)
def test_a_bad_value_is_refused_beside_its_control(origin: Any, contexts: Any, control: str,
                                                   value: str, slot: str, words: str) -> None:
    contexts.expect_errors("status of 422")  # the browser logs the refusal itself
    page = origin.page
    version = page.locator("#version").input_value()
    page.evaluate("window.__marker = 1")
    field = page.locator(control)
    field.fill(value)
    if "symmetry" in control or "init-form" in control:
        field.press("Enter")  # these forms submit
    else:
        field.dispatch_event("change")
    error = page.locator(slot)
    expect(error).to_be_visible()
    if words:
        expect(error).to_contain_text(words)
    assert page.locator("#version").input_value() == version
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    # the control keeps what the learner typed, to correct it
    expect(page.locator(control)).to_have_value(value)


def test_a_refused_control_clears_its_message_once_corrected(origin: Any, contexts: Any) -> None:
    contexts.expect_errors("status of 422")
    page = origin.page
    lr = page.locator('#controls input[name="learning_rate"]')
    lr.fill("abc")
    lr.dispatch_event("change")
    expect(page.locator("#err-optimizer-learning_rate")).to_be_visible()
    page.locator('#controls input[name="learning_rate"]').fill("0.125")
    with page.expect_response(lambda r: r.url.endswith("/settings")) as answer:
        page.locator('#controls input[name="learning_rate"]').dispatch_event("change")
    assert answer.value.status == 200
    expect(page.locator('#controls input[name="learning_rate"]')).to_have_value("0.125")
    expect(page.locator("#err-optimizer-learning_rate")).to_be_hidden()
    body = page.request.get(f"/api/sessions/{origin.session_id()}").json()
    assert body["spec"]["optimizer"]["learning_rate"] == 0.125
