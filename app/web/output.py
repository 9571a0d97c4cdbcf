"""The output column and the points view: outputs against targets, row by row.

Outputs come from the engine's forward pass over just the rows shown; a table of every
point of a 2-D problem lives in the Points view, never in the instrument's columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.engine.trace import predict
from app.sessions import costs
from app.sessions.model import Session

from .format import num, nums, sub, sup
from .preferences import Prefs

TABLE_ROWS = costs.TABLE_ROWS  # the most rows a table shows, "show all" included

Array = NDArray[np.float64]
OUTPUT_ROWS = 20  # the outputs table's rows before "show all"
POINT_ROWS = 50  # the points view's rows before "show all"
FIT_TOLERANCE = 0.01  # "Fit" plays until every output is this close to its target


@dataclass(frozen=True)
class OutputCell:
    """One output of one observation: its column, exact value, hover title and text."""

    column: int
    value: float
    title: str
    text: str


def rows(s: Session, prefs: Prefs, cap: int = TABLE_ROWS
         ) -> list[tuple[int, list[OutputCell], list[str]]]:
    """Return the outputs table's rows: each observation, its outputs and its targets
    (with "show all", at most `cap` of them)."""
    n = s.inputs.shape[0]
    shown = min(n, cap) if prefs.show_all else min(n, OUTPUT_ROWS)
    outputs = predict(s.spec, s.parameters, s.inputs[:shown])  # (shown, outputs)
    width, layer = outputs.shape[1], s.spec.transitions
    values, texts = outputs.ravel().tolist(), nums(outputs, prefs.decimals)
    targets = nums(s.targets[:shown], prefs.decimals)
    out = []
    for r in range(shown):
        cells = [OutputCell(j, values[r * width + j],
                            f"{sub(r)}a{sup(layer)}{sub(j)} = {values[r * width + j]!r}",
                            texts[r * width + j]) for j in range(width)]
        out.append((r, cells, targets[r * width:(r + 1) * width]))
    return out


def misfit_rows(s: Session) -> int:
    """Return the rows the page's largest |a − y| covers: all, or as many as
    `costs.FORWARD_MACS` of forward pass reach."""
    return int(min(s.inputs.shape[0], max(1, costs.FORWARD_MACS // s.spec.parameter_count())))


def misfit(s: Session, outputs: Array | None = None) -> tuple[float, int]:
    """Return the largest |a − y| over the first `misfit_rows` rows (∞ if not finite) and
    that count; `outputs`, when given, are the outputs of at least those rows."""
    rows = misfit_rows(s)
    out = predict(s.spec, s.parameters, s.inputs[:rows]) if outputs is None else outputs
    gap = float(np.max(np.abs(out[:rows] - s.targets[:rows])))
    return (gap if np.isfinite(gap) else float("inf")), rows


@dataclass(frozen=True)
class Point:
    """One point of a 2-D problem in the points view."""

    index: int
    split: str  # "train" or "test"
    x1: str
    x2: str
    targets: list[str]
    outputs: list[str]
    right: bool | None  # classified right (None for regression)


def points(s: Session, prefs: Prefs) -> dict[str, object]:
    """Return the rows of the points view: train then test, each with a³ against y."""
    p = s.problem
    assert p is not None
    cap = TABLE_ROWS if prefs.show_all else POINT_ROWS  # no more rows are shown
    train = predict(s.spec, s.parameters, s.inputs[:cap])  # (shown train, outputs)
    test = predict(s.spec, s.parameters, p.test_inputs[: max(0, cap - train.shape[0])])
    rows: list[Point] = []
    for split, plane_xy, y, a in (("train", p.plane_train, s.targets, train),
                                  ("test", p.plane_test, p.test_targets, test)):
        right = _right(a, y[: a.shape[0]], s) if p.kind == "classification" else None
        for i in range(a.shape[0]):  # the rows shown: the first `cap` of train, then test
            rows.append(Point(i, split, num(plane_xy[i, 0], 3), num(plane_xy[i, 1], 3),
                              nums(y[i], prefs.decimals), nums(a[i], prefs.decimals),
                              None if right is None else bool(right[i])))
    total = s.inputs.shape[0] + p.test_inputs.shape[0]
    return {"rows": rows, "total": total, "hidden": total - len(rows),
            "outputs": s.spec.layers[-1], "capped": prefs.show_all and len(rows) < total,
            "cap": TABLE_ROWS}


def _right(outputs: Array, targets: Array, s: Session) -> NDArray[np.bool_]:
    """Return which rows are classified right (threshold 0 for tanh, else 0.5; arg-max)."""
    if outputs.shape[1] > 1:
        return outputs.argmax(axis=1) == targets.argmax(axis=1)  # type: ignore[no-any-return]
    threshold = 0.0 if s.spec.transition_activations[-1] == "tanh" else 0.5
    return (outputs[:, 0] > threshold) == (targets[:, 0] > 0.5)  # type: ignore[no-any-return]
