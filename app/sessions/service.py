"""The session service: the one place where sessions are created, edited and trained.

Both the JSON API and the HTML pages call this service; neither touches a store or the
engine's training loop directly. Every change runs as one transaction (`Transactions`):
lock → load → change → save, with its undo entry, under the session's lock. This class
is the façade: each method hands its work to the module named for it — `creating` (new
sessions, fork, import), `editing` (each kind of PATCH, reset, undo), `stepping`
(training steps, play frames, budgets) and `reading` (the trace, phases, histories,
diagnostics, checks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.engine.phases import StepperView
from app.engine.trace import Trace
from app.settings import Settings

from . import checking, costs, creating, csvdata, documents, editing, reading, stepping
from .ids import ID_BYTES, valid_id
from .model import Session
from .reading import DiagnosticsReport
from .stepping import FrameNotDue, StepOutcome, TrainingRun, train_label, trains_on_loop
from .stores import Store
from .transaction import Changed, Transactions

__all__ = ["ID_BYTES", "DiagnosticsReport", "SessionService", "StepOutcome", "valid_id"]


def _outcome(done: Changed[TrainingRun]) -> StepOutcome:
    return StepOutcome(done.session, done.result.iterations_run, done.result.truncated)


class SessionService(Transactions):
    """Create, read, edit, train and delete sessions in a store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self.costs = costs.Costs(settings)  # what a read may compute and send
        self._stepper = stepping.Stepper(self.costs)

    # ------------------------------------------------------------------ new sessions
    def create(self, body: dict[str, Any]) -> Session:
        """Create a session from a spec (and data), or from a named example."""
        return self._store_new(creating.new_session(body, self.costs))

    def fork(self, session_id: str, changes: dict[str, Any] | None) -> Session:
        """Copy a session (optionally changed) into a new one."""
        return self._store_new(creating.fork_copy(self.get(session_id), changes, self.costs))

    def import_document(self, doc: dict[str, Any]) -> Session:
        """Create a session from an exported document."""
        return self._store_new(creating.restored(doc, self.costs))

    # ------------------------------------------------------------------ edits
    def patch(self, session_id: str, changes: dict[str, Any],
              if_match: int | None = None) -> Session:
        """Edit the spec, data, hyper-parameters or parameters."""
        return self._mutate(session_id, lambda s: editing.apply_changes(s, changes, self.costs),
                            if_match, label=editing.describe(changes))

    def load_csv(self, session_id: str, text: str, inputs: list[str],
                 targets: list[str]) -> Session:
        """Replace the data with columns of a CSV; the layer sizes follow the columns."""
        table = csvdata.parse(text, inputs, targets, self.settings)
        return self._mutate(session_id, lambda s: editing.replace_data(s, table, self.costs),
                            label="upload CSV")

    def reinitialize(self, session_id: str, init: dict[str, Any] | None,
                     if_match: int | None = None) -> Session:
        """Draw new parameters (optionally with a new init scheme/seed); back to step 0."""
        return self._mutate(session_id, lambda s: editing.reinitialize(s, init, self.costs),
                            if_match, label="re-initialise")

    def reset(self, session_id: str, if_match: int | None = None) -> Session:
        """Go back to the initial parameters and step 0."""
        return self._mutate(session_id, lambda s: editing.reset(s, self.costs), if_match,
                            label="reset")

    def undo(self, session_id: str) -> Session:
        """Undo the last edit or training run."""
        return self._mutate(session_id,
                            lambda s: editing.return_to_snapshot(s, s.undo, s.redo))

    def redo(self, session_id: str) -> Session:
        """Redo what undo took back."""
        return self._mutate(session_id,
                            lambda s: editing.return_to_snapshot(s, s.redo, s.undo))

    # ------------------------------------------------------------------ training
    def step(self, session_id: str, iterations: int, if_match: int | None = None) -> StepOutcome:
        """Train `iterations` updates, within the per-request time budget."""
        deadline = time.monotonic() + self.settings.step_time_budget
        return _outcome(self._transact(
            session_id, lambda s: self._stepper.step(s, iterations, deadline), if_match,
            label=train_label(iterations)))

    async def step_async(self, session_id: str, iterations: int,
                         if_match: int | None = None) -> StepOutcome:
        """`step` for the event loop: a quick step (`trains_on_loop`) runs on the loop from
        lock to commit (`_transact_on_loop`); anything else runs in a thread."""
        deadline = time.monotonic() + self.settings.step_time_budget
        return _outcome(await self._transact_on_loop(
            session_id, lambda s: self._stepper.step(s, iterations, deadline),
            lambda s: trains_on_loop(s, iterations), if_match, train_label(iterations)))

    def play_frame(self, session_id: str, seconds: Callable[[Session], float],
                   gap: float) -> StepOutcome | None:
        """Train one frame of play, or return None (nothing saved) when none is due
        (`Stepper.play_frame` says when, and how long a frame trains)."""
        try:
            return _outcome(self._transact(
                session_id, lambda s: self._stepper.play_frame(s, seconds, gap), label="play"))
        except FrameNotDue:
            return None

    async def play_frame_async(self, session_id: str, seconds: Callable[[Session], float],
                               gap: float) -> StepOutcome | None:
        """`play_frame` for the event loop: a frame that trains under a millisecond
        (`stepping.frame_on_loop`), on a store that allows it, runs on the loop from lock
        to commit (`_transact_on_loop`); anything else runs in a thread."""
        try:
            return _outcome(await self._transact_on_loop(
                session_id, lambda s: self._stepper.play_frame(s, seconds, gap),
                lambda s: stepping.frame_on_loop(s, seconds), label="play"))
        except FrameNotDue:
            return None

    def set_playing(self, session_id: str, playing: bool,
                    until: float | None = None) -> Session:
        """Mark the session playing (until every output is within `until` of its target,
        when given) or paused."""
        return self._mutate(session_id, lambda s: stepping.set_playing(s, playing, until))

    def release_play(self, session_id: str, idle: float) -> Session:
        """Pause a session marked playing whose frames stopped `idle` seconds ago (every
        tab that drove it has gone); return the session as it is."""
        s = self.get(session_id)
        if not stepping.plays_idle(s, idle):
            return s
        try:
            return self._mutate(session_id, lambda current: stepping.pause_idle(current, idle))
        except FrameNotDue:
            return self.get(session_id)

    def advance_phase(self, session_id: str, action: str) -> tuple[Session, StepperView]:
        """Advance one phase (`next`), go back to the start (`restart`), or finish (`apply`).

        Advancing past the last phase applies the update: one training step, exactly as
        Step takes it. The parameters then equal the trace's new parameters unless the
        trace is sampled (a batch too large for it: `Trace.batch`): the step uses every
        row of the batch, the trace its first rows, and the page and JSON say so.
        """
        done = self._transact(session_id, lambda s: self._stepper.advance_phase(s, action))
        return done.session, done.result

    # ------------------------------------------------------------------ reading
    def trace_of(self, s: Session, observations: list[int] | None = None) -> Trace:
        """Return the step the current parameters would take (on the next batch): over its
        first `Costs.trace_rows` observations when the batch has more (`Trace.batch`)."""
        return reading.trace_of(s, self.costs, observations)

    def phase_view(self, s: Session) -> StepperView:
        """Return the phase stepper at the session's position."""
        return reading.phase_view(s, self.costs)

    def history(self, s: Session, max_points: int | None = None
                ) -> tuple[list[int], list[float]]:
        """Return the loss history decimated to at most `max_points` points."""
        return reading.loss_history(s, self.settings, max_points)

    def test_history(self, s: Session, max_points: int | None = None
                     ) -> tuple[list[int], list[float]]:
        """Return the test-loss history decimated like `history`."""
        return reading.held_out_history(s, self.settings, max_points)

    def diagnostics(self, s: Session) -> DiagnosticsReport:
        """Return the gradient check, symmetry groups, activity and gradient sizes."""
        return reading.diagnostics(s, self.costs)

    def check(self, s: Session, quantity: str, layer: int, values: Any,
              tolerance: float | None = None) -> checking.CheckResult:
        """Check a learner's hand-computed matrix against the current step."""
        return reading.check(s, self.costs, quantity, layer, values, tolerance)

    accuracies = staticmethod(reading.accuracies)
    test_loss = staticmethod(reading.test_loss)
    misfit = staticmethod(reading.misfit)
    spec_dict = staticmethod(reading.spec_dict)
    export = staticmethod(documents.export)
