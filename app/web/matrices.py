"""Matrices as heat-map tables: cells with their number, exact value, colour and label.

A `Grid` is what the `matrix` macro renders: row and column headers, cells coloured on
the shared diverging palette, each cell's hover title giving its name in the origin's
notation and its exact float64 value. Large matrices show their first rows until the
viewer asks for all of them, and never more than `costs.MATRIX_CELLS` cells (the first
rows and columns, with a note): a wide network's 1024 × 200 weights would be 30 MB of
HTML. Copy formats (NumPy, CSV, LaTeX) give the whole matrix, from the same numbers.

A grid's numbers and colours are computed for the whole matrix at once (NumPy, then one
formatting pass); the template only writes them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import NDArray

from app.sessions.costs import MATRIX_CELLS

from .format import colours, num, nums, scale_of, sub, sup

Array = NDArray[np.float64]
PREVIEW_ROWS = 8  # rows shown before "show all"
MATRIX_COLUMNS = 60  # columns a matrix shows at most (then rows up to MATRIX_CELLS)
MEMO_CELLS = 256  # grids up to this many shown cells have their colours remembered
TINT = 1.75  # a cell's colour is its value over TINT × the matrix's largest magnitude
Cell = tuple[str, str, str, str]  # background, text colour, hover title, the number shown


@dataclass(frozen=True)
class Grid:
    """A labelled, coloured matrix ready for the template (its shown cells, row-major)."""

    key: str  # stable id, e.g. "a-1"; also the copy endpoint's name
    title: str  # e.g. "a¹"
    caption: str  # what it is, in words
    col_labels: list[str]
    row_labels: list[str]  # of the shown rows
    names: list[str]  # each shown cell's name in the origin's notation
    values: list[float]  # its exact value (the hover title)
    backgrounds: list[str]
    foregrounds: list[str]
    shape: tuple[int, int]
    hidden_rows: int  # rows not shown (0 when complete)
    decimals: int  # shown on the cells
    highlight: bool = False
    hidden_cols: int = 0  # columns not shown (a matrix over MATRIX_CELLS)
    capped: bool = False  # rows are hidden by the cap, not only until "show all"

    @property
    def width(self) -> int:
        """Return the columns shown."""
        return self.shape[1] - self.hidden_cols

    @property
    def note(self) -> str:
        """Return what the grid leaves out, e.g. "showing 40 of 1,024 rows × 60 of 200
        columns" ("" when it shows every cell, or only waits for "show all")."""
        if not (self.capped or self.hidden_cols):
            return ""
        rows, cols = self.shape
        return (f"showing {rows - self.hidden_rows:,} of {rows:,} rows × {self.width:,} of "
                f"{cols:,} columns (at most {MATRIX_CELLS:,} cells a matrix; copy it whole)")

    @cached_property
    def texts(self) -> list[str]:
        """Return the number each shown cell shows (`num` at the grid's decimals)."""
        return nums(np.array(self.values, dtype=np.float64), self.decimals)

    def cells(self, r: int) -> list[Cell]:
        """Return the cells of shown row r."""
        w = self.width
        row = slice(r * w, (r + 1) * w)
        return [(bg, fg, f"{name} = {value!r}", text) for bg, fg, name, value, text in
                zip(self.backgrounds[row], self.foregrounds[row], self.names[row],
                    self.values[row], self.texts[row], strict=True)]

    @cached_property
    def rows(self) -> list[tuple[str, list[Cell]]]:
        """Return each shown row: its label and its cells."""
        return [(label, self.cells(r)) for r, label in enumerate(self.row_labels)]


Namer = Callable[[int], list[str]]  # rows shown → each cell's name, row-major


