"""What a session shows: its next step's trace, phases, losses, histories and diagnostics.

Everything here is computed from what the session holds; nothing is saved. The trace of
the next step is remembered on the session (`Session.derived`), keyed by the very objects
it came from, so an edit's refresh, the page it renders and a read of the trace share one
computation. `refresh` and `record_test_loss` write these derived values onto a session
being changed (the caller holds its lock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.datasets import accuracy
from app.engine.diagnostics import (
    GradientCheck,
    LayerActivity,
    LayerGradient,
    LayerSymmetry,
    activity,
    find_nonfinite,
    gradient_check,
    gradient_norms,
    symmetry_groups,
)
from app.engine.phases import StepperView, view
from app.engine.spec import spec_to_dict
from app.engine.trace import Trace, evaluate, predict, trace
from app.engine.train import next_rows
from app.settings import Settings

from . import checking, costs, history
from .costs import Costs, Shown
from .errors import ServiceError
from .model import Divergence, Session

DERIVED_TRACES = 2  # traces remembered per session (the next batch, and row subsets)
DERIVED_FLOATS = 100_000  # a trace is remembered only when about this small (0.8 MB)
TRACE_FLOATS_PER_CELL = 8  # a trace's matrices per (row, neuron): z, a, ∂C/∂a, δ, …


@dataclass(frozen=True)
class DiagnosticsReport:
    """Every diagnostic of the session's current step."""

    gradient_check: GradientCheck
    symmetry: tuple[LayerSymmetry, ...]
    activity: tuple[LayerActivity, ...]
    gradients: tuple[LayerGradient, ...]
    trace: Trace  # the step they were taken from (its first rows, on a large batch)


# ---------------------------------------------------------------------- the next step
def _traced_rows(s: Session, caps: Costs, observations: list[int] | None
                 ) -> tuple[NDArray[np.intp] | None, Shown | None]:
    """Return the rows a trace holds (None: every row) and, for the next batch, what they
    show of it; refuse observations out of range or over the cap."""
    n = s.inputs.shape[0]
    if observations is None:
        return caps.sample(s.spec, next_rows(s.spec, n, s.progress), n)
    bad = [i for i in observations if not 0 <= i < n]
    if bad or not observations:
        raise ServiceError(422, "invalid", f"observations must be indices 0…{n - 1}",
                           "observations", n - 1)
    caps.check_observations(s.spec, len(observations))
    return np.asarray(observations, dtype=np.intp), None


def trace_of(s: Session, caps: Costs, observations: list[int] | None = None) -> Trace:
    """Return the step the current parameters would take (on the next batch): over its
    first `Costs.trace_rows` observations when the batch has more (`Trace.batch`)."""
    chosen, shown = _traced_rows(s, caps, observations)
    # Remembered on the session, by the very objects it was computed from (replaced,
    # never changed, by every edit and step).
    sources = (s.spec, s.parameters, s.inputs, s.targets, s.state, s.progress)
    slot = None if observations is None else tuple(observations)
    remembered = s.derived.get(slot)
    if remembered is not None and all(a is b for a, b in zip(remembered[0], sources,
                                                              strict=True)):
        kept: Trace = remembered[1]
        return kept
    tr = trace(s.spec, s.parameters, s.inputs, s.targets, s.state, chosen)
    if shown is not None and shown.partial:
        tr = replace(tr, batch=shown.total)
    rows = s.inputs.shape[0] if chosen is None else len(chosen)
    if rows * sum(s.spec.layers) * TRACE_FLOATS_PER_CELL <= DERIVED_FLOATS:
        if len(s.derived) >= DERIVED_TRACES:
            s.derived.clear()
        s.derived[slot] = (sources, tr)
    return tr


def phase_view(s: Session, caps: Costs) -> StepperView:
    """Return the phase stepper at the session's position."""
    return view(trace_of(s, caps), s.phase)


