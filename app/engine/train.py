"""The fast path: many training steps with no trace kept, as fast as NumPy allows.

`Trainer` preallocates every buffer once and runs each step as a short, fixed list of
in-place NumPy calls. Each transition's parameters live in one augmented matrix (biases as
row 0, the origin's layout) and each hidden activation in a buffer whose column 0 holds
ones, so z = [1 | a]·[b ; W] is one matmul and the gradient of weights and biases together
is one matmul too. No Python-level work is done per neuron.

Batching: full batch by default. With `batch_size` < observations, each epoch visits the
rows in the order `default_rng([shuffle_seed, epoch]).permutation(n)`, so the order
depends only on the seed and the epoch — nothing to persist, and a trace can show the next
batch without advancing any generator. The last batch of an epoch may be smaller.

Divergence: the loss is computed every step anyway; if it becomes non-finite, the run
restores a checkpoint (taken every `CHECKPOINT_EVERY` steps) and replays step by step,
checking the parameters after every update, to stop at the last finite parameters and name
the step where the first non-finite value appeared. `diagnostics.find_nonfinite` then names
the layer and quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from .activations import ACTIVATIONS
from .deadlines import Clock
from .losses import LOSSES
from .optimizers import (
    OPTIMIZERS,
    REGULARIZERS,
    OptimizerState,
    fit_state,
    penalty_active,
    prepare,
)
from .params import Parameters, Transition
from .spec import NetworkSpec

Array = NDArray[np.float64]
Rows = NDArray[np.intp]  # row indices of a mini-batch
CHECKPOINT_EVERY = 64  # steps between divergence checkpoints


@dataclass(frozen=True)
class Progress:
    """Where training stands: updates taken, passes completed, position in this epoch."""

    step: int = 0  # parameter updates (one per batch)
    epoch: int = 0  # completed passes over the data
    cursor: int = 0  # rows of the current epoch already used


def batch_size_for(spec: NetworkSpec, n: int) -> int:
    """Return the rows per update: the batch size, or n for full batch."""
    return n if spec.batch_size is None else min(spec.batch_size, n)


def next_rows(spec: NetworkSpec, n: int, progress: Progress) -> Rows | None:
    """Return the row indices of the next update (None = all rows, in order)."""
    size = batch_size_for(spec, n)
    if size >= n:
        return None
    return epoch_order(spec, n, progress.epoch)[progress.cursor : progress.cursor + size]


def advance(spec: NetworkSpec, n: int, progress: Progress) -> Progress:
    """Return the progress after one more update."""
    size = batch_size_for(spec, n)
    cursor = progress.cursor + size
    if cursor >= n:
        return Progress(progress.step + 1, progress.epoch + 1, 0)
    return Progress(progress.step + 1, progress.epoch, cursor)


@dataclass
class RunResult:
    """What a run of the fast path did."""

    parameters: Parameters
    state: OptimizerState
    progress: Progress
    iterations_run: int
    truncated: bool  # stopped by the deadline before `iterations`
    loss: float  # over all the data, after the last update (may be ±inf if diverged)
    history_steps: list[int] = field(default_factory=list)  # steps with a full-data loss
    history_losses: list[float] = field(default_factory=list)
    diverged_at: int | None = None  # the step whose values first became non-finite


class Trainer:
    """Preallocated buffers for one spec and one dataset; `run` trains in place."""

    def __init__(self, spec: NetworkSpec, inputs: Array, targets: Array) -> None:
        self.spec = spec
        self.n = inputs.shape[0]
        self.size = batch_size_for(spec, self.n)
        self.forwards = [ACTIVATIONS[name].forward for name in spec.transition_activations]
        self.backwards = [ACTIVATIONS[name].backward for name in spec.transition_activations]
        self.loss = LOSSES[spec.loss]
        self.combined = self.loss.combined_delta is not None
        self.x_aug = np.hstack([np.ones((self.n, 1)), inputs])  # (n, 1 + inputs)
        self.y = np.ascontiguousarray(targets, dtype=np.float64)  # (n, outputs)
        shapes = spec.shapes()
        self.aug = [np.empty((i + 1, o)) for i, o in shapes]  # [b ; W]: (1 + fan_in, fan_out)
        self.grads = [np.empty((i + 1, o)) for i, o in shapes]  # ∂loss/∂[b ; W]
        self.steps = [np.empty((i + 1, o)) for i, o in shapes]  # the optimiser's Δ
        self.w_t = [w[1:].T for w in self.aug]  # Wᵀ views, for δ·Wᵀ
        self.full = _Views(self, self.n, self.x_aug, self.y)
        self._batch_views: dict[int, _Views] = {}
        self._floats = 3 * sum(w.size for w in self.aug) + self.full.floats()
        self.reg = REGULARIZERS[spec.regularization.kind]
        self.reg_on = penalty_active(spec.regularization)
        self.opt_step = OPTIMIZERS[spec.optimizer.name].step
        self.hyper = prepare(spec.optimizer)
        self.update_plan = list(zip(self.aug, self.grads, self.steps, strict=True))
        # The parameters the buffers hold after the last run, and their loss over all the
        # data: `self.full` holds that forward pass (see `run`).
        self._holds: Parameters | None = None
        self._holds_loss = math.nan

    def floats(self) -> int:
        """Return about how many float64 values the buffers hold (the memory ÷ 8)."""
        return self._floats

    def views(self, rows: int) -> _Views:
        """Return the buffers for a mini-batch of `rows` observations (made once)."""
        if rows not in self._batch_views:
            x = np.ones((rows, self.x_aug.shape[1]))  # (rows, 1 + inputs)
            y = np.empty((rows, self.y.shape[1]))  # (rows, outputs)
            self._batch_views[rows] = _Views(self, rows, x, y)
            self._floats += self._batch_views[rows].floats()
        return self._batch_views[rows]

    def _forward(self, v: _Views) -> Array:
        """Run the forward pass through the views' buffers; return the output a."""
        dot, copyto = np.dot, np.copyto
        for a_in, w, z, act, fwd, feed in v.forward_plan:
            dot(a_in, w, z)  # z = [1 | a]·[b ; W]: (rows, fan_out)
            fwd(z, act)  # into a contiguous buffer: ufuncs on strided views cost 2–5×
            if feed is not None:
                copyto(feed, act)  # the next layer's input, beside its column of ones
        return v.a[-1]

    def _step(self, v: _Views, state: OptimizerState, computed: float | None = None) -> float:
        """Take one update on the rows loaded in `v`; return the batch loss before it
        (`computed`: `v` already holds the forward pass and the loss's gradient, and this
        is the loss)."""
        dot, copyto = np.dot, np.copyto
        if computed is None:
            for a_in, w, z, act, fwd, feed in v.forward_plan:  # as _forward, inlined
                dot(a_in, w, z)
                fwd(z, act)
                if feed is not None:
                    copyto(feed, act)
            value = self.loss.fast(v.z[-1], v.a[-1], v.y, v.g[-1])
        else:
            value = computed
        for z, act, g, d, bwd, a_in_t, grad, w_t, g_below in v.backward_plan:
            if bwd is not None:
                bwd(z, act, g, d)  # δ = ∂loss/∂a · ∂a/∂z (None: the loss wrote δ)
            dot(a_in_t, d, grad)  # ∂loss/∂[b ; W] = [1 | a]ᵀ·δ
            if g_below is not None:
                dot(d, w_t, g_below)  # ∂loss/∂a of the layer below = δ·Wᵀ
        hyper, step_fn, add = self.hyper, self.opt_step, np.add
        if self.reg_on:
            rate = self.spec.regularization.rate
            for w, grad, _ in self.update_plan:
                grad[1:] += self.reg.gradient(rate, w[1:])  # never the bias row
        for l, (w, grad, step) in enumerate(self.update_plan):
            add(w, step_fn(hyper, state, l, grad, step), w)
        state.t += 1
        return value

    def _load(self, rows: Rows) -> _Views:
        """Copy the batch's rows into its buffers."""
        v = self.views(rows.shape[0])
        np.take(self.x_aug, rows, axis=0, out=v.a_in[0])
        np.take(self.y, rows, axis=0, out=v.y)
        return v

    def _all_loss(self) -> float:
        """Return the loss over all the data for the current parameters (callers run it
        under `np.errstate(all="ignore")`)."""
        a = self._forward(self.full)
        return self.loss.fast(self.full.z[-1], a, self.y, self.full.g[-1])

    def run(
        self,
        params: Parameters,
        state: OptimizerState,
        progress: Progress,
        iterations: int,
        deadline: float | None = None,
    ) -> RunResult:
        """Train up to `iterations` updates (stopping at `deadline`, a perf_counter time).

        A run ends with the forward pass over all the data (the loss it reports), so when
        the next run starts from the very parameters this one returned — a session stepped
        again — the buffers already hold them and that pass: neither is computed again.
        """
        primed = params is self._holds  # (None while a run is under way)
        self._holds = None
        if not primed:
            for w, t in zip(self.aug, params, strict=True):
                w[0] = t.biases
                w[1:] = t.weights
        aug_state = _augment_state(self.spec, state, self.aug)
        start = progress.step
        history: dict[int, float] = {}  # step -> loss over all the data after it
        good = _Checkpoint.take(self.aug, aug_state, progress)  # last state known finite
        diverged_at: int | None = None
        with np.errstate(all="ignore"):
            ended = self._loop(aug_state, progress, iterations, deadline, history, good,
                               self._holds_loss if primed else None)
            if isinstance(ended, _Checkpoint):  # non-finite: find where, from `good`
                progress, diverged_at = self._replay(ended, aug_state)
                final = self._all_loss()
            else:
                progress, final = ended
        if progress.step > start or not history:
            history[progress.step] = final
        points = [(s, v) for s, v in sorted(history.items())
                  if start < s <= progress.step and math.isfinite(v)]
        new_params = tuple(Transition(w[1:].copy(), w[0].copy()) for w in self.aug)
        self._holds, self._holds_loss = new_params, final  # `self.full` holds their pass
        run = progress.step - start
        return RunResult(new_params, _split_state(aug_state), progress, run,
                         diverged_at is None and run < iterations, final,
                         [s for s, _ in points], [v for _, v in points], diverged_at)

    def _loop(self, state: OptimizerState, progress: Progress, iterations: int,
              deadline: float | None, history: dict[int, float], good: _Checkpoint,
              computed: float | None = None) -> tuple[Progress, float] | _Checkpoint:
        """Run the steps; return the progress and the loss over all the data after them,
        or the checkpoint to replay from on trouble (called under np.errstate).
        `computed`: the full-data loss whose forward pass `self.full` holds already."""
        step, epoch, cursor = progress.step, progress.epoch, progress.cursor
        full = self.size >= self.n
        order = None if full else epoch_order(self.spec, self.n, epoch)
        clock = Clock(deadline, self.n / self.size)
        for done in range(iterations):
            if done and clock.due(done):
                break
            if done and not done % CHECKPOINT_EVERY:
                here = Progress(step, epoch, cursor)
                if not _finite(self.aug):
                    return good._with_limit(here)
                good = _Checkpoint.take(self.aug, state, here)
            if full:
                value = self._step(self.full, state, computed)
                computed = None
                history[step] = value  # the loss before this update = after the last one
            else:
                assert order is not None
                value = self._step(self._load(order[cursor : cursor + self.size]), state)
            if not math.isfinite(value):
                return good._with_limit(Progress(step, epoch, cursor))
            step, cursor = step + 1, cursor + self.size
            if cursor >= self.n:
                epoch, cursor = epoch + 1, 0
                if not full:
                    history[step] = self._all_loss()
                    order = epoch_order(self.spec, self.n, epoch)
        here = Progress(step, epoch, cursor)
        final = self._all_loss()
        if not (math.isfinite(final) and _finite(self.aug)):
            return good._with_limit(here)
        return here, final

    def _replay(self, good: _Checkpoint, state: OptimizerState) -> tuple[Progress, int]:
        """Replay from a finite checkpoint, checking every step; stop before non-finite.

        Leaves the last finite parameters in place (and their optimiser state in `state`);
        returns their progress and the number of the step that met the first non-finite
        value (one more than the progress's step: that step was not taken).
        """
        good.restore(self.aug, state)
        progress = good.progress
        while progress.step < good.limit.step:
            before = _Checkpoint.take(self.aug, state, progress)
            rows = next_rows(self.spec, self.n, progress)
            value = self._step(self.full if rows is None else self._load(rows), state)
            if not (math.isfinite(value) and _finite(self.aug)):
                before.restore(self.aug, state)
                return progress, progress.step + 1
            progress = advance(self.spec, self.n, progress)
        return progress, progress.step + 1


