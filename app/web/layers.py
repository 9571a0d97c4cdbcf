"""The grids of each layer and each update, built only when a rendered block reads them.

A page shows up to eight grids per layer (Matrices panel, walkthrough, phase stepper) and
three or more per update; a fragment often shows a few of them (the stepper shows the
layer just computed; a frame of play shows none). Each grid is therefore a cached
property: built on first use, once per request however many blocks show it.
"""

from __future__ import annotations

from functools import cached_property

from app.engine.activations import ACTIVATIONS
from app.engine.losses import LOSSES
from app.engine.trace import ForwardLayer, Trace, UpdateLayer, with_ones
from app.sessions.costs import MATRIX_CELLS
from app.sessions.model import Session

from . import matrices
from .format import sub, sup
from .preferences import Prefs

PRODUCT_ROWS = 8  # the walkthrough lays out the question's table up to this many rows


class LayerMatrices:
    """The matrices of one layer l (1…L) for the Matrices panel and the walkthrough."""

    def __init__(self, s: Session, tr: Trace, f: ForwardLayer, v: Prefs, lit: set[str],
                 observations: list[int]) -> None:
        self.layer = l = f.layer
        self.activation = f.activation
        self._s, self._f, self._b, self._v = s, f, tr.backward_for(l), v
        self._lit, self._obs = lit, observations
        self._loss = "ΣC" if s.spec.loss == "sse" else "C"
        act = ACTIVATIONS[f.activation]
        self.combined = self._b.combined
        self.formulas = {"a": act.formula, "da_dz": act.derivative_formula,
                         "dloss_da": LOSSES[s.spec.loss].gradient_formula}

    def _rows(self, key: str, symbol: str, m: matrices.Array, caption: str,
              title: str | None = None) -> matrices.Grid:
        """Return an (observations × neurons) grid of this layer."""
        v = self._v
        return matrices.activation_grid(key, symbol, self.layer, m, v.decimals, caption,
                                        show_all=v.show_all, highlight=key in self._lit,
                                        observations=self._obs, title=title)

    @cached_property
    def z(self) -> matrices.Grid:
        return self._rows(f"z-{self.layer}", "n", self._f.z, "pre-activation n = a·w + b")

    @cached_property
    def a(self) -> matrices.Grid:
        return self._rows(f"a-{self.layer}", "a", self._f.a,
                          f"activation {self.activation}(n)")

    @cached_property
    def weights(self) -> matrices.Grid:
        l, v = self.layer, self._v
        t = self._s.parameters[l - 1]
        return matrices.weight_grid(f"w-{l - 1}", "w", l - 1, t.weights,
                                    t.biases if v.augmented else None, v.decimals,
                                    "weights" + (" (bias row on top)" if v.augmented else ""),
                                    transpose=v.transpose)

    def _grad(self, transpose: bool) -> matrices.Grid:
        l, v, b = self.layer, self._v, self._b
        return matrices.weight_grid(f"grad-{l}", "∂" + self._loss + "/∂", l - 1,
                                    b.grad_weights, b.grad_biases if v.augmented else None,
                                    v.decimals, f"∂{self._loss}/∂w{sup(l - 1)}",
                                    transpose=transpose, highlight=f"grad-{l}" in self._lit)

    @cached_property
    def grad(self) -> matrices.Grid:
        return self._grad(self._v.transpose)

    @cached_property
    def grad_table(self) -> matrices.Grid:
        """The gradient in the question's orientation (its table ignores the transpose)."""
        return self._grad(False) if self._v.transpose else self.grad

    @cached_property
    def dloss_da(self) -> matrices.Grid:
        return self._rows(f"dloss_da-{self.layer}", f"∂{self._loss}/∂a", self._b.dloss_da,
                          "how the loss changes with a")

    @cached_property
    def da_dz(self) -> matrices.Grid | None:
        if self._b.da_dz is None:
            return None
        l = self.layer
        return self._rows(f"da_dz-{l}", "∂a/∂n", self._b.da_dz,
                          self.formulas["da_dz"], title=f"∂a{sup(l)}/∂n{sup(l)}")

    @cached_property
    def delta(self) -> matrices.Grid:
        return self._rows(f"delta-{self.layer}", "δ", self._b.delta, "δ = ∂C/∂n")

    @cached_property
    def prev_aug_t(self) -> matrices.Grid | None:
        """[1 | a^(l−1)]ᵀ for the question's table; None when it would be too large (more
        than PRODUCT_ROWS observations, or more cells than a matrix shows)."""
        obs, l = self._obs, self.layer
        fan_in, fan_out = self._f.input.shape[1], self._f.z.shape[1]
        if (len(obs) > PRODUCT_ROWS or (fan_in + 1) * len(obs) > MATRIX_CELLS
                or fan_out > matrices.MATRIX_COLUMNS):
            return None  # the table would be cut short: the gradient is shown alone
        above = [f"{sub(o)}a{sup(l - 1)}" for o in obs]  # column c's observation and layer
        names = ["1"] * len(obs) + [a + sub(i) for i in range(fan_in) for a in above]
        return matrices.grid(
            f"prevT-{l}", f"[1 | a{sup(l - 1)}]ᵀ", "previous activation, with ones, "
            "transposed", with_ones(self._f.input).T, self._v.decimals,
            row_labels=["1"] + [f"a{sup(l - 1)}{sub(i)}" for i in range(fan_in)],
            col_labels=[f"obs {o}" for o in obs], namer=lambda _: names, show_all=True)


class UpdateGrids:
    """One transition's update: the gradient received, the step, the new weights, state."""

    def __init__(self, tr: Trace, u: UpdateLayer, v: Prefs) -> None:
        self.transition = u.transition
        self._tr, self._u, self._v = tr, u, v

    def _grid(self, key: str, symbol: str, w: matrices.Array, b: matrices.Array,
              caption: str, highlight: bool = False) -> matrices.Grid:
        v = self._v
        return matrices.weight_grid(key, symbol, self.transition, w,
                                    b if v.augmented else None, v.decimals, caption,
                                    transpose=v.transpose, highlight=highlight)

    @cached_property
    def gradient(self) -> matrices.Grid:
        g = self._u.gradient
        return self._grid(f"ug-{self.transition}", "g of ", g.weights, g.biases,
                          "gradient received (loss + penalty)")

    @cached_property
    def step(self) -> matrices.Grid:
        d = self._u.step
        return self._grid(f"us-{self.transition}", "Δ", d.weights, d.biases, "the step taken")

    @cached_property
    def new(self) -> matrices.Grid:
        n = self._u.new
        return self._grid(f"un-{self.transition}", "w", n.weights, n.biases, "new weights",
                          highlight=True)

    @cached_property
    def slots(self) -> list[matrices.Grid]:
        l = self.transition
        return [self._grid(f"slot-{name}-{l}", name, arrays[2 * l], arrays[2 * l + 1],
                           f"optimiser state {name} after the step")
                for name, arrays in self._tr.state_after.slots.items()]


def layer_matrices(s: Session, tr: Trace, v: Prefs, lit: set[str],
                   observations: list[int]) -> list[LayerMatrices]:
    """Return every layer's grids (each built when first read)."""
    return [LayerMatrices(s, tr, f, v, lit, observations) for f in tr.forward]


def update_grids(tr: Trace, v: Prefs) -> list[UpdateGrids]:
    """Return every transition's update grids (each built when first read)."""
    return [UpdateGrids(tr, u, v) for u in tr.update]
