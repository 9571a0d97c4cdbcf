"""Your own data: parse a CSV (or TSV) with a header row and pick input and target columns.

The most requested thing TensorFlow Playground never did. Every refusal names the row
and column a person would look at in a spreadsheet (rows counted from 1 after the header,
columns by their header name), and the limits are checked while reading, before any
array is made. A column is chosen by its header name or by its 0-based number in ASCII
digits ("¹" or "٣" is a name, never a number), and is an input or a target, not both.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.settings import Settings

from .errors import ServiceError, over_limit

INDEX = re.compile(r"[0-9]{1,9}")  # a column number: ASCII digits (str.isdigit takes "¹")


@dataclass(frozen=True)
class Table:
    """Chosen columns of a CSV, as rows of floats."""

    inputs: list[list[float]]
    targets: list[list[float]]
    input_names: list[str]
    target_names: list[str]


def _columns(header: list[str], wanted: Sequence[str], field: str) -> list[int]:
    """Return the indices of the wanted columns (by header name or 0-based number)."""
    position = {name: i for i, name in reversed(list(enumerate(header)))}  # first of a name
    out: dict[int, None] = {}  # ordered, and a quick membership test
    for name in wanted:
        key = str(name).strip()
        if key in position:
            index = position[key]
        elif INDEX.fullmatch(key) and int(key) < len(header):
            index = int(key)
        else:
            raise ServiceError(422, "invalid", f"no column “{key}”; the header has "
                               f"{', '.join(header)}.", field)
        if index in out:
            raise ServiceError(422, "invalid", f"column “{header[index]}” is chosen twice.",
                               field)
        out[index] = None
    return list(out)


def _choose(header: list[str], inputs: Sequence[str],
            targets: Sequence[str]) -> tuple[list[int], list[int]]:
    """Return the input and target columns; by default the last other column is the
    target and every other column an input. No column may be both."""
    ins = _columns(header, inputs, "inputs") if inputs else []
    taken = set(ins)
    outs = (_columns(header, targets, "targets") if targets
            else [i for i in range(len(header)) if i not in taken][-1:])
    if not inputs:
        taken = set(outs)
        ins = [i for i in range(len(header)) if i not in taken]  # the others, in order
    for chosen, field in ((ins, "inputs"), (outs, "targets")):
        if not chosen:
            raise ServiceError(422, "invalid", "choose at least one column.", field)
    both = sorted(set(ins) & set(outs))
    if both:
        raise ServiceError(422, "invalid", f"column “{header[both[0]]}” is both an input and "
                           "a target; choose it for one of them.", "targets")
    return ins, outs


def parse(text: str, inputs: Sequence[str], targets: Sequence[str],
          settings: Settings, within: str = "") -> Table:
    """Return the chosen columns of a CSV/TSV with a header row, or raise naming the cell.

    With no targets chosen, the last column is the target; with no inputs chosen, every
    other column is an input. `within` names the object holding the fields in the request
    (e.g. "csv" for a new session's `csv`): a refusal then names `csv.inputs`.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)  # the header says how fields are separated
    try:
        return _read(csv.reader(io.StringIO(text), delimiter=delimiter), inputs, targets,
                     settings)
    except csv.Error as err:
        raise _within(ServiceError(422, "invalid", f"not readable as CSV: {err}.", "csv"),
                      within) from None
    except ServiceError as err:
        raise _within(err, within) from None


def _within(err: ServiceError, within: str) -> ServiceError:
    """Return the refusal naming the chosen columns inside `within` (`csv.inputs`,
    `csv.targets`); the text's own refusals name `csv` or `csv.row[n]` already."""
    if within and err.field in ("inputs", "targets"):
        err.field = f"{within}.{err.field}"
    return err


def _read(rows: Iterator[list[str]], inputs: Sequence[str], targets: Sequence[str],
          settings: Settings) -> Table:
    """Read the header and the chosen columns of every row."""
    header = [h.strip() for h in next(rows, [])]
    if not header or not any(header):
        raise ServiceError(422, "invalid", "the file is empty: it needs a header row and "
                           "data rows.", "csv")
    ins, outs = _choose(header, inputs, targets)
    table = Table([], [], [header[i] for i in ins], [header[i] for i in outs])
    cells = 0
    for n, row in enumerate(rows, 1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ServiceError(422, "invalid", f"row {n} has {len(row)} fields but the header "
                               f"has {len(header)}.", f"csv.row[{n}]", len(header))
        if len(table.inputs) >= settings.max_observations:
            raise over_limit("csv", f"at most {settings.max_observations:,} rows.",
                             settings.max_observations)
        cells += len(ins) + len(outs)
        if cells > settings.max_data_cells:
            raise over_limit("csv", f"at most {settings.max_data_cells:,} numbers in the chosen "
                             "columns.", settings.max_data_cells)
        table.inputs.append([_number(row, i, n, header) for i in ins])
        table.targets.append([_number(row, i, n, header) for i in outs])
    if not table.inputs:
        raise ServiceError(422, "invalid", "the file has a header but no data rows.", "csv")
    return table


def _number(row: list[str], i: int, n: int, header: list[str]) -> float:
    text = row[i].strip()
    try:
        value = float(text)
    except ValueError:
        raise ServiceError(422, "invalid", f"row {n}, column “{header[i]}”: “{text}” is not a "
                           "number.", f"csv.row[{n}].{header[i]}") from None
    if not math.isfinite(value):
        raise ServiceError(422, "invalid", f"row {n}, column “{header[i]}”: must be a finite "
                           "number.", f"csv.row[{n}].{header[i]}")
    return value
