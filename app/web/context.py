"""Build what the templates render: one context per page or fragment of a session.

Each part of the page (the live stream, the control bar, the data, the network, the
output and the open deep view) reads only some of what a session can show; `build`
computes just what the asked parts need. Every number comes from the session service and
the engine (traces, forward passes, diagnostics); this module only arranges them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from app.engine import examples
from app.engine.activations import ACTIVATIONS
from app.engine.diagnostics import SYMMETRY_EXPLANATION, symmetry_groups
from app.engine.initializers import DESCRIPTIONS as INIT_DESCRIPTIONS
from app.engine.initializers import FIELDS as INIT_FIELDS
from app.engine.initializers import INITIALIZERS
from app.engine.losses import LOSSES
from app.engine.optimizers import OPTIMIZERS, REGULARIZERS
from app.engine.params import parameters_equal
from app.engine.phases import StepperView, view
from app.engine.trace import forward
from app.sessions import costs
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import diagram, layers, output, plane, recipes, views
from .preferences import PLAY_SPEEDS, Prefs

PARTS = ("live", "controls", "data", "network", "output", "view")
NEEDS: dict[str, set[str]] = {  # what each part reads beyond the basics
    "live": set(), "controls": set(), "data": {"plane"},
    "network": {"symmetry", "diagram", "maps"}, "output": {"outputs", "curve", "maps"},
    "view": set(),  # the open view's own needs: views.VIEWS[tab].needs
}
CURVE_POINTS = 300  # the loss curve starts from at most this many points (extremes kept)
CHOICES = {
    "activations": [a for a in ACTIVATIONS if not ACTIVATIONS[a].output_only],
    "output_activations": list(ACTIVATIONS),
    "losses": list(LOSSES), "inits": list(INITIALIZERS),
    "init_descriptions": INIT_DESCRIPTIONS, "init_fields": INIT_FIELDS,
    "optimizers": list(OPTIMIZERS),
    "regularizers": list(REGULARIZERS),
}


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


def needs_of(parts: Iterable[str], prefs: Prefs) -> set[str]:
    """Return everything the parts read."""
    wanted: set[str] = set()
    for part in parts:
        wanted |= NEEDS[part]
        if part == "view":
            wanted |= views.VIEWS[prefs.tab].needs if prefs.tab else set()
    return wanted


def basics(service: SessionService, s: Session, prefs: Prefs, base_url: str) -> dict[str, Any]:
    """Return what every part may read: the session, the choices, links and limits."""
    return {
        "s": s, "sid": None if prefs.readonly else s.id, "prefs": prefs, "ro": prefs.readonly,
        "base": f"/v/{prefs.view}" if prefs.readonly else f"/s/{s.id}",
        "api_base": f"/api/views/{prefs.view}" if prefs.readonly else f"/api/sessions/{s.id}",
        "L": s.spec.transitions,
        "loss_sym": "ΣC" if s.spec.loss == "sse" else "C",
        "symmetry_explanation": SYMMETRY_EXPLANATION,
        "expires": expiry_text(service.expires_at(s)),
        "choices": CHOICES, "play_speeds": PLAY_SPEEDS,
        "init_fields": INIT_FIELDS[s.spec.init.scheme],
        "optimizer_formula": OPTIMIZERS[s.spec.optimizer.name].formula,
        "loss_formula": LOSSES[s.spec.loss].formula,
        "is_origin": _shows_origin(s),
        "max_layers": service.settings.max_transitions + 1,
        "max_observations": service.settings.max_observations,
        "max_neurons": service.settings.max_neurons,
        "recipe": recipes.to_query(s, []) if recipes.shareable(s) else None,
        "panels": recipes.PANELS, "tabs": views.tabs_of(s, prefs),
        "small": s.problem is None, "fit_tolerance": output.FIT_TOLERANCE,
        "table_rows": service.costs.table_rows(s.spec.layers[0] + s.spec.layers[-1]),
        "typed_cells": costs.TYPED_CELLS, "trace_cells": costs.TRACE_CELLS,
    }


def build(service: SessionService, s: Session, prefs: Prefs, base_url: str = "",
          parts: Iterable[str] = PARTS) -> dict[str, Any]:
    """Return the context of the given parts of the session page, computing only what
    they show."""
    parts = list(parts)
    n = s.inputs.shape[0]
    prefs = replace(prefs, observation=min(prefs.observation, n - 1),
                    tab=prefs.tab if prefs.tab and views.offered(prefs.tab, s, prefs) else "")
    wanted = needs_of(parts, prefs)
    ctx = basics(service, s, prefs, base_url)
    ctx["parts"] = parts
    if wanted & {"symmetry", "diagram", "diagnostics"}:
        ctx["symmetry"] = symmetry_groups(s.spec, s.parameters)
        ctx["symmetric"] = any(y.groups for y in ctx["symmetry"])
    if s.problem is not None and wanted & {"plane", "maps"}:
        ctx["plane"] = _plane(service, s, prefs, "maps" in wanted)
    if "diagram" in wanted:
        row = s.inputs[prefs.observation : prefs.observation + 1]  # (1, inputs)
        values = [row[0]] + [f.a[0] for f in forward(s.spec, s.parameters, row)]
        features = plane.features_of(s.problem) if s.problem is not None else None
        ctx["diagram"] = diagram.diagram(s.spec.layers, s.spec.transition_activations,
                                         s.parameters, values, ctx["symmetry"],
                                         prefs.observation, features)
    if "outputs" in wanted and s.problem is None:
        ctx["output_rows"] = output.rows(s, prefs, ctx["table_rows"])
        ctx["misfit"], ctx["misfit_rows"] = output.misfit(s)
    if "curve" in wanted:
        ctx["curve"] = curve_json(service, s, prefs)
    if wanted & {"layers", "updates", "diagnostics", "distributions"}:
        _trace_parts(service, s, prefs, wanted, ctx)
    if "points" in wanted:
        ctx["points"] = output.points(s, prefs)
    if "links" in wanted:
        ctx["links"] = links(service, s, prefs, base_url)
    return ctx


def links(service: SessionService, s: Session, prefs: Prefs,
          base_url: str) -> dict[str, str | None]:
    """Return the session's links: edit (only for whoever holds the id), the read-only
    view (None while the store cannot record its first token), and a fresh copy. A
    read-only viewer's copy comes from the view token."""
    if prefs.readonly:
        view = f"{base_url}/v/{prefs.view}"
        return {"view": view, "copy": f"{view}/copy"}
    edit, token = f"{base_url}/s/{s.id}", service.view_token_if_any(s.id)
    return {"edit": edit, "view": f"{base_url}/v/{token}" if token else None,
            "copy": f"{edit}/copy"}


