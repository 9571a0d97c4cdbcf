"""Engine benchmark: the fast path (`train.Trainer`) against a hand-written NumPy floor.

Three cases, each timed per iteration in one run beside its *floor*: a loop written by
hand for that one network, with the same maths and every plain-NumPy trick we know —
buffers allocated once, augmented [b ; W] matrices and a ones column so each z is one
`np.dot(..., out)`, ufuncs with positional `out`, constants as 0-d arrays (a Python float
costs a conversion on every call), elementwise chains run in contiguous buffers, no Python
work per neuron, and the loss computed every step as the engine does. After timing, the
floor's parameters must equal the engine's to `TOLERANCE` (and its losses too): that is
what proves the floor does the same maths, and a mismatch raises.

Timing: one warm-up of each, then `REPEATS` runs of the full iteration count, engine and
floor interleaved so drift hits both; the best (minimum) of each is reported. The engine's
runs include building the `Trainer` and `run`'s own set-up (copying parameters in, the
final full-data loss), as a request pays them. The origin's full `trace.trace` is timed
too. Targets (from the issue) are reported, never enforced.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine import examples
from app.engine.initializers import initialize
from app.engine.optimizers import new_state
from app.engine.params import Parameters, flat
from app.engine.spec import InitSpec, NetworkSpec, OptimizerSpec, validate
from app.engine.trace import trace
from app.engine.train import Progress, RunResult, Trainer

from .common import Report, clock

Array = NDArray[np.float64]

REPEATS = 5  # timed runs of each contender; the best counts
TOLERANCE = 1e-9  # largest allowed |floor − engine| of any parameter or loss
RATIO_TARGET = 1.3  # engine µs/it ÷ floor µs/it, from the issue
TRACE_TARGET_US = 100.0  # one full trace of the origin net, from the issue
TRACE_CALLS = 2_000  # trace calls per timed repeat
HEADERS = [
    "case",
    "iterations",
    "engine µs/it",
    "floor µs/it",
    "issue floor",
    "ratio",
    "target",
    "result",
]


class MismatchError(AssertionError):
    """The floor and the engine disagree: the benchmark would compare different maths."""


@dataclass(frozen=True)
class FloorRun:
    """What a floor computed: its final [b ; W] matrices and the loss before each step."""

    augmented: list[Array]  # (1 + fan_in, fan_out) per transition
    losses: Array  # (iterations,): loss on step i's batch, before its update


@dataclass(frozen=True)
class Case:
    """One network to train: spec, data, start, how long, and its hand-written floor."""

    name: str
    spec: NetworkSpec
    inputs: Array  # (observations, inputs)
    targets: Array  # (observations, outputs)
    params: Parameters  # the start, shared by engine and floor
    iterations: int
    floor: Callable[[Case], FloorRun]  # the hand-written loop
    issue_floor_us: float  # the floor the issue's author measured, µs per iteration


Floor = Callable[[Case], FloorRun]


class _Buffers:
    """Every array a floor needs, allocated once: the augmented layout of train.py."""

    def __init__(self, case: Case) -> None:
        rows = case.inputs.shape[0]
        sizes = case.spec.layers
        self.w = [t.augmented().copy() for t in case.params]  # [b ; W]: (1 + fan_in, fan_out)
        self.a_in = [np.hstack([np.ones((rows, 1)), case.inputs])] + [
            np.ones((rows, 1 + s)) for s in sizes[1:-1]
        ]  # (rows, 1 + fan_in); column 0 stays 1
        self.a_in_t = [a.T for a in self.a_in]  # (1 + fan_in, rows): for the gradients
        self.w_t = [w[1:].T for w in self.w]  # Wᵀ views, for δ·Wᵀ
        self.hidden = [a[:, 1:] for a in self.a_in[1:]]  # a of each hidden layer (a view)
        self.out = np.empty((rows, sizes[-1]))  # a of the output layer
        self.z = [np.empty((rows, s)) for s in sizes[1:]]  # (rows, fan_out)
        self.delta = [np.empty((rows, s)) for s in sizes[1:]]  # ∂loss/∂z, in place
        self.scratch = [np.empty((rows, s)) for s in sizes[1:]]  # f'(z) per layer
        self.grad = [np.empty_like(w) for w in self.w]  # ∂loss/∂[b ; W], then the step
        self.y = np.ascontiguousarray(case.targets)  # (rows, outputs)
        self.losses = np.empty(case.iterations)  # (iterations,)
        self.lr = np.array(-case.spec.optimizer.learning_rate)  # SGD: Δ = −lr·g


def _floor_origin(case: Case) -> FloorRun:
    """Train 2-3-3-2 sigmoid + sse + SGD by hand."""
    b = _Buffers(case)
    W1, W2, W3 = b.w
    A0, A1, A2 = b.a_in
    A0T, A1T, A2T = b.a_in_t
    _, W2T, W3T = b.w_t
    H1, H2 = b.hidden
    H3, Y, LR, losses = b.out, b.y, b.lr, b.losses
    Z1, Z2, Z3 = b.z
    D1, D2, D3 = b.delta
    S1, S2, S3 = b.scratch
    G1, G2, G3 = b.grad
    one, two = np.array(1.0), np.array(2.0)
    dot, neg, exp, add, sub = np.dot, np.negative, np.exp, np.add, np.subtract
    mul, rec, vdot, copy = np.multiply, np.reciprocal, np.vdot, np.copyto
    with np.errstate(over="ignore"):
        for i in range(case.iterations):
            dot(A0, W1, Z1)  # sigmoid in contiguous z (−z, exp, +1, 1/…), then into A1
            neg(Z1, Z1)
            exp(Z1, Z1)
            add(Z1, one, Z1)
            rec(Z1, Z1)
            copy(H1, Z1)
            dot(A1, W2, Z2)
            neg(Z2, Z2)
            exp(Z2, Z2)
            add(Z2, one, Z2)
            rec(Z2, Z2)
            copy(H2, Z2)
            dot(A2, W3, Z3)
            neg(Z3, Z3)
            exp(Z3, Z3)
            add(Z3, one, Z3)
            rec(Z3, H3)
            sub(H3, Y, D3)  # sse: Σ(a − y)², ∂/∂a = 2(a − y)
            losses[i] = vdot(D3, D3)
            mul(D3, two, D3)
            sub(one, H3, S3)  # δ = ∂loss/∂a · a(1 − a)
            mul(S3, H3, S3)
            mul(D3, S3, D3)
            dot(A2T, D3, G3)
            dot(D3, W3T, D2)
            sub(one, Z2, S2)  # z now holds a, contiguous
            mul(S2, Z2, S2)
            mul(D2, S2, D2)
            dot(A1T, D2, G2)
            dot(D2, W2T, D1)
            sub(one, Z1, S1)
            mul(S1, Z1, S1)
            mul(D1, S1, D1)
            dot(A0T, D1, G1)
            mul(G1, LR, G1)
            add(W1, G1, W1)
            mul(G2, LR, G2)
            add(W2, G2, W2)
            mul(G3, LR, G3)
            add(W3, G3, W3)
    return FloorRun(b.w, losses)


def _floor_circle(case: Case) -> FloorRun:
    """Train 2-8-8-8-1 tanh / sigmoid + binary cross-entropy + SGD by hand."""
    b = _Buffers(case)
    W1, W2, W3, W4 = b.w
    A0, A1, A2, A3 = b.a_in
    A0T, A1T, A2T, A3T = b.a_in_t
    _, W2T, W3T, W4T = b.w_t
    H1, H2, H3 = b.hidden
    H4, Y, LR, losses = b.out, b.y, b.lr, b.losses
    Z1, Z2, Z3, Z4 = b.z
    D1, D2, D3, D4 = b.delta
    S1, S2, S3, S4 = b.scratch
    G1, G2, G3, G4 = b.grad
    one, zero, cells = np.array(1.0), np.array(0.0), np.array(float(Y.size))
    n_cells = float(Y.size)
    sign = 1.0 - 2.0 * Y  # (rows, 1): BCE cell = softplus(z) if y = 0, softplus(−z) if y = 1
    P = np.empty_like(Y)  # (rows, 1): scratch of the loss
    dot, tanh, neg, exp, add, sub = np.dot, np.tanh, np.negative, np.exp, np.add, np.subtract
    mul, rec, div, copy = np.multiply, np.reciprocal, np.divide, np.copyto
    absolute, log1p, relu, total = np.absolute, np.log1p, np.fmax, np.add.reduce
    with np.errstate(over="ignore"):
        for i in range(case.iterations):
            dot(A0, W1, Z1)  # tanh in contiguous z, then into A1; z now holds a
            tanh(Z1, Z1)
            copy(H1, Z1)
            dot(A1, W2, Z2)
            tanh(Z2, Z2)
            copy(H2, Z2)
            dot(A2, W3, Z3)
            tanh(Z3, Z3)
            copy(H3, Z3)
            dot(A3, W4, Z4)
            mul(Z4, sign, S4)  # BCE from z: softplus(x) = max(x, 0) + log1p(e^−|x|)
            absolute(S4, P)
            neg(P, P)
            exp(P, P)
            log1p(P, P)
            relu(S4, zero, S4)
            add(S4, P, S4)
            losses[i] = total(S4, None) / n_cells
            neg(Z4, H4)
            exp(H4, H4)
            add(H4, one, H4)
            rec(H4, H4)
            sub(H4, Y, D4)  # sigmoid + BCE: δ = (a − y) / cells
            div(D4, cells, D4)
            dot(A3T, D4, G4)
            dot(D4, W4T, D3)
            mul(Z3, Z3, S3)  # δ = ∂loss/∂a · (1 − a²)
            sub(one, S3, S3)
            mul(D3, S3, D3)
            dot(A2T, D3, G3)
            dot(D3, W3T, D2)
            mul(Z2, Z2, S2)
            sub(one, S2, S2)
            mul(D2, S2, D2)
            dot(A1T, D2, G2)
            dot(D2, W2T, D1)
            mul(Z1, Z1, S1)
            sub(one, S1, S1)
            mul(D1, S1, D1)
            dot(A0T, D1, G1)
            mul(G1, LR, G1)
            add(W1, G1, W1)
            mul(G2, LR, G2)
            add(W2, G2, W2)
            mul(G3, LR, G3)
            add(W3, G3, W3)
            mul(G4, LR, G4)
            add(W4, G4, W4)
    return FloorRun(b.w, losses)


def _floor_digits(case: Case) -> FloorRun:
    """Train 784-128-64-10 relu / softmax + cross-entropy + SGD by hand (one-hot targets)."""
    b = _Buffers(case)
    W1, W2, W3 = b.w
    A0, A1, A2 = b.a_in
    A0T, A1T, A2T = b.a_in_t
    _, W2T, W3T = b.w_t
    H1, H2 = b.hidden
    H3, Y, LR, losses = b.out, b.y, b.lr, b.losses
    Z1, Z2, Z3 = b.z
    D1, D2, D3 = b.delta
    S1, S2, _ = b.scratch
    G1, G2, G3 = b.grad
    zero, rows, n_rows = np.array(0.0), np.array(float(Y.shape[0])), float(Y.shape[0])
    peak = np.empty((Y.shape[0], 1))  # (rows, 1): max z per row, then Σ exp
    dot, relu, exp, sub, mul = np.dot, np.maximum, np.exp, np.subtract, np.multiply
    div, add, log, vdot, copy = np.divide, np.add, np.log, np.vdot, np.copyto
    top, total = np.maximum.reduce, np.add.reduce
    for i in range(case.iterations):
        dot(A0, W1, Z1)  # relu in contiguous z, then into A1; z now holds a
        relu(Z1, zero, out=Z1)  # np.maximum: out by keyword (positional is deprecated)
        copy(H1, Z1)
        dot(A1, W2, Z2)
        relu(Z2, zero, out=Z2)
        copy(H2, Z2)
        dot(A2, W3, Z3)
        top(Z3, axis=1, out=peak, keepdims=True)  # softmax with max-subtraction
        sub(Z3, peak, Z3)  # z − max: kept for the loss
        exp(Z3, H3)
        total(H3, axis=1, out=peak, keepdims=True)
        div(H3, peak, H3)
        log(peak, peak)  # CE = mean over rows of log Σe^(z−max) − y·(z−max)
        losses[i] = (total(peak, None) - vdot(Y, Z3)) / n_rows
        sub(H3, Y, D3)  # softmax + CE: δ = (a − y) / rows
        div(D3, rows, D3)
        dot(A2T, D3, G3)
        dot(D3, W3T, D2)
        np.greater(Z2, zero, out=S2, casting="unsafe")  # relu′ = 1 where a > 0 (⇔ z > 0)
        mul(D2, S2, D2)
        dot(A1T, D2, G2)
        dot(D2, W2T, D1)
        np.greater(Z1, zero, out=S1, casting="unsafe")
        mul(D1, S1, D1)
        dot(A0T, D1, G1)
        mul(G1, LR, G1)
        add(W1, G1, W1)
        mul(G2, LR, G2)
        add(W2, G2, W2)
        mul(G3, LR, G3)
        add(W3, G3, W3)
    return FloorRun(b.w, losses)


def _case(
    name: str,
    spec: NetworkSpec,
    data: tuple[Array, Array],
    iterations: int,
    floor: Floor,
    issue: float,
) -> Case:
    """Return a case with its spec validated and its start drawn from spec.init."""
    spec = validate(spec)
    return Case(name, spec, *data, initialize(spec), iterations, floor, issue)


def circle_data() -> tuple[Array, Array]:
    """Return 500 points uniform in [−6, 6]², labelled 1 inside the radius-3 circle."""
    points = np.random.default_rng(0).uniform(-6.0, 6.0, size=(500, 2))  # (500, 2)
    inside = np.hypot(points[:, 0], points[:, 1]) < 3.0  # (500,)
    return points, inside.astype(np.float64)[:, None]  # (500, 2), (500, 1)


def digits_data() -> tuple[Array, Array]:
    """Return 256 random 784-pixel rows and random one-hot targets over 10 classes."""
    rng = np.random.default_rng(0)
    pixels = rng.random((256, 784))  # (256, 784)
    return pixels, np.eye(10)[rng.integers(0, 10, size=256)]  # (256, 784), (256, 10)


def cases() -> list[Case]:
    """Return the three cases of the issue, with seeded data."""
    ex = examples.build("origin")
    origin = Case(
        "origin 2-3-3-2", ex.spec, ex.inputs, ex.targets, ex.parameters, 10_000, _floor_origin, 11.0
    )
    circle = NetworkSpec(
        layers=(2, 8, 8, 8, 1),
        hidden_activation="tanh",
        output_activation="sigmoid",
        loss="binary_cross_entropy",
        init=InitSpec(seed=0),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.03),
    )
    digits = NetworkSpec(
        layers=(784, 128, 64, 10),
        hidden_activation="relu",
        output_activation="softmax",
        loss="cross_entropy",
        init=InitSpec(scheme="he_normal", seed=0),
        optimizer=OptimizerSpec(name="sgd", learning_rate=0.01),
    )
    return [
        origin,
        _case("circle 2-8-8-8-1", circle, circle_data(), 2_000, _floor_circle, 50.0),
        _case("digits 784-128-64-10", digits, digits_data(), 200, _floor_digits, 1_500.0),
    ]


def run_engine(case: Case) -> RunResult:
    """Train the case with the engine's fast path, from its start."""
    trainer = Trainer(case.spec, case.inputs, case.targets)
    state = new_state(case.spec.optimizer, flat(case.params))
    return trainer.run(case.params, state, Progress(), case.iterations)