# ---------------------------------------------------------------------- losses and status
def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def refresh(s: Session, caps: Costs) -> None:
    """Recompute the loss and the status: diverged if any value of a step is not finite.

    An edit can cure a divergence (smaller weights) or cause one (inputs so large that
    z overflows); either way the status says what the next step would meet.
    """
    tr = trace_of(s, caps)
    # A full-batch trace already has the loss over all the data; a batch's has not.
    value = tr.loss if tr.rows is None else evaluate(s.spec, s.parameters, s.inputs,
                                                        s.targets)
    s.loss = _finite(value)
    where = find_nonfinite(tr)
    if where is None:
        s.status, s.divergence = "ok", None
    else:
        s.status = "diverged"
        s.divergence = Divergence(s.progress.step, where.layer, where.quantity)


def loss_over_all(s: Session) -> float | None:
    """Return the loss over every observation now (None if not finite)."""
    return _finite(evaluate(s.spec, s.parameters, s.inputs, s.targets))


def test_loss(s: Session) -> float | None:
    """Return the loss over the test data now (None without test data)."""
    if s.problem is None:
        return None
    return _finite(evaluate(s.spec, s.parameters, s.problem.test_inputs,
                            s.problem.test_targets))


def record_test_loss(s: Session) -> None:
    """Append the loss over the held-out test data at the current step."""
    value = test_loss(s)
    if value is not None:
        s.test_steps, s.test_losses = history.record(s.test_steps, s.test_losses,
                                                     s.progress.step, value)


def accuracies(s: Session) -> tuple[float | None, float | None]:
    """Return (train, test) accuracy for a classification problem, else (None, None)."""
    if s.problem is None or s.problem.kind != "classification":
        return None, None
    threshold = 0.0 if s.spec.transition_activations[-1] == "tanh" else 0.5
    train = accuracy(predict(s.spec, s.parameters, s.inputs), s.targets, threshold)
    test = accuracy(predict(s.spec, s.parameters, s.problem.test_inputs),
                    s.problem.test_targets, threshold)
    return train, test


def misfit(s: Session, outputs: NDArray[np.float64] | None = None) -> float:
    """Return the largest |output − target| over every observation (∞ if not finite);
    `outputs`, when given, are the network's outputs for every observation."""
    if outputs is None:
        outputs = predict(s.spec, s.parameters, s.inputs)
    gap = float(np.max(np.abs(outputs - s.targets)))
    return gap if math.isfinite(gap) else math.inf


# ---------------------------------------------------------------------- histories
def _points(settings: Settings, max_points: int | None) -> int:
    return min(max_points or settings.history_points, settings.history_points)


def loss_history(s: Session, settings: Settings, max_points: int | None = None
                 ) -> tuple[list[int], list[float]]:
    """Return the loss history decimated to at most `max_points` points."""
    return history.decimate(s.history_steps, s.history_losses, _points(settings, max_points))


def held_out_history(s: Session, settings: Settings, max_points: int | None = None
                     ) -> tuple[list[int], list[float]]:
    """Return the test-loss history decimated like `loss_history`."""
    return history.decimate(s.test_steps, s.test_losses, _points(settings, max_points))


# ---------------------------------------------------------------------- checks and JSON
def diagnostics(s: Session, caps: Costs) -> DiagnosticsReport:
    """Return the gradient check, symmetry groups, activity and gradient sizes."""
    tr = trace_of(s, caps)
    x = s.inputs if tr.rows is None else s.inputs[tr.rows]
    y = s.targets if tr.rows is None else s.targets[tr.rows]
    check = gradient_check(s.spec, s.parameters, x, y, tr,
                           max_parameters=caps.gradcheck_parameters(),
                           max_macs=costs.GRADCHECK_MACS, seed=costs.GRADCHECK_SEED)
    return DiagnosticsReport(check, symmetry_groups(s.spec, s.parameters), activity(tr),
                             gradient_norms(tr), tr)


def check(s: Session, caps: Costs, quantity: str, layer: int, values: Any,
          tolerance: float | None = None) -> checking.CheckResult:
    """Check a learner's hand-computed matrix against the current step."""
    tol = checking.DEFAULT_TOLERANCE if tolerance is None else tolerance
    return checking.check(s.spec, trace_of(s, caps), quantity, layer, values, tol)


def spec_dict(s: Session) -> dict[str, Any]:
    """Return the session's spec with its data, as the API shows it."""
    return {**spec_to_dict(s.spec), "inputs": s.inputs.tolist(), "targets": s.targets.tolist()}

