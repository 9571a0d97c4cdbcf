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


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1_000), st.integers(0, 40), st.booleans()),
                min_size=1, max_size=60))
def test_appends_never_change_a_history_handed_out_before(
        moves: list[tuple[int, int, bool]]) -> None:
    """Each move appends to any history handed out so far (or to a shorter view of it, as
    undo makes); afterwards every history still holds exactly what it held."""
    handed: list[tuple[np.ndarray, np.ndarray, list[int], list[float]]] = []
    start = history.empty()
    handed.append((*start, [], []))
    for pick, count, shorten in moves:
        steps, losses, want_steps, want_losses = handed[pick % len(handed)]
        if shorten and want_steps:
            cut = pick % len(want_steps)
            steps, losses = steps[:cut], losses[:cut]
            want_steps, want_losses = want_steps[:cut], want_losses[:cut]
        new_steps = [len(handed) * 100 + i for i in range(count)]
        new_losses = [float(s) / 7 for s in new_steps]
        steps, losses = history.append(steps, losses, new_steps, new_losses)
        handed.append((steps, losses, want_steps + new_steps, want_losses + new_losses))
        for s, l, ws, wl in handed:
            assert s.tolist() == ws
            assert l.tolist() == wl


def test_histories_grown_from_one_another_share_their_points() -> None:
    steps, losses = history.append(*history.empty(), [1, 2, 3], [0.5, 0.25, 0.125])
    longer = history.append(steps, losses, [4], [0.0625])
    assert history.shared(steps, longer[0])
    assert history.shared(losses, longer[1])
    branch = history.append(steps, losses, [9], [9.0])  # from the older one: a copy
    assert not history.shared(longer[0], branch[0])
    assert longer[0].tolist() == [1, 2, 3, 4]
    assert branch[0].tolist() == [1, 2, 3, 9]
    assert not history.shared(steps, np.array([1, 2, 3]))
