"""Recipe links: a session's whole configuration in a URL, to share or to set as homework.

A recipe is distinct from the session link: opening it creates a fresh session that
reproduces the configuration exactly — the same data (the dataset is regenerated from
its seed) and the same initial weights (drawn from the init seed). Numbers are written
with `repr`, so floats survive the round trip bit for bit. `hide` lists controls a
teacher hides (TensorFlow Playground's classroom mode).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from app.sessions.model import Session

PANELS = ("data", "architecture", "init", "training", "stepper", "walkthrough", "matrices",
          "diagnostics", "check", "share", "plane")
INIT_KEYS = {"init_seed": "seed", "bias": "bias", "value": "value", "low": "low",
             "high": "high", "mean": "mean", "std": "std", "gain": "gain"}
OPT_KEYS = {"lr": "learning_rate", "momentum": "momentum", "rho": "rho", "eps": "epsilon",
            "beta1": "beta1", "beta2": "beta2"}


def shareable(s: Session) -> bool:
    """Return True when the session's data can be rebuilt from a recipe (not hand-made)."""
    if s.problem is not None:
        return not s.problem.recipe.get("edited", False)
    return False


def to_query(s: Session, hide: list[str]) -> str:
    """Return the recipe of a dataset session as a query string."""
    assert s.problem is not None
    r = s.problem.recipe
    spec = s.spec
    q: dict[str, Any] = {
        "dataset": r["name"], "points": r["points"], "noise": repr(r["noise"]),
        "ratio": repr(r["test_ratio"]), "seed": r["seed"],
        "features": ",".join(r["features"]), "layers": "-".join(map(str, spec.layers)),
        "loss": spec.loss,
        "init": spec.init.scheme, "opt": spec.optimizer.name,
        "nesterov": int(spec.optimizer.nesterov),
        "reg": spec.regularization.kind, "rate": repr(spec.regularization.rate),
        "batch": spec.batch_size or "all",
    }
    q["hidden"], q["output"] = spec.hidden_activation, spec.output_activation
    if spec.activations is not None:
        q["act"] = ",".join(spec.activations)
    if r["name"] == "multiclass":
        q["classes"] = r["classes"]
    q.update({k: repr(getattr(spec.init, f)) if f != "seed" else spec.init.seed
              for k, f in INIT_KEYS.items()})
    q.update({k: repr(getattr(spec.optimizer, f)) for k, f in OPT_KEYS.items()})
    if spec.shuffle_seed is not None:
        q["shuffle"] = spec.shuffle_seed
    if hide:
        q["hide"] = ",".join(h for h in hide if h in PANELS)
    return urlencode(q)


def _float(q: dict[str, str], key: str) -> float | None:
    return float(q[key]) if q.get(key) not in (None, "") else None


def _int(q: dict[str, str], key: str) -> int | None:
    return int(q[key]) if q.get(key) not in (None, "", "all") else None


def to_body(q: dict[str, str]) -> dict[str, Any]:
    """Return the create-session body a recipe's query describes (ValueError if malformed)."""
    dataset: dict[str, Any] = {"name": q.get("dataset", "circle"), "points": _int(q, "points"),
                               "noise": _float(q, "noise"), "test_ratio": _float(q, "ratio"),
                               "seed": _int(q, "seed"), "classes": _int(q, "classes")}
    if q.get("features"):
        dataset["features"] = q["features"].split(",")
    body: dict[str, Any] = {"dataset": {k: v for k, v in dataset.items() if v is not None}}
    if q.get("layers"):
        body["layers"] = [int(v) for v in q["layers"].split("-")]
    if q.get("act"):
        body["activations"] = q["act"].split(",")
    for key, name in (("hidden", "hidden_activation"), ("output", "output_activation")):
        if q.get(key):
            body[name] = q[key]
    if q.get("loss"):
        body["loss"] = q["loss"]
    init: dict[str, Any] = {"scheme": q["init"]} if q.get("init") else {}
    for key, name in INIT_KEYS.items():
        value = _int(q, key) if name == "seed" else _float(q, key)
        if value is not None:
            init[name] = value
    body["init"] = init
    opt: dict[str, Any] = {"name": q["opt"]} if q.get("opt") else {}
    for key, name in OPT_KEYS.items():
        value = _float(q, key)
        if value is not None:
            opt[name] = value
    if q.get("nesterov"):
        opt["nesterov"] = q["nesterov"] in ("1", "true")
    body["optimizer"] = opt
    if q.get("reg"):
        body["regularization"] = {"kind": q["reg"], "rate": _float(q, "rate") or 0.0}
    if "batch" in q:
        body["batch_size"] = _int(q, "batch")
    if q.get("shuffle"):
        body["shuffle_seed"] = _int(q, "shuffle")
    return body
