"""Build what the templates render: one context per session page, from one trace.

The web layer never recomputes maths: every number comes from the session service's
trace, history and diagnostics; this module only arranges them (grids, diagram, curve)
according to the viewer's preferences (`View`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine import examples
from app.engine.activations import ACTIVATIONS
from app.engine.datasets import DATASETS, FEATURES, RADIUS
from app.engine.diagnostics import SYMMETRY_EXPLANATION, activity, gradient_norms, symmetry_groups
from app.engine.initializers import DESCRIPTIONS as INIT_DESCRIPTIONS
from app.engine.initializers import INITIALIZERS
from app.engine.losses import LOSSES
from app.engine.maps import input_maps, neuron_maps
from app.engine.optimizers import OPTIMIZERS, REGULARIZERS
from app.engine.params import parameters_equal
from app.engine.phases import StepperView, view
from app.engine.trace import Trace, with_ones
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import images, matrices, recipes, svg
from .format import num, sub, sup

Array = NDArray[np.float64]
GRADCHECK_AUTO = 20_000  # parameters × rows this small get the gradient check on every render
PRODUCT_ROWS = 8  # the walkthrough lays out the question's table up to this many rows
CURVE_POINTS = 400  # the loss curve draws at most this many points (extremes kept)


@dataclass(frozen=True)
class View:
    """The viewer's display preferences (per tab, sent with every request)."""

    decimals: int = 7
    augmented: bool = True
    transpose: bool = False
    observation: int = 0
    log: bool = False
    show_all: bool = False
    readonly: bool = False
    gradcheck: bool = False
    show_test: bool = False
    discrete: bool = False
    hide: frozenset[str] = frozenset()  # panels a teacher hid (classroom mode)

    def query(self) -> str:
        """Return the preferences as a query string."""
        return (f"v_decimals={self.decimals}&v_augmented={int(self.augmented)}"
                f"&v_transpose={int(self.transpose)}&v_obs={self.observation}"
                f"&v_log={int(self.log)}&v_all={int(self.show_all)}")


def _flag(values: dict[str, Any], name: str, default: bool) -> bool:
    raw = values.get(name)
    return default if raw in (None, "") else str(raw).lower() in ("1", "true", "on", "yes")


def _int(values: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(str(values.get(name, default)))))
    except ValueError:
        return default


def view_from(values: dict[str, Any], readonly: bool = False) -> View:
    """Return the preferences found in query or form values (defaults elsewhere)."""
    return View(
        decimals=_int(values, "v_decimals", 7, 0, 16),
        augmented=_flag(values, "v_augmented", True),
        transpose=_flag(values, "v_transpose", False),
        observation=_int(values, "v_obs", 0, 0, 1_000_000),
        log=_flag(values, "v_log", False),
        show_all=_flag(values, "v_all", False),
        readonly=readonly,
        gradcheck=_flag(values, "v_gradcheck", False),
        show_test=_flag(values, "v_test", False),
        discrete=_flag(values, "v_discrete", False),
        hide=frozenset(h for h in str(values.get("v_hide") or "").split(",") if h),
    )


@dataclass
class LayerMatrices:
    """The matrices of one layer l (1…L) for the Matrices panel and the walkthrough."""

    layer: int
    activation: str
    z: matrices.Grid
    a: matrices.Grid
    weights: matrices.Grid
    grad: matrices.Grid
    dloss_da: matrices.Grid
    da_dz: matrices.Grid | None
    delta: matrices.Grid
    prev_aug_t: matrices.Grid | None  # None: too many rows for the question's table
    combined: str | None
    formulas: dict[str, str] = field(default_factory=dict)


def _highlights(stepper: StepperView) -> set[str]:
    just = stepper.just_computed
    if just is None:
        return set()
    if just.kind == "forward":
        return {f"z-{just.layer}", f"a-{just.layer}"}
    if just.kind == "backward":
        l = just.layer
        return {f"dloss_da-{l}", f"da_dz-{l}", f"delta-{l}", f"grad-{l}"}
    if just.kind == "loss":
        return {"loss"}
    return {"update"}


def _shows_origin(s: Session) -> bool:
    """Return True while the page shows the question's own numbers (its net, step 0)."""
    if s.example != "origin" or s.progress.step != 0:
        return False
    ex = examples.build("origin")
    return (s.spec == ex.spec and np.array_equal(s.inputs, ex.inputs)
            and np.array_equal(s.targets, ex.targets)
            and parameters_equal(s.parameters, ex.parameters))


