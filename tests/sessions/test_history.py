"""Loss histories as arrays: decimation keeps the extremes, appends stay bounded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sessions import history

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=1, max_size=3000), st.integers(4, 400))
def test_decimation_keeps_first_last_minimum_and_maximum(values: list[float],
                                                        max_points: int) -> None:
    steps = list(range(10, 10 + len(values)))
    kept_steps, kept = history.decimate(steps, values, max_points)
    if len(values) <= max_points:
        assert kept == values
    assert len(kept) <= max_points
    assert kept_steps == sorted(set(kept_steps))  # in order, no repeats
    assert kept_steps[0] == steps[0]
    assert kept_steps[-1] == steps[-1]
    assert min(kept) == min(values)
    assert max(kept) == max(values)
    assert all(values[s - 10] == v for s, v in zip(kept_steps, kept, strict=True))


def test_a_short_history_is_kept_whole() -> None:
    assert history.decimate([1, 2, 3], [0.5, 0.25, 0.125], 10) == ([1, 2, 3],
                                                                  [0.5, 0.25, 0.125])


def test_appending_past_the_bound_decimates_and_keeps_a_spike() -> None:
    steps, losses = history.empty()
    values = np.linspace(1.0, 0.0, history.STORE_POINTS)
    values[12_345] = 99.0  # a spike in the middle
    steps, losses = history.append(steps, losses, list(range(1, history.STORE_POINTS + 1)),
                                   values.tolist())
    assert steps.shape[0] == history.STORE_POINTS
    steps, losses = history.append(steps, losses, [history.STORE_POINTS + 1], [-1.0])
    assert steps.shape[0] <= history.STORE_POINTS // 2
    assert losses.max() == 99.0
    assert (steps[0], steps[-1], losses[-1]) == (1, history.STORE_POINTS + 1, -1.0)
    assert steps.dtype == np.int64
    assert losses.dtype == np.float64


def test_recording_twice_at_one_step_replaces_the_point() -> None:
    steps, losses = history.record(*history.empty(), 5, 0.5)
    before = losses
    steps, losses = history.record(steps, losses, 5, 0.25)
    steps, losses = history.record(steps, losses, 6, 0.125)
    assert steps.tolist() == [5, 6]
    assert losses.tolist() == [0.25, 0.125]
    assert before.tolist() == [0.5]  # arrays are replaced, never changed in place
