"""The landing page's cards: each a network to open in one click, with defaults that train.

A card is the session it creates. The 2-D cards start from TensorFlow Playground's
defaults (tanh, mini-batches of 10, SGD 0.03) where those train cleanly; the spiral and
the regression bumps do not (the spiral's loss spikes, and 2-4-2-1 on x₁, x₂ never gets
past 70 % on test), so they start with the features and the optimiser that do.
tests/web/test_gallery.py trains every card and holds it to that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Card:
    """One card of the gallery: its title, its text, and the session it creates."""

    title: str
    text: str
    body: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None  # a 2-D card's dataset (its picture)


def _plane(name: str, title: str, **more: Any) -> dict[str, Any]:
    dataset = {"name": name, "points": 250, "noise": 0.1, **more.pop("dataset", {})}
    return {"dataset": dataset, "title": title, **more}


EXAMPLES: dict[str, Card] = {
    "origin": Card("The symmetry question", "2-3-3-2 sigmoid network, every weight and bias "
                   "1, two observations — a learner's hand calculation, reproduced number "
                   "by number.", {"example": "origin"}),
    "xor": Card("XOR", "The 4-row truth table of exclusive or: not linearly separable, so "
                "the hidden layer has to earn its keep.", {"example": "xor"}),
    "blank": Card("A blank network", "2-3-1 with Xavier initialisation and the XOR table "
                  "as data: change anything.", {
                      "layers": [2, 3, 1], "title": "Blank network",
                      "init": {"scheme": "xavier_uniform", "seed": 0},
                      "optimizer": {"name": "sgd", "learning_rate": 0.5},
                      "inputs": [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
                      "targets": [[0.0], [1.0], [1.0], [0.0]]}),
}
PLANES: dict[str, Card] = {
    "circle": Card("Circle", "Inner disk against outer ring: one hidden layer draws the "
                   "circle.", _plane("circle", "Circle"), "circle"),
    "spiral": Card("Spiral", "Two interleaved spirals, the hardest set: here with sin x₁ "
                   "and sin x₂ as features, two layers of 8 and Adam.",
                   _plane("spiral", "Spiral",
                          dataset={"features": ["x1", "x2", "sin_x1", "sin_x2"]},
                          layers=[4, 8, 8, 1],
                          optimizer={"name": "adam", "learning_rate": 0.003}), "spiral"),
    "quadrants": Card("Quadrants", "Same-sign quadrants against the others (XOR in the "
                      "plane): needs a hidden layer or the x₁x₂ feature.",
                      _plane("xor", "Quadrants"), "xor"),
    "blobs": Card("Two blobs", "Two gaussian clouds: a straight line separates them.",
                  _plane("gaussian", "Two blobs"), "gaussian"),
    "classes": Card("Several classes", "Four gaussian blobs, one class each, with softmax "
                    "and cross-entropy.", _plane("multiclass", "Several classes",
                                                 dataset={"classes": 4}), "multiclass"),
    "regression": Card("Regression", "A surface of gaussian bumps, fitted with a linear "
                       "output and mean squared error.",
                       _plane("multi_gaussian", "Regression", layers=[2, 8, 8, 1],
                              optimizer={"name": "adam", "learning_rate": 0.003}),
                       "multi_gaussian"),
}
CARDS: dict[str, Card] = {**EXAMPLES, **PLANES}
