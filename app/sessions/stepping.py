"""Training a session: step requests, play frames and a phase's update, within budgets.

Each function here changes a session the caller holds the lock of (`SessionService`'s
transaction saves it). A step is refused over the iteration limit or the compute budget
(iterations × observations × parameters); a long run trains in a worker process
(`training`), at most `max_training` of them at once, and a quick one may train on the
event loop (`trains_on_loop`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.engine.diagnostics import find_nonfinite
from app.engine.phases import StepperView, view
from app.settings import Settings

from . import costs, history, reading, training
from .costs import Costs
from .errors import ServiceError, over_limit
from .model import Divergence, Session

QUICK_MICROSECONDS = 1000  # a step estimated to train this long may run on the event loop
OFFLOAD_CELLS = 5e6  # iterations × observations × parameters above which a step offloads


class FrameNotDue(Exception):
    """Raised inside a change that finds nothing to do: nothing is saved."""


@dataclass(frozen=True)
class TrainingRun:
    """What one training run under the lock did."""

    iterations_run: int = 0
    truncated: bool = False  # stopped by its time budget before `iterations`


@dataclass(frozen=True)
class StepOutcome:
    """What a step request did."""

    session: Session
    iterations_run: int
    truncated: bool


def _batch_rows(s: Session) -> int:
    return int(min(s.inputs.shape[0], s.spec.batch_size or s.inputs.shape[0]))


def iteration_microseconds(s: Session) -> float:
    """Return an estimate of one training iteration's time on this session (measured:
    ~20 µs of Python, plus ~0.7 ns per observation × parameter)."""
    return 20.0 + _batch_rows(s) * s.spec.parameter_count() / 1500


def trains_on_loop(s: Session, iterations: int) -> bool:
    """Return whether `iterations` on this session train in about a millisecond or less,
    short enough to run on the event loop (the rest of a step costs ~0.2 ms either way)."""
    return (s.status == "diverged"
            or iterations * iteration_microseconds(s) <= QUICK_MICROSECONDS)


def frame_on_loop(s: Session, seconds: Callable[[Session], float]) -> bool:
    """Return whether a play frame trains under a millisecond: its budget, and its one
    iteration at least (`trains_on_loop`)."""
    return seconds(s) <= QUICK_MICROSECONDS / 1e6 and trains_on_loop(s, 1)


def train_label(iterations: int) -> str:
    """Return the undo label of a step request (requests within a second share one entry:
    `Transactions._undo_snapshot`)."""
    return f"train ×{iterations}"


def check_iterations(s: Session, settings: Settings, iterations: int) -> None:
    """Refuse a step over the iteration limit or the compute budget."""
    if iterations > settings.max_iterations:
        raise over_limit("iterations", f"at most {settings.max_iterations:,} per request",
                         settings.max_iterations)
    allowed = int(settings.compute_budget // (_batch_rows(s) * s.spec.parameter_count()))
    if iterations > allowed:
        raise over_limit("iterations", f"this network allows at most {allowed:,} "
                         f"iterations per request (compute budget {settings.compute_budget:.3g}"
                         " = iterations × observations × parameters)", allowed)


def allowed_iterations(s: Session, settings: Settings) -> int:
    """Return the most iterations one request may ask for on this session."""
    cost = _batch_rows(s) * s.spec.parameter_count()
    return max(1, min(settings.max_iterations, int(settings.compute_budget // cost)))


def set_playing(s: Session, playing: bool, until: float | None) -> None:
    """Mark the session playing (refused while diverged) or paused."""
    if playing and s.status == "diverged":
        raise ServiceError(409, "diverged", "Training diverged: reset, re-initialise "
                           "or edit the network before playing again.", "play")
    s.playing, s.play_until = playing, until if playing else None


def plays_idle(s: Session, idle: float) -> bool:
    """Return whether the session is marked playing but was last saved `idle` seconds ago."""
    return s.playing and time.time() - s.updated_at > idle


def pause_idle(s: Session, idle: float) -> None:
    """Pause a session that plays idle, or raise FrameNotDue."""
    if not plays_idle(s, idle):
        raise FrameNotDue
    s.playing, s.play_until = False, None


class Stepper:
    """Train sessions under their lock: steps, play frames and a phase's update, with at
    most `max_training` long runs at once (in the training pool's worker processes)."""

    def __init__(self, caps: Costs) -> None:
        self.caps = caps
        self.settings = caps.settings
        self._long_runs = threading.BoundedSemaphore(self.settings.max_training)
        self._pool_started = False  # a long step started the training pool's workers

    def train(self, s: Session, iterations: int, budget: float | None = None,
              offload: bool = False) -> TrainingRun:
        """Train `iterations` updates within `budget` seconds (the step budget if None),
        then record the history, the test loss and any divergence."""
        st = self.settings
        run = training.train(s.spec, s.inputs, s.targets, s.parameters, s.state, s.progress,
                             iterations, st.step_time_budget if budget is None else budget,
                             offload, st.max_training)
        s.parameters, s.state, s.progress = run.parameters, run.state, run.progress
        s.history_steps, s.history_losses = history.append(
            s.history_steps, s.history_losses, run.history_steps, run.history_losses)
        s.loss = run.loss if math.isfinite(run.loss) else None
        s.phase = 0
        reading.record_test_loss(s)
        if run.diverged_at is not None:
            where = find_nonfinite(reading.trace_of(s, self.caps))
            s.status = "diverged"
            s.divergence = Divergence(run.diverged_at, where.layer if where else None,
                                      where.quantity if where else "loss")
        return TrainingRun(run.iterations_run, run.truncated)

    def step(self, s: Session, iterations: int, deadline: float) -> TrainingRun:
        """Train the session until `deadline` (`time.monotonic`, the request's end less
        what it does after training): inline, or in a worker process when long."""
        check_iterations(s, self.settings, iterations)
        if s.status == "diverged":
            return TrainingRun()  # training stays stopped until an edit, reset or re-initialise
        long = iterations * s.inputs.shape[0] * s.spec.parameter_count() > OFFLOAD_CELLS
        if long and not self._long_runs.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ServiceError(503, "busy", "Too many sessions are training right now; "
                               "try again in a moment.", None, self.settings.max_training)
        try:
            if long:
                self._start_pool(s)
            seconds = costs.training_seconds(deadline, self.settings.step_time_budget,
                                             iteration_microseconds(s) / 1e6)
            if seconds is None:  # the budget went on waiting: nothing trained, and it says so
                return TrainingRun(truncated=True)
            return self.train(s, iterations, seconds, offload=long)
        finally:
            if long:
                self._long_runs.release()

    def _start_pool(self, s: Session) -> None:
        """Start the training pool's workers once (the first long step waits for them)."""
        if not self._pool_started:
            training.train(s.spec, s.inputs[:1], s.targets[:1], s.parameters, s.state,
                           s.progress, 0, 0.0, True, self.settings.max_training)
            self._pool_started = True

    def play_frame(self, s: Session, seconds: Callable[[Session], float],
                   gap: float) -> TrainingRun:
        """Train one frame of play (`seconds(session)` of compute, decided on the session
        as it is under the lock) when the session plays and was last saved at least `gap`
        seconds ago; raise FrameNotDue otherwise.

        Every tab's stream on every worker asks for frames at its own pace; the gap keeps
        the session to one frame per gap however many tabs watch it, and frames stop as
        soon as the last tab is gone. Play stops by itself on divergence, and once every
        output is within `play_until` of its target when that is set.
        """
        if not s.playing or s.status == "diverged" or time.time() - s.updated_at < gap:
            raise FrameNotDue
        budget = seconds(s)  # as many iterations as fit (the trainer checks its clock
        # every 16, so a small budget is held to by the count)
        count = max(1, int(budget * 1e6 / iteration_microseconds(s)))
        run = self.train(s, min(allowed_iterations(s, self.settings), count), budget)
        if s.status == "diverged" or (s.play_until is not None
                                      and reading.misfit(s) <= s.play_until):
            s.playing, s.play_until = False, None
        return run

    def advance_phase(self, s: Session, action: str) -> StepperView:
        """Move the phase stepper (`next`, `restart`, `apply`); past the last phase, apply
        the update as one training step; return the stepper where it now is."""
        tr = reading.trace_of(s, self.caps)
        total = len(view(tr, 0).phases)
        if action == "restart":
            s.phase = 0
        elif action == "next" and s.phase < total:
            s.phase += 1
        elif action in ("next", "apply"):
            self.train(s, 1)
            tr = reading.trace_of(s, self.caps)
        return view(tr, s.phase)
