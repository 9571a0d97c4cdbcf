"""Matrices as heat-map tables: cells with their number, exact value, colour and label.

A `Grid` is what the `matrix` macro renders: row and column headers, cells coloured on
the shared diverging palette, each cell's hover title giving its name in the origin's
notation and its exact float64 value. Large matrices show their first rows until the
viewer asks for all of them. Copy formats (NumPy, CSV, LaTeX) come from the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .format import colour, exact, ink, num, scale_of, sub, sup

Array = NDArray[np.float64]
PREVIEW_ROWS = 8  # rows shown before "show all"


@dataclass(frozen=True)
class Cell:
    """One table cell."""

    text: str
    title: str
    background: str
    foreground: str


@dataclass(frozen=True)
class Grid:
    """A labelled, coloured matrix ready for the template."""

    key: str  # stable id, e.g. "a-1"; also the copy endpoint's name
    title: str  # e.g. "a¹"
    caption: str  # what it is, in words
    col_labels: list[str]
    row_labels: list[str]
    rows: list[list[Cell]]
    shape: tuple[int, int]
    hidden_rows: int  # rows not shown (0 when complete)
    highlight: bool = False


Namer = Callable[[int, int], str]


def grid(key: str, title: str, caption: str, m: Array, decimals: int, *,
         row_labels: list[str], col_labels: list[str], namer: Namer,
         show_all: bool = False, highlight: bool = False) -> Grid:
    """Return a Grid of matrix m (2-D) with the given labels and cell names."""
    m = np.atleast_2d(m)
    scale = scale_of(m)
    limit = m.shape[0] if show_all else min(m.shape[0], PREVIEW_ROWS)
    rows = [
        [Cell(num(float(v), decimals), f"{namer(r, c)} = {exact(float(v))}",
              colour(float(v), scale), ink(float(v), scale)) for c, v in enumerate(m[r])]
        for r in range(limit)
    ]
    return Grid(key, title, caption, col_labels, row_labels[:limit], rows, m.shape,
                m.shape[0] - limit, highlight)


def activation_grid(key: str, symbol: str, layer: int, m: Array, decimals: int,
                    caption: str, *, show_all: bool = False, highlight: bool = False,
                    observations: list[int] | None = None, title: str | None = None) -> Grid:
    """Return a Grid of an (observations × neurons) matrix, labelled ₒa^l_i."""
    obs = observations if observations is not None else list(range(m.shape[0]))
    return grid(
        key, title or f"{symbol}{sup(layer)}", caption, m, decimals,
        row_labels=[f"obs {o}" for o in obs],
        col_labels=[f"{symbol}{sup(layer)}{sub(i)}" for i in range(m.shape[1])],
        namer=lambda r, c: f"{sub(obs[r])}{symbol}{sup(layer)}{sub(c)}",
        show_all=show_all, highlight=highlight)


def weight_grid(key: str, symbol: str, transition: int, weights: Array, biases: Array | None,
                decimals: int, caption: str, *, transpose: bool = False,
                highlight: bool = False) -> Grid:
    """Return a Grid of weights (fan_in × fan_out), with the bias row on top if given.

    With `transpose`, rows are the neurons fed (the (out, in) convention of PyTorch and
    Nielsen) and the bias becomes the first column.
    """
    t = transition
    m = weights if biases is None else np.vstack([biases[None, :], weights])
    offset = 0 if biases is None else 1

    def name(i: int, j: int) -> str:  # i indexes rows of the (1 +) fan_in × fan_out matrix
        if i < offset:
            return f"b{sup(t)}{sub(j)}" if symbol == "w" else f"{symbol} of b{sup(t)}{sub(j)}"
        label = f"w{sup(t)}{sub(f'{i - offset},{j}')}"
        return label if symbol == "w" else f"{symbol}{label}"

    rows_in = (["b"] if biases is not None else []) + [f"from {i}" for i in range(weights.shape[0])]
    cols_out = [f"to {j}" for j in range(weights.shape[1])]
    if transpose:
        return grid(key, f"({symbol}{sup(t)})ᵀ", caption, m.T, decimals,
                    row_labels=cols_out, col_labels=rows_in,
                    namer=lambda r, c: name(c, r), show_all=True, highlight=highlight)
    return grid(key, f"{symbol}{sup(t)}", caption, m, decimals, row_labels=rows_in,
                col_labels=cols_out, namer=name, show_all=True, highlight=highlight)


def as_numpy(m: Array, name: str) -> str:
    """Return the matrix as a NumPy literal (exact values)."""
    rows = ",\n    ".join("[" + ", ".join(repr(float(v)) for v in row) + "]"
                           for row in np.atleast_2d(m))
    return f"{name} = np.array([\n    {rows},\n])  # shape {np.atleast_2d(m).shape}\n"


def as_csv(m: Array) -> str:
    """Return the matrix as CSV rows (exact values)."""
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in np.atleast_2d(m))


def as_latex(m: Array, decimals: int) -> str:
    """Return the matrix as a LaTeX pmatrix at the chosen precision."""
    body = " \\\\\n".join(" & ".join(num(float(v), decimals).replace("−", "-") for v in row)
                          for row in np.atleast_2d(m))
    return "\\begin{pmatrix}\n" + body + "\n\\end{pmatrix}\n"
