"""Build what the templates render: one context per session page, from one trace.

The web layer never recomputes maths: every number comes from the session service's
trace, history and diagnostics; this module only arranges them (grids, diagram, curve)
according to the viewer's preferences (`View`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine import examples
from app.engine.activations import ACTIVATIONS
from app.engine.datasets import DATASETS, FEATURES, RADIUS
from app.engine.diagnostics import (
    SYMMETRY_EXPLANATION,
    LayerSymmetry,
    activity,
    gradient_norms,
    symmetry_groups,
)
from app.engine.initializers import DESCRIPTIONS as INIT_DESCRIPTIONS
from app.engine.initializers import INITIALIZERS
from app.engine.losses import LOSSES
from app.engine.maps import input_maps, neuron_maps
from app.engine.optimizers import OPTIMIZERS, REGULARIZERS
from app.engine.params import parameters_equal
from app.engine.phases import StepperView, view
from app.engine.trace import Trace
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import images, layers, memo, recipes, svg
from .format import num, nums, sub, sup
from .view import PLAY_SPEEDS, View

Array = NDArray[np.float64]
GRADCHECK_AUTO = 20_000  # parameters × rows this small get the gradient check on every render
CURVE_POINTS = 400  # the loss curve draws at most this many points (extremes kept)
OUTPUT_ROWS = 20  # the outputs table's rows before "show all"
OUTPUT_ROWS_PLANE = 8  # the same beside a 2-D dataset's map


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


def expiry_text(ts: float) -> str:
    """Return an expiry time in UTC, readable."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


NEEDS: dict[str, set[str]] = {  # what each block of session.html reads, beyond the basics
    "viewprefs": set(), "toolbar": set(), "data": set(), "architecture": set(),
    "init": set(), "training": set(), "player": set(), "frame": set(), "check": set(),
    "share": set(),
    "banners": {"symmetry"},
    "diagram": {"diagram"},  # with the symmetry rings and, on a 2-D problem, the maps
    "loss": {"outputs", "curve"},
    "plane": {"maps"},
    "stepper": {"layers", "updates"},  # grids are built when read (app/web/layers.py)
    "walkthrough": {"layers", "updates"},
    "matrices": {"layers"},
    "diagnostics": {"diagnostics"},
    "distributions": {"distributions"},
    "columns": {"diagram", "curve"},  # compare.html: its outputs come with the diagram
}
EVERYTHING = set().union(*NEEDS.values())


def build(service: SessionService, s: Session, v: View, base_url: str = "",
          blocks: Iterable[str] | None = None) -> dict[str, Any]:
    """Return the context of the session page, computing only what `blocks` show.

    `blocks=None` means the whole page. A frame of play renders a few light blocks, so
    it skips the matrices, the walkthrough and the gradient check entirely.
    """
    wanted = set().union(*(NEEDS[b] for b in blocks)) if blocks is not None else EVERYTHING
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
        "choices": CHOICES, "play_speeds": PLAY_SPEEDS,
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
    key = (memo.parameters_key(s.parameters)
           if wanted & {"diagnostics", "symmetry", "diagram"} else None)
    if "diagnostics" in wanted:
        ctx.update(_diagnostics(service, s, tr, v, key))
    elif wanted & {"symmetry", "diagram"}:
        ctx["symmetry"] = _symmetry(s, key)
    if "symmetry" in ctx:
        ctx["symmetric"] = any(y.groups for y in ctx["symmetry"])
    if wanted & {"diagram", "outputs", "distributions"}:
        full = tr if tr.rows is None else service.trace_of(s, list(range(n)))
        ctx["outputs"] = full.forward[-1].a
        if "outputs" in wanted:
            shown = n if v.show_all else (OUTPUT_ROWS_PLANE if s.problem else OUTPUT_ROWS)
            ctx["output_rows"] = output_rows(ctx["outputs"], s.targets, shown,
                                             s.spec.transitions, v.decimals)
        if "distributions" in wanted:
            ctx["distributions"] = distributions(full)
    if wanted & {"maps", "diagram"} and s.problem is not None:
        ctx["plane"] = plane_context(service, s, v)
    if "diagram" in wanted:
        values = [s.inputs[v.observation]] + [f.a[v.observation] for f in full.forward]
        ctx["diagram"] = svg.diagram(s.spec.layers, s.spec.transition_activations,
                                     s.parameters, values, ctx["symmetry"], v.observation,
                                     v.decimals, ctx["plane"]["thumbs"] if "plane" in ctx else None,
                                     key=key)
    if "curve" in wanted:
        steps, losses = service.history(s, CURVE_POINTS)
        test = service.test_history(s, CURVE_POINTS) if s.problem else None
        ctx["curve"] = svg.curve(steps, losses, s.edits, v.log, test=test)
    if "layers" in wanted:
        ctx["layers"] = layers.layer_matrices(s, tr, v, lit, observations)
    if "updates" in wanted:
        ctx["updates"] = layers.update_grids(tr, v)
    return ctx


OutputRow = tuple[int, list[tuple[int, float, str, str]], list[str]]


def output_rows(outputs: Array, targets: Array, shown: int, layer: int,
                decimals: int) -> list[OutputRow]:
    """Return the outputs table's first `shown` rows: each output's column, exact value,
    hover name and text, then the targets' texts (formatted here, a row at a time)."""
    width = outputs.shape[1]  # outputs and targets: (observations, output neurons)
    values, texts = outputs[:shown].ravel().tolist(), nums(outputs[:shown], decimals)
    ys, name = nums(targets[:shown], decimals), f"a{sup(layer)}"
    return [(r, [(j, values[r * width + j], f"{sub(r)}{name}{sub(j)} = {values[r * width + j]}",
                  texts[r * width + j]) for j in range(width)], ys[r * width:(r + 1) * width])
            for r in range(min(shown, outputs.shape[0]))]


SYMMETRY: memo.Memo[tuple[LayerSymmetry, ...]] = memo.Memo(256)


def _symmetry(s: Session, key: bytes | None) -> tuple[LayerSymmetry, ...]:
    """Return the symmetry groups (remembered: they depend on the parameters only)."""
    return SYMMETRY.get(key, lambda: symmetry_groups(s.spec, s.parameters))


def _diagnostics(service: SessionService, s: Session, tr: Trace, v: View,
                 key: bytes | None) -> dict[str, Any]:
    """Return the symmetry groups, activity, gradient sizes and (when small) the check."""
    rows = len(tr.rows) if tr.rows is not None else s.inputs.shape[0]
    small = s.spec.parameter_count() * rows <= GRADCHECK_AUTO
    if small or v.gradcheck:
        diag = service.diagnostics(s)  # the same trace, symmetry, activity and sizes, checked
        return {"diag": diag, "symmetry": diag.symmetry, "activity": diag.activity,
                "gradients": diag.gradients}
    return {"diag": None, "symmetry": _symmetry(s, key), "activity": activity(tr),
            "gradients": gradient_norms(tr)}


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
