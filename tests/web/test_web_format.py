"""The whole-matrix formatters give exactly what the one-number formatters give (and the
histograms count exactly as NumPy's).

A grid's numbers, colours and ink are computed for the whole matrix at once (format.nums,
format.colours); the page must show what `num`, `colour` and `ink` say for each number,
including the edge cases (−0, values that round to zero, NaN, ±∞, tiny scales).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.web import histograms
from app.web.format import colour, colours, ink, num, nums
from app.web.matrices import grid
from app.web.templating import environment

EDGES = [0.0, -0.0, np.nan, np.inf, -np.inf, -1e-12, 1e-12, 0.5, -0.5, 0.6, -0.6, 5e-8,
         -5e-8, -4.9999999e-8, 1e300, -1e300, 1e-320, 2.5e-8, -2.5e-8, 0.125, -0.0, -0.0]


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    """Return numbers over 13 orders of magnitude, shuffled among the edge cases."""
    rng = np.random.default_rng(1)
    spread = rng.normal(size=2000) * 10.0 ** rng.integers(-9, 4, 2000)
    mixed = np.concatenate([spread, EDGES])
    rng.shuffle(mixed)
    return np.concatenate([mixed, EDGES]).reshape(-1, 2)  # (rows, 2): a matrix, as grids pass


@pytest.mark.parametrize("decimals", [0, 1, 3, 7, 10, 16])
def test_nums_equal_num_for_every_value(values, decimals):
    """nums(m) is num(v) for each v of m, row-major."""
    assert nums(values, decimals) == [num(float(v), decimals) for v in values.ravel()]


@pytest.mark.parametrize("scale", [1.0, 0.3, 1e-9, 1 / 0.6, 0.0, -1.0, float("inf")])
@pytest.mark.parametrize("size", [3, 40, 41, 4022])  # either side of the scalar shortcut
def test_colours_equal_colour_and_ink(values, scale, size):
    """colours(m, scale) is (colour(v, scale), ink(v, scale)) for each v of m."""
    m = values.ravel()[:size]
    with np.errstate(over="ignore"):
        background, foreground = colours(m, scale)
    assert background == [colour(float(v), scale) for v in m]
    assert foreground == [ink(float(v), scale) for v in m]


def test_empty_matrices_format_to_nothing():
    """A matrix with no cells gives no texts and no colours."""
    empty = np.zeros((0, 3))
    assert nums(empty) == []
    assert colours(empty, 1.0) == ([], [])


@pytest.mark.parametrize("decimals", [0, 3, 7])
def test_grid_cells_show_num_of_each_value(values, decimals):
    """A grid's table shows num(v) in each cell and repr(v) in its hover title, as the
    template writes it."""
    m = values[-40:]  # (40, 2): the edge cases (−0, NaN, ±∞, …) end the matrix
    g = grid("k", "t", "c", m, decimals, row_labels=[f"r{i}" for i in range(40)],
             col_labels=["a", "b"], namer=lambda n: [f"n{i}" for i in range(2 * n)],
             show_all=True)
    html = environment().get_template("partials/macros.html").module.matrix(g)
    shown = re.findall(r'title="n\d+ = ([^"]*)">([^<]*)</td>', str(html))
    assert shown == [(repr(float(v)), num(float(v), decimals)) for v in m.ravel()]
    assert g.texts == [num(float(v), decimals) for v in m.ravel()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=400),
       st.floats(-10.0, 10.0), st.floats(1e-6, 20.0), st.integers(1, 40))
def test_histogram_counts_equal_numpys(values: list[float], lo: float, span: float,
                                       bins: int) -> None:
    x = np.asarray(values)
    hi = lo + span
    edges, spans = histograms._bins(lo, hi, bins)
    expected, expected_edges = np.histogram(x, bins=bins, range=(lo, hi))
    assert np.array_equal(edges, expected_edges)
    assert histograms._counts(x, edges, lo, hi, bins).tolist() == expected.tolist()
    assert len(spans) == bins


def test_histogram_counts_values_on_every_edge_as_numpy_does() -> None:
    edges, _ = histograms._bins(-1.0, 1.0, 24)
    x = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    expected, _ = np.histogram(x, bins=24, range=(-1.0, 1.0))
    assert histograms._counts(x, edges, -1.0, 1.0, 24).tolist() == expected.tolist()