def _prev_namer(layer: int, observations: list[int]) -> matrices.Namer:
    """Return the cell names of [1 | a^(l−1)]ᵀ: row 0 is the ones, then ₒa^(l−1)_i."""
    def name(r: int, c: int) -> str:
        return "1" if r == 0 else f"{sub(observations[c])}a{sup(layer - 1)}{sub(r - 1)}"

    return name


def layer_matrices(s: Session, tr: Trace, v: View, lit: set[str],
                   observations: list[int]) -> list[LayerMatrices]:
    """Return grids for every layer of the trace."""
    d = v.decimals
    out = []
    for f in tr.forward:
        l = f.layer
        b = tr.backward_for(l)
        t = s.parameters[l - 1]
        loss_name = "ΣC" if s.spec.loss == "sse" else "C"
        act = ACTIVATIONS[f.activation]
        grad_b = b.grad_biases if v.augmented else None
        out.append(LayerMatrices(
            layer=l, activation=f.activation,
            z=matrices.activation_grid(f"z-{l}", "n", l, f.z, d, "pre-activation n = a·w + b",
                                       show_all=v.show_all, highlight=f"z-{l}" in lit,
                                       observations=observations),
            a=matrices.activation_grid(f"a-{l}", "a", l, f.a, d, f"activation {f.activation}(n)",
                                       show_all=v.show_all, highlight=f"a-{l}" in lit,
                                       observations=observations),
            weights=matrices.weight_grid(f"w-{l - 1}", "w", l - 1, t.weights,
                                         t.biases if v.augmented else None, d,
                                         "weights" + (" (bias row on top)" if v.augmented else ""),
                                         transpose=v.transpose),
            grad=matrices.weight_grid(f"grad-{l}", "∂" + loss_name + "/∂", l - 1, b.grad_weights,
                                      grad_b, d, f"∂{loss_name}/∂w{sup(l - 1)}",
                                      transpose=v.transpose, highlight=f"grad-{l}" in lit),
            dloss_da=matrices.activation_grid(f"dloss_da-{l}", f"∂{loss_name}/∂a", l,
                                              b.dloss_da, d, "how the loss changes with a",
                                              show_all=v.show_all,
                                              highlight=f"dloss_da-{l}" in lit,
                                              observations=observations),
            da_dz=None if b.da_dz is None else matrices.activation_grid(
                f"da_dz-{l}", "∂a/∂n", l, b.da_dz, d, act.derivative_formula,
                show_all=v.show_all, highlight=f"da_dz-{l}" in lit, observations=observations,
                title=f"∂a{sup(l)}/∂n{sup(l)}"),
            delta=matrices.activation_grid(f"delta-{l}", "δ", l, b.delta, d,
                                           "δ = ∂C/∂n", show_all=v.show_all,
                                           highlight=f"delta-{l}" in lit,
                                           observations=observations),
            prev_aug_t=None if len(observations) > PRODUCT_ROWS else matrices.grid(
                f"prevT-{l}", f"[1 | a{sup(l - 1)}]ᵀ", "previous activation, with ones, "
                "transposed", with_ones(f.input).T, d,
                row_labels=["1"] + [f"a{sup(l - 1)}{sub(i)}" for i in range(f.input.shape[1])],
                col_labels=[f"obs {o}" for o in observations],
                namer=_prev_namer(l, observations), show_all=True),
            combined=b.combined,
            formulas={"a": act.formula, "da_dz": act.derivative_formula,
                      "dloss_da": LOSSES[s.spec.loss].gradient_formula},
        ))
    return out


def update_grids(s: Session, tr: Trace, v: View) -> list[dict[str, Any]]:
    """Return, per transition, the gradient received, the step, the new weights and state."""
    d = v.decimals
    out = []
    after = tr.state_after
    for u in tr.update:
        l = u.transition
        aug = v.augmented
        slots = []
        for name, arrays in after.slots.items():
            w, b = arrays[2 * l], arrays[2 * l + 1]
            slots.append(matrices.weight_grid(f"slot-{name}-{l}", name, l, w,
                                              b if aug else None, d,
                                              f"optimiser state {name} after the step",
                                              transpose=v.transpose))
        out.append({
            "transition": l,
            "gradient": matrices.weight_grid(f"ug-{l}", "g of ", l, u.gradient.weights,
                                             u.gradient.biases if aug else None, d,
                                             "gradient received (loss + penalty)",
                                             transpose=v.transpose),
            "step": matrices.weight_grid(f"us-{l}", "Δ", l, u.step.weights,
                                         u.step.biases if aug else None, d,
                                         "the step taken", transpose=v.transpose),
            "new": matrices.weight_grid(f"un-{l}", "w", l, u.new.weights,
                                        u.new.biases if aug else None, d, "new weights",
                                        transpose=v.transpose, highlight=True),
            "slots": slots,
        })
    return out


