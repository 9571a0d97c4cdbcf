"""Parse what people type into forms: numbers, matrices, pasted CSV/TSV, layer sizes.

Every parser raises `ServiceError` (422) naming the form field, so the page can show the
message beside it. Nothing here touches a session.
"""

from __future__ import annotations

import math
import re
from typing import Any

from app.sessions.errors import ServiceError

SEPARATORS = re.compile(r"[,\t; ]+")


def number(text: Any, field: str, *, integer: bool = False, low: float | None = None,
           high: float | None = None) -> float:
    """Return the number in `text`, or raise naming the field."""
    raw = str(text if text is not None else "").strip().replace("−", "-")
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ServiceError(422, "invalid", f"“{raw}” is not {kind}.", field) from None
    if not math.isfinite(value):
        raise ServiceError(422, "invalid", "must be a finite number.", field)
    if low is not None and value < low:
        raise ServiceError(422, "invalid", f"must be at least {low:g}.", field, low)
    if high is not None and value > high:
        raise ServiceError(422, "invalid", f"must be at most {high:g}.", field, high)
    return value


def rows_of(text: str, field: str) -> list[list[float]]:
    """Return the numbers of a pasted block: one row per line, cells split on , ; tab space."""
    rows: list[list[float]] = []
    for n, line in enumerate(text.replace("\r", "").split("\n")):
        stripped = line.strip().strip("[],")
        if not stripped:
            continue
        cells = [c for c in SEPARATORS.split(stripped) if c]
        try:
            rows.append([number(c.strip("[]"), field) for c in cells])
        except ServiceError:
            if not rows and n == 0 and any(c[:1].isalpha() for c in cells):
                continue  # a header row
            bad = next(c for c in cells if not _is_number(c.strip("[]")))
            raise ServiceError(422, "invalid", f"line {n + 1}: “{bad}” is not a number.",
                               field) from None
    return rows


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text.replace("−", "-")))
    except ValueError:
        return False


def matrix(text: str, field: str, shape: tuple[int, int]) -> list[list[float]]:
    """Return a matrix of exactly `shape` from text, or raise naming both shapes."""
    rows = rows_of(text, field)
    got = (len(rows), len(rows[0]) if rows else 0)
    if any(len(r) != got[1] for r in rows):
        widths = sorted({len(r) for r in rows})
        raise ServiceError(422, "invalid", f"rows have different lengths ({widths}); every row "
                           f"needs {shape[1]} numbers.", field)
    if got != shape:
        raise ServiceError(422, "shape_mismatch", f"got {got[0]}×{got[1]} numbers, expected "
                           f"{shape[0]}×{shape[1]}.", field, list(shape))
    return rows


def layer_sizes(text: str, field: str = "layers") -> list[int]:
    """Return layer sizes from '2-3-3-2' (or spaces/commas)."""
    parts = [p for p in re.split(r"[-,\s×x]+", text.strip()) if p]
    if len(parts) < 2:
        raise ServiceError(422, "invalid", "give at least two sizes, e.g. 2-3-1.", field)
    sizes = []
    for p in parts:
        if not (p.isascii() and p.isdigit()) or len(p) > 6 or int(p) < 1:
            raise ServiceError(422, "invalid", f"“{p}” is not a positive whole number.", field)
        sizes.append(int(p))
    return sizes


def fit_columns(rows: list[list[float]], width: int) -> list[list[float]]:
    """Return rows cut or padded with zeros to `width` columns."""
    return [(r + [0.0] * width)[:width] for r in rows]
