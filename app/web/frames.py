"""A frame of play: the numbers of the instrument that training changes.

A frame holds the counters, every neuron's tone and label for the observation shown,
every weight's and bias's tone (`diagram`), the outputs shown, the newest loss points
and, on 2-D problems, the maps and the scores: JSON of small numbers and short strings,
which static/js/live.js puts in place without rebuilding anything. `Changes` keeps what
a tab was last sent, so each frame carries only what differs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.trace import forward, predict
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import diagram, output, plane
from .format import num, nums
from .preferences import Prefs

Array = NDArray[np.float64]
WHOLE_PASS_CELLS = 200_000  # rows × neurons of a table a frame runs in one forward pass


def status_text(s: Session) -> str:
    """Return the status the control bar shows."""
    if s.playing:
        return "playing to fit" if s.play_until is not None else "playing"
    return s.status


def _last(steps: Any, losses: Any) -> list[float] | None:
    """Return the newest point of a loss history (None when empty or not finite)."""
    if not len(steps) or not math.isfinite(float(losses[-1])):
        return None
    return [int(steps[-1]), float(losses[-1])]


def frame(service: SessionService, s: Session, prefs: Prefs) -> dict[str, Any]:
    """Return the frame of the session as it is now, for one tab's preferences."""
    d = prefs.decimals
    obs = min(prefs.observation, s.inputs.shape[0] - 1)
    small = s.problem is None
    # a small table: every row in one pass (the outputs and the misfit come with it);
    # else the observation shown alone, and the outputs from the chunked `predict`
    whole = small and s.inputs.shape[0] * sum(s.spec.layers) <= WHOLE_PASS_CELLS
    rows = s.inputs if whole else s.inputs[obs : obs + 1]
    layers = [rows] + [f.a for f in forward(s.spec, s.parameters, rows)]
    at = obs if whole else 0
    values = [a[at] for a in layers]  # the observation shown, layer by layer
    tones = diagram.node_tones(values, s.spec.transition_activations)
    counts = diagram.drawn(s.spec.layers)  # the neurons and weights the page draws
    out: dict[str, Any] = {
        "v": s.version, "playing": s.playing, "step": s.progress.step,
        "text": {"step": str(s.progress.step), "epoch": str(s.progress.epoch),
                 "loss": num(s.loss, d), "status": status_text(s)},
        "nodes": [[q, num(v, 3)] for l in range(1, len(values))
                  for q, v in zip(tones[l][: counts[l]], values[l][: counts[l]].tolist(),
                                  strict=True)],
        "biases": diagram.shown_bias_tones(s.parameters, counts),
        "edges": diagram.shown_weight_tones(s.parameters, counts),
        "train": _last(s.history_steps, s.history_losses),
    }
    if small:
        outputs = layers[-1] if whole else predict(  # the rows the misfit and table show
            s.spec, s.parameters, s.inputs[: max(output.misfit_rows(s), _table_rows(
                service, s, prefs))])
        _outputs(service, s, prefs, outputs, out)
    else:
        _plane(service, s, prefs, out)
    return out


def _outputs(service: SessionService, s: Session, prefs: Prefs, outputs: Array,
             out: dict[str, Any]) -> None:
    """Add the outputs table's cells and the largest |a − y| to a frame."""
    shown = outputs[: _table_rows(service, s, prefs)]  # (rows, outputs): the page's table
    values = shown.ravel().tolist()
    out["out"] = [[text, v if math.isfinite(v) else None]
                  for text, v in zip(nums(shown, prefs.decimals), values, strict=True)]
    misfit, _ = output.misfit(s, outputs)
    out["text"]["misfit"] = num(misfit, 4)
    out["fitted"] = misfit <= output.FIT_TOLERANCE


def _table_rows(service: SessionService, s: Session, prefs: Prefs) -> int:
    """Return the rows the outputs table of the page shows."""
    if prefs.show_all:
        return service.costs.table_rows(s.spec.layers[0] + s.spec.layers[-1])
    return output.OUTPUT_ROWS


def _plane(service: SessionService, s: Session, prefs: Prefs, out: dict[str, Any]) -> None:
    """Add a 2-D problem's maps, scores and newest test-loss point to a frame."""
    layers = plane.maps(s)
    picture = plane.output_picture(s, layers, prefs.discrete)
    out["maps"] = {"out": picture, "tiles": plane.hidden_tiles(s, layers)}
    test = _last(s.test_steps, s.test_losses)
    out["test"] = test
    recorded = test is not None and test[0] == s.progress.step  # recorded by this step
    test_loss = test[1] if recorded and test is not None else service.test_loss(s)
    train_acc, test_acc = service.accuracies(s)
    out["text"].update({"train_loss": num(s.loss, 4), "test_loss": num(test_loss, 4)})
    if train_acc is not None and test_acc is not None:
        out["text"].update({"train_accuracy": f"{100 * train_acc:.1f} %",
                            "test_accuracy": f"{100 * test_acc:.1f} %"})


class Changes:
    """What one tab was last sent: each frame after the first carries only what differs."""

    def __init__(self) -> None:
        self._sent: dict[str, Any] = {}

    def diff(self, new: dict[str, Any]) -> dict[str, Any]:
        """Return the part of `new` this tab has not got (its version always)."""
        out: dict[str, Any] = {"v": new["v"]}
        for key, value in new.items():
            old = self._sent.get(key)
            if key == "text":
                texts = {k: v for k, v in value.items() if old is None or old.get(k) != v}
                if texts:
                    out["text"] = texts
            elif old != value:
                out[key] = value
        self._sent = new
        return out

    @staticmethod
    def encode(data: dict[str, Any]) -> str:
        """Return a frame as compact JSON (never NaN: every number in it is finite)."""
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
