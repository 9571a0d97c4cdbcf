"""When a training run stops: before the first step that would end past its deadline.

Reading the clock costs ~50 ns, a small network's step ~20 µs: quick steps read it every
DEADLINE_CHECK_EVERY steps. A wide network's step on a large batch takes up to a second,
and checking only every 16 let a run overrun its budget by seconds; so a slow step reads
the clock before every next step and predicts that step from the average so far, keeping
room for the run's closing pass over all the data.
"""

from __future__ import annotations

from time import perf_counter

DEADLINE_CHECK_EVERY = 16  # steps between clock reads while steps are quick
SLOW_STEP = 0.001  # seconds: a step this long reads the clock before every next step


class Clock:
    """When a run must stop: before the first step that would end past the deadline with
    the closing pass over all the data still to run (one step is always taken).

    Quick steps read the clock every DEADLINE_CHECK_EVERY steps; once a step takes
    SLOW_STEP or more (a large batch of a wide network: up to a second each), it reads it
    before every step and predicts the next one from the average so far, so a run ends
    within its budget rather than up to a step and a closing pass after it.
    """

    def __init__(self, deadline: float | None, batches: float) -> None:
        self.deadline = deadline
        self.closing = max(1.0, batches) / 3  # the closing pass: a forward of all the rows,
        # about a third of a step per batch of them
        self.started = perf_counter()
        self.slow = False

    def due(self, done: int) -> bool:
        """Return True when step `done` (counted from 0) must not start."""
        if self.deadline is None or not (self.slow or done == 1
                                         or done % DEADLINE_CHECK_EVERY == 0):
            return False
        now = perf_counter()
        each = (now - self.started) / done  # seconds per step so far
        self.slow = each >= SLOW_STEP
        return now + each * (1 + self.closing) >= self.deadline