def verify(case: Case, engine: RunResult, floor: FloorRun) -> dict[str, float]:
    """Return the largest floor − engine differences; raise MismatchError above TOLERANCE."""
    params = max(
        float(np.max(np.abs(f - t.augmented())))
        for f, t in zip(floor.augmented, engine.parameters, strict=True)
    )
    # The engine records the loss before step s at s (s ≥ 1) and the final loss last.
    engine_losses = np.array(engine.history_losses[:-1])
    if engine.iterations_run != case.iterations or engine_losses.shape != floor.losses[1:].shape:
        raise MismatchError(
            f"{case.name}: engine ran {engine.iterations_run} iterations, "
            f"recorded {engine_losses.size + 1} losses"
        )
    losses = float(np.max(np.abs(floor.losses[1:] - engine_losses)))
    if not params <= TOLERANCE or not losses <= TOLERANCE:
        raise MismatchError(
            f"{case.name}: floor differs from engine by {params:.3g} in the "
            f"parameters, {losses:.3g} in the loss (limit {TOLERANCE:g})"
        )
    return {"max_abs_parameter_difference": params, "max_abs_loss_difference": losses}


def time_case(case: Case) -> dict[str, Any]:
    """Time engine and floor interleaved; verify them; return every number."""
    engine_fn, floor_fn = partial(run_engine, case), partial(case.floor, case)
    engine_fn()  # warm-up: caches, BLAS threads, first-call paths
    floor_fn()
    engine_s: list[float] = []
    floor_s: list[float] = []
    for _ in range(REPEATS):
        seconds, engine = clock(engine_fn)
        engine_s.append(seconds)
        seconds, floor = clock(floor_fn)
        floor_s.append(seconds)
    diffs = verify(case, engine, floor)
    per_it = 1e6 / case.iterations
    engine_us, floor_us = min(engine_s) * per_it, min(floor_s) * per_it
    return {
        "case": case.name,
        "layers": list(case.spec.layers),
        "activations": list(case.spec.transition_activations),
        "loss": case.spec.loss,
        "observations": int(case.inputs.shape[0]),
        "iterations": case.iterations,
        "engine_us_per_iteration": engine_us,
        "floor_us_per_iteration": floor_us,
        "ratio": engine_us / floor_us,
        "ratio_target": RATIO_TARGET,
        "passed": engine_us / floor_us <= RATIO_TARGET,
        "issue_floor_us_per_iteration": case.issue_floor_us,
        "engine_repeats_us_per_iteration": [s * per_it for s in engine_s],
        "floor_repeats_us_per_iteration": [s * per_it for s in floor_s],
        "engine_median_us_per_iteration": statistics.median(engine_s) * per_it,
        "floor_median_us_per_iteration": statistics.median(floor_s) * per_it,
        "final_loss": engine.loss,
        **diffs,
    }