class _Views:
    """Every buffer of one forward/backward pass over `rows` observations, and the plans
    (per-layer tuples of those buffers) the step loops over without indexing."""

    def __init__(self, trainer: Trainer, rows: int, x_aug: Array, y: Array) -> None:
        sizes = trainer.spec.layers
        last = len(sizes) - 2
        hidden = [np.ones((rows, s + 1)) for s in sizes[1:-1]]  # (rows, 1 + neurons); col 0 = 1
        self.a_in = [x_aug, *hidden]  # the augmented input of each transition
        self.a_in_t = [m.T for m in self.a_in]
        self.a = [np.empty((rows, s)) for s in sizes[1:]]  # a per layer, contiguous
        self.z = [np.empty((rows, s)) for s in sizes[1:]]  # (rows, fan_out)
        self.g = [np.empty((rows, s)) for s in sizes[1:]]  # ∂loss/∂a per layer
        self.delta = [np.empty((rows, s)) for s in sizes[1:]]  # ∂loss/∂z per layer
        if trainer.combined:
            self.delta[-1] = self.g[-1]  # the loss writes δ straight into g
        self.y = y
        self.forward_plan = [
            (self.a_in[l], trainer.aug[l], self.z[l], self.a[l], trainer.forwards[l],
             hidden[l][:, 1:] if l < last else None)
            for l in range(last + 1)
        ]
        self.backward_plan = [
            (self.z[l], self.a[l], self.g[l], self.delta[l],
             None if l == last and trainer.combined else trainer.backwards[l],
             self.a_in_t[l], trainer.grads[l], trainer.w_t[l],
             self.g[l - 1] if l else None)
            for l in range(last, -1, -1)
        ]

    def floats(self) -> int:
        """Return how many float64 values these buffers hold."""
        return sum(m.size for m in (*self.a_in, *self.a, *self.z, *self.g, *self.delta, self.y))


