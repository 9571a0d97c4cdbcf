"""Plain-text tables of matrices, laid out as the symmetry question wrote them.

`product_table` draws a matrix product the way the origin did: the right operand above,
the left operand on the left, the result where rows and columns meet. `matrix` draws one
labelled matrix. Both fit in 80 columns for the small networks this is meant for; a
product too wide for the terminal falls back to its three matrices one under another.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def fmt(value: float, decimals: int) -> str:
    """Format a number with up to `decimals` decimals, trailing zeros trimmed like NumPy."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _cells(m: Array, decimals: int) -> list[list[str]]:
    return [[fmt(float(v), decimals) for v in row] for row in np.atleast_2d(m)]


def matrix(name: str, m: Array, decimals: int) -> str:
    """Return `name` and the matrix as NumPy-like nested rows, aligned."""
    cells = _cells(m, decimals)
    width = max((len(c) for row in cells for c in row), default=1)
    rows = [", ".join(c.rjust(width) for c in row) for row in cells]
    body = ",\n ".join(f"[{r}]" for r in rows)
    return f"{name}:\n[{body}]"


def product_table(left: Array, right: Array, result: Array, decimals: int,
                  names: tuple[str, str, str] = ("left", "right", "result"),
                  max_width: int = 80) -> str:
    """Return left × right = result as the origin's table (or stacked if too wide)."""
    lc, rc, pc = _cells(left, decimals), _cells(right, decimals), _cells(result, decimals)
    lw = max(len(c) for row in lc for c in row)
    cw = max(len(c) for row in (rc + pc) for c in row)
    left_rows = ["| " + "   ".join(c.rjust(lw) for c in row) + " |" for row in lc]
    pad = " " * (len(left_rows[0]) - 1) + "|"
    lines = [pad + "".join(f" {c.rjust(cw)} |" for c in row) for row in rc]
    lines += [lr + "".join(f" {c.rjust(cw)} |" for c in row)
              for lr, row in zip(left_rows, pc, strict=True)]
    if max(len(line) for line in lines) <= max_width:
        return "\n".join(lines)
    return "\n\n".join(matrix(n, m, decimals) for n, m in zip(names, (left, right, result),
                                                              strict=True))