def time_trace(calls: int = TRACE_CALLS) -> dict[str, Any]:
    """Time trace.trace of the origin net: best of REPEATS runs of `calls` calls."""
    ex = examples.build("origin")
    state = new_state(ex.spec.optimizer, flat(ex.parameters))

    def many() -> None:
        for _ in range(calls):
            trace(ex.spec, ex.parameters, ex.inputs, ex.targets, state)

    many()  # warm-up
    runs = [clock(many)[0] * 1e6 / calls for _ in range(REPEATS)]
    return {
        "case": "origin trace",
        "calls": calls,
        "us_per_call": min(runs),
        "repeats_us_per_call": runs,
        "target_us": TRACE_TARGET_US,
        "passed": min(runs) <= TRACE_TARGET_US,
    }


def _us(value: float) -> str:
    return f"{value:,.1f}"


def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _row(r: dict[str, Any]) -> list[str]:
    """Return one case's table row."""
    engine, floor = r["engine_us_per_iteration"], r["floor_us_per_iteration"]
    issue, ratio = r["issue_floor_us_per_iteration"], r["ratio"]
    return [
        r["case"],
        f"{r['iterations']:,}",
        _us(engine),
        _us(floor),
        _us(issue),
        f"{ratio:.2f}",
        f"≤ {RATIO_TARGET}",
        _verdict(r["passed"]),
    ]


def run() -> Report:
    """Run every case and the trace; return the table and the data."""
    results = [time_case(c) for c in cases()]
    t = time_trace()
    rows = [_row(r) for r in results]
    rows.append(
        [
            t["case"],
            f"{t['calls']:,} calls",
            _us(t["us_per_call"]),
            "—",
            "—",
            "—",
            f"≤ {TRACE_TARGET_US:g} µs",
            _verdict(t["passed"]),
        ]
    )
    notes = [
        f"µs per iteration (trace: per call), best of {REPEATS} interleaved runs; "
        "ratio = engine / floor.",
        "issue floor = the floor the issue's author measured on this machine, µs per iteration.",
        f"The floors' parameters and losses match the engine's within {TOLERANCE:g}.",
    ]
    data = {"cases": results, "trace": t, "repeats": REPEATS, "tolerance": TOLERANCE}
    return Report(
        "engine", "Engine fast path vs hand-written NumPy floor", HEADERS, rows, data, notes
    )
