"""The page colours a frame's tones exactly as the server colours the page it rendered:
static/js/live.js against app/web/diagram.py, for every tone."""

from __future__ import annotations

from typing import Any

from app.web import diagram

TONES = list(range(-diagram.TONE, diagram.TONE + 1))


def test_every_tone_has_the_servers_colour_ink_and_width(origin: Any) -> None:
    got = origin.page.evaluate(
        "tones => tones.map(q => [bpTones.toneColour(q), bpTones.ink(q), bpTones.edgeColour(q),"
        " bpTones.edgeWidth(q)])", TONES)
    want = [[*diagram.tone_colour(q), diagram.edge_colour(q), diagram.edge_width(q)]
            for q in TONES]
    wrong = [(q, g, w) for q, g, w in zip(TONES, got, want, strict=True) if g != w]
    assert wrong == [], wrong[:5]