def epoch_order(spec: NetworkSpec, n: int, epoch: int) -> Rows:
    """Return the order in which epoch `epoch` visits the rows."""
    return np.random.default_rng([spec.effective_shuffle_seed, epoch]).permutation(n)


def _augment_state(spec: NetworkSpec, state: OptimizerState, aug: list[Array]) -> OptimizerState:
    """Return optimiser state shaped like the augmented matrices ([b ; W] per transition)."""
    if not OPTIMIZERS[spec.optimizer.name].slots:  # plain SGD: nothing to shape
        return OptimizerState({}, state.t)
    arrays = [a for w in aug for a in (w[1:], w[0])]
    fitted = fit_state(spec.optimizer, state, arrays)
    slots = {
        name: [np.vstack([arrs[2 * l + 1][None, :], arrs[2 * l]]) for l in range(len(aug))]
        for name, arrs in fitted.slots.items()
    }
    return OptimizerState(slots, fitted.t)


def _split_state(state: OptimizerState) -> OptimizerState:
    """Return augmented optimiser state split back into [W0, b0, W1, b1, …]."""
    slots = {
        name: [part for m in arrs for part in (m[1:].copy(), m[0].copy())]
        for name, arrs in state.slots.items()
    }
    return OptimizerState(slots, state.t)


def _finite(aug: list[Array]) -> bool:
    """Return True when every parameter is finite."""
    return all(bool(np.isfinite(w).all()) for w in aug)


@dataclass(frozen=True)
class _Checkpoint:
    """A copy of the training state to replay from, and how far the failed run got."""

    aug: list[Array]
    state: OptimizerState
    progress: Progress
    limit: Progress

    @classmethod
    def take(cls, aug: list[Array], state: OptimizerState, progress: Progress) -> _Checkpoint:
        """Copy the parameters and optimiser state."""
        return cls([w.copy() for w in aug], state.copy(), progress, progress)

    def _with_limit(self, limit: Progress) -> _Checkpoint:
        return replace(self, limit=limit)

    def restore(self, aug: list[Array], state: OptimizerState) -> None:
        """Copy the checkpoint back into the live buffers and state."""
        for w, saved in zip(aug, self.aug, strict=True):
            np.copyto(w, saved)
        saved_state = self.state.copy()
        state.slots, state.t = saved_state.slots, saved_state.t
