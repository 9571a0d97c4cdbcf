"""The cost model of every read: how much a request may compute, keep and send.

One unit prices everything: a *cell*, one number a request computes, keeps or sends — an
observation × a neuron of a trace, a grid point × a neuron of a 2-D map, a number of a
JSON response, a cell of a table on a page. Each cap below is a count of cells (or of
multiply-adds, a cell's arithmetic) with the reason for its size, measured on this
2-core machine: within the documented limits (`Settings`) every read stays under ~2 s of
CPU and ~512 MB of memory, whatever the network.

A request over a cap gets one of three answers, and always says which:
- sampled: a trace, the diagnostics and the gradient check work on the first rows of the
  step's batch (`trace_rows` of them, deterministic) and on a seeded sample of parameters;
  the response names what it shows of what ("showing 24 of 10,000 observations");
- truncated: a page shows the first rows and columns of a large matrix or table, with a note;
- refused: an explicit ask over a cap (`observations=` with too many rows) is a 422
  `limit_exceeded` naming the field, the cap and how to ask for less.

Trade-off: a sampled trace's loss, gradient and update are those of its rows, not of the
step training takes over the whole batch (training always uses every row of its batch);
the responses say so rather than spend seconds and gigabytes on the exact ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.engine.spec import NetworkSpec
from app.engine.trace import PASS_CELLS
from app.settings import Settings

from .errors import over_limit

TRACE_CELLS = 30_000
"""Observations × neurons (inputs included) one trace holds: its ten matrices of them take
~2.4 MB and ~0.2 M numbers of JSON (~0.3 s to write); the 19-1024-200-1 net gets 24 rows."""
RESPONSE_NUMBERS = 1_200_000
"""Numbers one JSON response carries at most: ~24 MB, ~1.3 s to write, 0.4–1.4 s to
compress (zstd–brotli); a trace of the largest network allowed fits once its repeats are
left out (4 parameter-sized matrices × 250,000, or 3 without a penalty)."""
PARAMETER_MATRICES = 5  # a trace's parameter-sized matrices: ∂C/∂w, gradient, penalty, Δ, new
AUGMENTED_MATRICES = 2  # … and with augmented=true two more: [b ; ∂C/∂w] and [b ; w]
EVALUATE_CELLS = PASS_CELLS
"""Observations × neurons one forward pass over all the data holds at once (8 MB a matrix):
a loss, the outputs or the largest |a − y| of 10,000 rows go through in chunks of rows (the
engine's `trace.PASS_CELLS`: `evaluate` and `predict` chunk by it)."""
GRADCHECK_PARAMETERS = 500  # parameters the gradient check samples at most (a table to read)
GRADCHECK_MACS = 3e8
"""Multiply-adds of the gradient check's finite differences (two forward passes from the
perturbed layer up, per parameter checked): ~0.3 s here; a big net checks fewer parameters."""
GRADCHECK_SEED = 0  # the parameters checked are the same on every request: a seeded sample
MATRIX_CELLS = 2_400
"""Cells one matrix of a page shows (~150 bytes of HTML and ~5 µs each): 8 rows of 300, or
40 × 60 of a weight matrix; the rest is summarised by the shape and a note."""
TABLE_ROWS = 500  # rows a data, outputs or points table shows with "show all"
TABLE_CELLS = 5_000  # … and cells: an editable data cell is ~450 bytes of HTML (2 MB at most)
FORWARD_MACS = 2e8
"""Multiply-adds a page or a frame spends on outputs (~0.1 s): the largest |a − y| of a big
table is over its first rows (rows × parameters ≤ this), and says so."""
DIAGRAM_NEURONS = 32  # neurons a layer of the diagram draws: taller no longer fits a screen
TYPED_CELLS = 20_000  # weights Setup's typed matrix holds (~20 bytes each: 400 kB of textarea)
TERMS_SHOWN = 64  # incoming weights the inspector lists for a neuron (its sum shows 8 terms)
STEP_RESERVE = 0.15
"""Seconds a step request keeps for its work after training — the history, the test
loss, sealing and saving the session, the answer (~50 ms for the largest network) — so
that it ends within `step_time_budget` (at most a tenth of a smaller budget)."""
WAITED_SHARE = 0.1  # a step that waited this share of its budget (lock, workers starting)
STEP_SLACK = 0.2  # … trains nothing when one step, estimated, would end this much past it
MAP_CELLS = 2_000_000
"""Grid points × neurons of a 2-D problem's maps (float32: 8 MB a matrix, ~0.1 s): above it
the hidden neurons' tiles come from their own coarse grid of TILE² points."""


def training_seconds(deadline: float, budget: float, one_step: float) -> float | None:
    """Return the seconds a step request may train, from its `deadline` (`time.monotonic`)
    and `budget` (`step_time_budget`): what is left less STEP_RESERVE; or None when waiting
    (for the session's lock, or the training workers to start) took over WAITED_SHARE of
    the budget and a step, estimated at `one_step` seconds, would end over STEP_SLACK past
    it: the request then trains nothing rather than overrun (`truncated`, 0 iterations)."""
    now = time.monotonic()
    left = deadline - now - min(STEP_RESERVE, budget / 10)
    if budget - (deadline - now) > WAITED_SHARE * budget and one_step - max(0.0, left) > (
            STEP_SLACK):
        return None
    return max(0.0, left)


@dataclass(frozen=True)
class Shown:
    """How many of the step's observations a trace shows: `shown` of `total`."""

    shown: int
    total: int

    @property
    def partial(self) -> bool:
        """Return True when some are left out."""
        return self.shown < self.total


def neurons(spec: NetworkSpec) -> int:
    """Return the neurons of every layer, the inputs included: a trace's cells per row."""
    return sum(spec.layers)


class Costs:
    """The caps of one deployment: the constants above, bounded by its `Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # ------------------------------------------------------------ traces
    def trace_rows(self, spec: NetworkSpec) -> int:
        """Return the most observations one trace of this network may hold (≥ 1)."""
        return max(1, min(self.settings.max_observations, TRACE_CELLS // neurons(spec)))

    def sample(self, spec: NetworkSpec, batch: NDArray[np.intp] | None, n: int
               ) -> tuple[NDArray[np.intp] | None, Shown]:
        """Return the rows a trace of the step's batch holds (None: all n, in order): the
        whole batch when it fits, else its first `trace_rows` rows; and what that shows."""
        total = n if batch is None else len(batch)
        cap = self.trace_rows(spec)
        if total <= cap:
            return batch, Shown(total, total)
        first = np.arange(cap, dtype=np.intp) if batch is None else batch[:cap]
        return first, Shown(cap, total)

    def check_observations(self, spec: NetworkSpec, count: int) -> None:
        """Refuse a trace asked for more observations than one trace may hold."""
        cap = self.trace_rows(spec)
        if count > cap:
            raise over_limit("observations", f"a trace of this network may hold at most "
                             f"{cap:,} observations ({TRACE_CELLS:,} observations × neurons, "
                             f"and it has {neurons(spec):,} neurons); you asked for "
                             f"{count:,}: ask for fewer with observations=0,1,…", cap)

    # ------------------------------------------------------------ gradient check
    def gradcheck_parameters(self) -> int:
        """Return the most parameters the gradient check samples."""
        return min(GRADCHECK_PARAMETERS, self.settings.max_parameters)

    # ------------------------------------------------------------ pages
    def table_rows(self, columns: int = 1) -> int:
        """Return the most rows a page's table of `columns` columns shows ("show all"
        included)."""
        return max(1, min(TABLE_ROWS, TABLE_CELLS // max(1, columns),
                          self.settings.max_observations))


REPEATS = ("input_augmented", "grad_augmented", "augmented", "penalty_gradient")
"""Fields of a JSON trace that repeat others, left out first: the augmented copies (the
plain matrices with the bias row on top), and the penalty's gradient (the update's gradient
less backprop's)."""
PLAIN_REPEATS = ("gradient_weights", "gradient_biases")  # = backprop's, without a penalty