def grid(key: str, title: str, caption: str, m: Array, decimals: int, *,
         row_labels: list[str], col_labels: list[str], namer: Namer,
         show_all: bool = False, highlight: bool = False) -> Grid:
    """Return a Grid of matrix m (2-D) with the given labels and cell names (`namer`
    names every column of the rows shown; the grid keeps those of the columns shown)."""
    m = np.atleast_2d(m).astype(np.float64, copy=False)
    rows, cols = m.shape
    width = min(cols, MATRIX_COLUMNS)
    wanted = rows if show_all else min(rows, PREVIEW_ROWS)
    limit = min(wanted, max(1, MATRIX_CELLS // max(1, width)))
    shown = np.ascontiguousarray(m[:limit, :width])  # (limit, width)
    scale = scale_of(m) * TINT  # the largest cell at a 4/7 tint: numbers stay readable
    if shown.size <= MEMO_CELLS:
        cells = _cells(shown.tobytes(), shown.shape, scale)
    else:
        cells = _format(shown, scale)
    names = namer(limit)
    if width < cols:
        names = [names[r * cols + c] for r in range(limit) for c in range(width)]
    return Grid(key, title, caption, col_labels[:width], row_labels[:limit], names, *cells,
                m.shape, rows - limit, decimals, highlight, cols - width, limit < wanted)


Cells = tuple[list[float], list[str], list[str]]  # values, colours, inks


def _format(shown: Array, scale: float) -> Cells:
    """Return the cells' exact values, backgrounds and text colours."""
    return (shown.ravel().tolist(), *colours(shown, scale))


@lru_cache(maxsize=512)
def _cells(data: bytes, shape: tuple[int, int], scale: float) -> Cells:
    """Return `_format` of a small matrix, remembered: the same numbers recur within a
    page (∂C/∂w is also the gradient the update receives) and across requests (a data
    edit leaves the weights as they were). The lists are shared: never change them."""
    return _format(np.frombuffer(data, dtype=np.float64).reshape(shape), scale)


def activation_grid(key: str, symbol: str, layer: int, m: Array, decimals: int,
                    caption: str, *, show_all: bool = False, highlight: bool = False,
                    observations: list[int] | None = None, title: str | None = None) -> Grid:
    """Return a Grid of an (observations × neurons) matrix, labelled ₒa^l_i."""
    obs = observations if observations is not None else list(range(m.shape[0]))
    head = f"{symbol}{sup(layer)}"
    cols = [head + sub(i) for i in range(m.shape[1])]  # a^l_i; a cell is ₒa^l_i
    shown = obs if show_all else obs[:PREVIEW_ROWS]
    return grid(
        key, title or head, caption, m, decimals,
        row_labels=[f"obs {o}" for o in shown], col_labels=cols,
        namer=lambda limit: [so + c for so in map(sub, obs[:limit]) for c in cols],
        show_all=show_all, highlight=highlight)


def weight_grid(key: str, symbol: str, transition: int, weights: Array, biases: Array | None,
                decimals: int, caption: str, *, transpose: bool = False,
                highlight: bool = False) -> Grid:
    """Return a Grid of weights (fan_in × fan_out), with the bias row on top if given.

    With `transpose`, rows are the neurons fed (the (out, in) convention of PyTorch and
    Nielsen) and the bias becomes the first column. A small grid is remembered whole, its
    rendered rows included: a data edit leaves the weights as they were, and the same
    grid recurs in the Matrices panel, the walkthrough and the stepper.
    """
    if weights.size + (0 if biases is None else biases.size) > MEMO_CELLS:
        return _weight_grid(key, symbol, transition, weights, biases, decimals, caption,
                            transpose, highlight)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    b = None if biases is None else np.ascontiguousarray(biases, dtype=np.float64).tobytes()
    return _kept_weight_grid(key, symbol, transition, w.tobytes(), w.shape, b, decimals,
                             caption, transpose, highlight)


@lru_cache(maxsize=256)
def _kept_weight_grid(key: str, symbol: str, transition: int, weights: bytes,
                      shape: tuple[int, int], biases: bytes | None, decimals: int,
                      caption: str, transpose: bool, highlight: bool) -> Grid:
    w = np.frombuffer(weights, dtype=np.float64).reshape(shape)
    b = None if biases is None else np.frombuffer(biases, dtype=np.float64)
    return _weight_grid(key, symbol, transition, w, b, decimals, caption, transpose,
                        highlight)


def _weight_grid(key: str, symbol: str, transition: int, weights: Array, biases: Array | None,
                 decimals: int, caption: str, transpose: bool, highlight: bool) -> Grid:
    t = transition
    m = weights if biases is None else np.vstack([biases[None, :], weights])
    fan_in, fan_out = weights.shape
    tag = "" if symbol == "w" else symbol  # w¹₀,₀, or e.g. Δw¹₀,₀
    ends = [sub(j) for j in range(fan_out)]
    bias = f"b{sup(t)}" if symbol == "w" else f"{tag} of b{sup(t)}"
    starts = ([bias] if biases is not None else []) + [
        f"{tag}w{sup(t)}{sub(i)}," for i in range(fan_in)]  # each row's name, (1 +) fan_in
    rows_in = (["b"] if biases is not None else []) + [f"from {i}" for i in range(fan_in)]
    cols_out = [f"to {j}" for j in range(fan_out)]
    if transpose:  # row j: the weights into neuron j, from every input (names built for
        # the rows shown only: a wide matrix has hundreds of thousands)
        return grid(key, f"({symbol}{sup(t)})ᵀ", caption, m.T, decimals,
                    row_labels=cols_out, col_labels=rows_in,
                    namer=lambda limit: [start + e for e in ends[:limit] for start in starts],
                    show_all=True, highlight=highlight)
    return grid(key, f"{symbol}{sup(t)}", caption, m, decimals, row_labels=rows_in,
                col_labels=cols_out,
                namer=lambda limit: [start + e for start in starts[:limit] for e in ends],
                show_all=True, highlight=highlight)


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