def _trace_parts(service: SessionService, s: Session, prefs: Prefs, wanted: set[str],
                 ctx: dict[str, Any]) -> None:
    """Add the trace's grids, the stepper and the diagnostics the open view shows."""
    tr = service.trace_of(s)
    stepper = view(tr, s.phase)
    lit = highlights(stepper)
    observations = list(range(s.inputs.shape[0])) if tr.rows is None else [
        int(i) for i in tr.rows]
    ctx.update({"trace": tr, "stepper": stepper, "lit": lit, "observations": observations})
    if wanted & {"layers", "updates"}:
        ctx["layers"] = layers.layer_matrices(s, tr, prefs, lit, observations)
        ctx["updates"] = layers.update_grids(tr, prefs)
    if "diagnostics" in wanted:
        ctx.update(views.diagnostics(service, s, tr, prefs))
    if "distributions" in wanted:
        ctx["distributions"] = views.distributions(service, s)


def highlights(stepper: StepperView) -> set[str]:
    """Return the keys of the matrices the phase stepper just computed."""
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


def _plane(service: SessionService, s: Session, prefs: Prefs, with_maps: bool
           ) -> dict[str, Any]:
    """Return the 2-D problem's pictures and scores (its maps only when shown)."""
    assert s.problem is not None
    found = (plane.plane_context(s, plane.maps(s), prefs.show_test, prefs.discrete)
             if with_maps else plane.data_context(s.problem))
    train_acc, test_acc = service.accuracies(s)
    found.update({"test_loss": service.test_loss(s), "accuracy": train_acc,
                  "test_accuracy": test_acc})
    return found


def curve_json(service: SessionService, s: Session, prefs: Prefs) -> str:
    """Return the loss curve's data for the page's script: train and test points (step,
    exact loss), the steps where the network was edited, and the scale."""
    def points(steps: list[int], losses: list[float]) -> list[list[float]]:
        return [[st, v] for st, v in zip(steps, losses, strict=True) if math.isfinite(v)]

    train = points(*service.history(s, CURVE_POINTS))
    test = points(*service.test_history(s, CURVE_POINTS)) if s.problem else []
    return json.dumps({"train": train, "test": test, "edits": sorted(set(s.edits)),
                       "log": prefs.log}, allow_nan=False, separators=(",", ":"))