def trace_numbers(spec: NetworkSpec, rows: int, augmented: bool, slots: int = 0,
                  left_out: tuple[str, ...] = ()) -> int:
    """Return about how many numbers a JSON trace of `rows` observations carries."""
    shapes = spec.shapes()
    per_row = 1 + sum(5 * o + i for i, o in shapes)  # z, a, ∂C/∂a, ∂a/∂n, δ; δ·Wᵀ; loss
    weights = sum((i + 1) * o for i, o in shapes)  # each transition's [b ; W]
    copies = PARAMETER_MATRICES + slots - ("penalty_gradient" in left_out) - (
        "gradient_weights" in left_out)
    total = rows * per_row + weights * copies
    if augmented and "augmented" not in left_out:
        total += rows * sum(i + 1 for i, _ in shapes) + weights * AUGMENTED_MATRICES
    return total


def trace_json(spec: NetworkSpec, rows: int, augmented: bool, slots: int,
               penalised: bool) -> tuple[str, ...]:
    """Return the fields a JSON trace leaves out to carry at most RESPONSE_NUMBERS numbers
    (none when it fits; then the repeats, which the response names); refuse one still over
    the cap without them (never within the documented limits)."""
    if trace_numbers(spec, rows, augmented, slots) <= RESPONSE_NUMBERS:
        return ()
    left_out = REPEATS if penalised else REPEATS + PLAIN_REPEATS
    numbers = trace_numbers(spec, rows, augmented, slots, left_out)
    if numbers > RESPONSE_NUMBERS:
        raise over_limit("trace", f"a trace of this network carries {numbers:,} numbers, "
                         f"over the {RESPONSE_NUMBERS:,} of one response: export the NumPy "
                         "script (export?format=python), which computes every matrix of the "
                         "step", RESPONSE_NUMBERS)
    return left_out if augmented else tuple(k for k in left_out if "augmented" not in k)