def expiry_text(ts: float) -> str:
    """Return an expiry time in UTC, readable."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


NEEDS: dict[str, set[str]] = {  # what each block of session.html reads, beyond the basics
    "viewprefs": set(), "toolbar": set(), "data": set(), "architecture": set(),
    "init": set(), "training": set(), "player": set(), "check": set(), "share": set(),
    "banners": {"symmetry"},
    "diagram": {"symmetry", "full", "maps"},
    "loss": {"full", "curve"},
    "plane": {"maps"},
    "stepper": {"layers", "updates"},
    "walkthrough": {"layers", "updates"},
    "matrices": {"layers"},
    "diagnostics": {"symmetry", "activity", "diag"},
    "distributions": {"full"},
    "columns": {"symmetry", "full", "curve"},
}


def build(service: SessionService, s: Session, v: View, base_url: str = "",
          blocks: Iterable[str] | None = None) -> dict[str, Any]:
    """Return the context of the session page, computing only what `blocks` show.

    `blocks=None` means the whole page. A frame of play renders a few light blocks, so
    it skips the matrices, the walkthrough and the gradient check entirely.
    """
    wanted: set[str] = set().union(*(NEEDS[b] for b in blocks)) if blocks is not None else {
        "symmetry", "full", "curve", "layers", "updates", "activity", "diag", "maps"}
    if "full" in wanted:
        wanted.add("symmetry")  # the diagram rings the symmetry groups
    n = s.inputs.shape[0]
    v = replace(v, observation=min(v.observation, n - 1))
    tr = service.trace_of(s)
    stepper = view(tr, s.phase)
    lit = _highlights(stepper)
    observations = list(range(n)) if tr.rows is None else [int(i) for i in tr.rows]
    ctx: dict[str, Any] = {
        "s": s, "sid": s.id, "view": v, "ro": v.readonly, "L": s.spec.transitions,
        "loss_sym": "ΣC" if s.spec.loss == "sse" else "C", "trace": tr, "stepper": stepper,
        "lit": lit, "observations": observations,
        "symmetry_explanation": SYMMETRY_EXPLANATION,
        "history_total": len(s.history_steps),
        "expires": expiry_text(service.expires_at(s)),
        "links": {"edit": f"{base_url}/s/{s.id}", "view": f"{base_url}/s/{s.id}/view",
                  "copy": f"{base_url}/s/{s.id}/copy"},
        "choices": CHOICES,
        "optimizer_formula": OPTIMIZERS[s.spec.optimizer.name].formula,
        "loss_formula": LOSSES[s.spec.loss].formula,
        "num": num, "sub": sub, "sup": sup,
        "is_origin": _shows_origin(s),
        "max_layers": service.settings.max_transitions + 1,
        "max_observations": service.settings.max_observations,
        "recipe": recipes.to_query(s, []) if recipes.shareable(s) else None,
        "panels": recipes.PANELS,
        "max_neurons": service.settings.max_neurons,
    }
    if "symmetry" in wanted:
        symmetry = symmetry_groups(s.spec, s.parameters)
        ctx["symmetry"], ctx["symmetric"] = symmetry, any(y.groups for y in symmetry)
    if "full" in wanted:
        full = tr if tr.rows is None else service.trace_of(s, list(range(n)))
        values = [s.inputs[v.observation]] + [f.a[v.observation] for f in full.forward]
        ctx["outputs"] = full.forward[-1].a
        ctx["distributions"] = distributions(full)
    if "maps" in wanted and s.problem is not None:
        ctx["plane"] = plane_context(service, s, v)
    if "full" in wanted:
        ctx["diagram"] = svg.diagram(s.spec.layers, s.spec.transition_activations,
                                     s.parameters, values, ctx["symmetry"], v.observation,
                                     v.decimals, ctx["plane"]["thumbs"] if "plane" in ctx else None)
    if "curve" in wanted:
        steps, losses = service.history(s, CURVE_POINTS)
        test = service.test_history(s, CURVE_POINTS) if s.problem else None
        ctx["curve"] = svg.curve(steps, losses, s.edits, v.log, test=test)
    if "layers" in wanted:
        ctx["layers"] = layer_matrices(s, tr, v, lit, observations)
    if "updates" in wanted:
        ctx["updates"] = update_grids(s, tr, v)
    if "activity" in wanted:
        ctx["activity"], ctx["gradients"] = activity(tr), gradient_norms(tr)
    if "diag" in wanted:
        rows = len(tr.rows) if tr.rows is not None else s.inputs.shape[0]
        small = s.spec.parameter_count() * rows <= GRADCHECK_AUTO
        ctx["diag"] = service.diagnostics(s) if (small or v.gradcheck) else None
    return ctx


PLANE_PX = 300  # the output map's side on the page
MAP_RESOLUTION = 100  # grid points per side of the output map
THUMB_STRIDE = 4  # a neuron's thumbnail takes every 4th point of the map's grid: 25 × 25


def _to_px(points: Array) -> list[tuple[float, float]]:
    """Return plane points (x₁, x₂ in ±RADIUS) as pixel positions on the map."""
    half = PLANE_PX / 2
    return [(half + float(x) / RADIUS * half, half - float(y) / RADIUS * half)
            for x, y in points]


def distributions(full: Trace) -> list[dict[str, Any]]:
    """Return per-layer histograms of the activations and of δ = ∂C/∂n, over all the data."""
    out = []
    for f in full.forward:
        bounds = ACTIVATIONS[f.activation].bounds
        delta = full.backward_for(f.layer).delta
        finite = np.abs(delta[np.isfinite(delta)])
        reach = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        out.append({"layer": f.layer, "activation": f.activation,
                    "a": svg.histogram(f.a, bounds=bounds),
                    "delta": svg.histogram(delta, bounds=(-reach, reach))})  # centred on 0
    return out


@dataclass(frozen=True)
class PlaneMaps:
    """Every map over the input plane, from one forward pass on the grid."""

    features: Array  # (resolution², features): the inputs as the network sees them
    layers: list[Array]  # layer l → (resolution², neurons)


def compute_maps(s: Session) -> PlaneMaps:
    """Evaluate the features and every neuron on the MAP_RESOLUTION² grid."""
    assert s.problem is not None
    names = s.problem.recipe.get("features") or ["x1", "x2"]
    return PlaneMaps(input_maps(names, MAP_RESOLUTION),
                     neuron_maps(s.spec, s.parameters, names, MAP_RESOLUTION))


def encode_maps(s: Session, maps: PlaneMaps,
                discrete: bool) -> tuple[str, dict[tuple[int, int], str]]:
    """Return the output map's data URI and each feature's and hidden neuron's thumbnail."""
    acts = s.spec.transition_activations
    outputs = maps.layers[-1]  # (resolution², outputs)
    if outputs.shape[1] > 1:
        output_uri = images.class_map(outputs, MAP_RESOLUTION, discrete)
    else:
        output_uri = images.value_map(outputs[:, 0], MAP_RESOLUTION, acts[-1], discrete)
    # Thumbnails: every THUMB_STRIDE-th grid point of the same pass, coloured in one batch.
    columns: list[tuple[int, int, str | None, Array]] = [
        (0, i, None, m) for i, m in enumerate(maps.features.T)]
    columns += [(l, i, acts[l - 1], m) for l, layer in enumerate(maps.layers[:-1], 1)
                for i, m in enumerate(layer.T)]
    small = [images.signed(m.reshape(MAP_RESOLUTION, MAP_RESOLUTION)[::THUMB_STRIDE,
                                                                       ::THUMB_STRIDE], act)
             for _, _, act, m in columns]
    uris = images.value_maps(small)
    return output_uri, {(l, i): uri for (l, i, _, _), uri in zip(columns, uris, strict=True)}


