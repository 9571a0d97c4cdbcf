"""The deep views below the instrument, one tab each: what each shows and computes.

Only the open view is rendered (its tab is in the URL, `?tab=…`, and in every request's
preferences), so the page and each refresh carry one view's matrices, not all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.engine.activations import ACTIVATIONS
from app.engine.diagnostics import activity, gradient_norms, symmetry_groups
from app.engine.trace import Trace
from app.sessions.model import Session
from app.sessions.service import SessionService

from . import histograms
from .preferences import TABS, Prefs

GRADCHECK_AUTO = 20_000  # parameters × rows this small get the gradient check on every render


@dataclass(frozen=True)
class View:
    """One deep view: its tab's label, what it needs computed, where it is offered."""

    label: str
    needs: frozenset[str] = frozenset()
    two_d: bool = False  # only for 2-D problems
    editing: bool = False  # not in the read-only page
    panel: str = ""  # the recipe's name for hiding it in class ("" for the view's own)


VIEWS: dict[str, View] = {
    "stepper": View("Phase stepper", frozenset({"layers", "updates"})),
    "walkthrough": View("Backprop walkthrough", frozenset({"layers", "updates"})),
    "matrices": View("Matrices", frozenset({"layers"})),
    "diagnostics": View("Diagnostics", frozenset({"diagnostics", "distributions"})),
    "check": View("Check my calculation"),
    "points": View("Points", frozenset({"points"}), two_d=True, panel="plane"),
    "setup": View("Setup", editing=True, panel="training"),
    "compare": View("Compare", editing=True, panel="share"),
    "share": View("Share & export", frozenset({"links"})),
}
assert tuple(VIEWS) == TABS


def offered(name: str, s: Session, prefs: Prefs) -> bool:
    """Return whether the view's tab is offered on this page."""
    v = VIEWS[name]
    return ((s.problem is not None or not v.two_d) and not (v.editing and prefs.readonly)
            and (v.panel or name) not in prefs.hide)


def tabs_of(s: Session, prefs: Prefs) -> list[tuple[str, str]]:
    """Return the tabs offered: (name, label)."""
    return [(name, v.label) for name, v in VIEWS.items() if offered(name, s, prefs)]


def diagnostics(service: SessionService, s: Session, tr: Trace, prefs: Prefs
                ) -> dict[str, Any]:
    """Return the symmetry groups, activity, gradient sizes and (when small) the check."""
    rows = len(tr.rows) if tr.rows is not None else s.inputs.shape[0]
    small = s.spec.parameter_count() * rows <= GRADCHECK_AUTO
    if small or prefs.gradcheck:
        diag = service.diagnostics(s)  # the same trace, symmetry, activity and sizes, checked
        return {"diag": diag, "activity": diag.activity, "gradients": diag.gradients}
    return {"diag": None, "activity": activity(tr), "gradients": gradient_norms(tr),
            "symmetry": symmetry_groups(s.spec, s.parameters)}


def distributions(service: SessionService, s: Session) -> list[dict[str, Any]]:
    """Return per-layer histograms of the activations and of δ = ∂C/∂n, over all the data
    (its first `Costs.trace_rows` observations when it has more: each entry says so)."""
    n = s.inputs.shape[0]
    rows = min(n, service.costs.trace_rows(s.spec))
    full = service.trace_of(s, list(range(rows)))
    out = []
    for f in full.forward:
        bounds = ACTIVATIONS[f.activation].bounds
        delta = full.backward_for(f.layer).delta
        finite = np.abs(delta[np.isfinite(delta)])
        reach = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        out.append({"layer": f.layer, "activation": f.activation, "rows": rows, "total": n,
                    "a": histograms.histogram(f.a, bounds=bounds),
                    "delta": histograms.histogram(delta, bounds=(-reach, reach))})
    return out