def plane_context(service: SessionService, s: Session, v: View) -> dict[str, Any]:
    """Return the output map, the neuron thumbnails, the points and the scores."""
    assert s.problem is not None
    p = s.problem
    output_uri, thumbs = encode_maps(s, compute_maps(s), v.discrete)
    train_acc, test_acc = service.accuracies(s)
    return {
        "output": output_uri, "thumbs": thumbs, "size": PLANE_PX,
        "train": [(x, y, images.point_colour(t, p.kind))
                  for (x, y), t in zip(_to_px(p.plane_train), s.targets, strict=True)],
        "test": [(x, y, images.point_colour(t, p.kind))
                 for (x, y), t in zip(_to_px(p.plane_test), p.test_targets, strict=True)]
        if v.show_test else [],
        "recipe": p.recipe, "kind": p.kind, "test_loss": service.test_loss(s),
        "accuracy": train_acc, "test_accuracy": test_acc,
        "datasets": list(DATASETS), "features": FEATURES,
    }


CHOICES = {
    "activations": [a for a in ACTIVATIONS if not ACTIVATIONS[a].output_only],
    "output_activations": list(ACTIVATIONS),
    "losses": list(LOSSES), "inits": list(INITIALIZERS),
    "init_descriptions": INIT_DESCRIPTIONS, "optimizers": list(OPTIMIZERS),
    "regularizers": list(REGULARIZERS),
}
