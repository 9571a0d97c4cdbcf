"""Weight initialisers: a registry of name → function (rng, fan_in, fan_out, init) → W.

Randomness comes only from `numpy.random.default_rng(init.seed)`: `initialize` draws the
transitions in order 0…L−1, each matrix (fan_in, fan_out) in C order, so the same spec
gives the same numbers on every machine. Constant schemes draw nothing. Biases start at the
constant `init.bias` (default 0; the origin uses 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from .params import Parameters, Transition
from .spec import INIT_SCHEMES, InitSpec, NetworkSpec, check_registry

Array = NDArray[np.float64]
Initializer = Callable[[np.random.Generator, int, int, InitSpec], Array]


def _constant(rng: np.random.Generator, fan_in: int, fan_out: int, init: InitSpec) -> Array:
    return np.full((fan_in, fan_out), float(init.value))


def _zeros(rng: np.random.Generator, fan_in: int, fan_out: int, init: InitSpec) -> Array:
    return np.zeros((fan_in, fan_out))


def _uniform(rng: np.random.Generator, fan_in: int, fan_out: int, init: InitSpec) -> Array:
    return rng.uniform(init.low, init.high, size=(fan_in, fan_out))


def _normal(rng: np.random.Generator, fan_in: int, fan_out: int, init: InitSpec) -> Array:
    return rng.normal(init.mean, init.std, size=(fan_in, fan_out))


def _scaled_uniform(variance_numerator: float, use_fan_out: bool) -> Initializer:
    """Uniform(−r, r) with r = gain·√(variance_numerator / fan)."""

    def draw(rng: np.random.Generator, fan_in: int, fan_out: int, init: InitSpec) -> Array:
        fan = (fan_in + fan_out) if use_fan_out else fan_in
        limit = init.gain * np.sqrt(variance_numerator / fan)
        return rng.uniform(-limit, limit, size=(fan_in, fan_out))

    return draw


def _scaled_normal(variance_numerator: float, use_fan_out: bool) -> Initializer:
    """Normal(0, σ) with σ = gain·√(variance_numerator / fan)."""

    def draw(rng: np.random.Generator, fan_in: int, fan_out: int, init: InitSpec) -> Array:
        fan = (fan_in + fan_out) if use_fan_out else fan_in
        std = init.gain * np.sqrt(variance_numerator / fan)
        return rng.normal(0.0, std, size=(fan_in, fan_out))

    return draw


def _orthogonal(rng: np.random.Generator, fan_in: int, fan_out: int, init: InitSpec) -> Array:
    # QR of a Gaussian matrix, signs fixed so the distribution is uniform (Saxe et al.).
    flat = rng.normal(0.0, 1.0, size=(max(fan_in, fan_out), min(fan_in, fan_out)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if fan_in < fan_out:
        q = q.T
    return init.gain * q  # (fan_in, fan_out)


INITIALIZERS: dict[str, Initializer] = {
    "constant": _constant,
    "zeros": _zeros,
    "uniform": _uniform,
    "normal": _normal,
    "xavier_uniform": _scaled_uniform(6.0, use_fan_out=True),
    "xavier_normal": _scaled_normal(2.0, use_fan_out=True),
    "he_uniform": _scaled_uniform(6.0, use_fan_out=False),
    "he_normal": _scaled_normal(2.0, use_fan_out=False),
    "lecun_normal": _scaled_normal(1.0, use_fan_out=False),
    "orthogonal": _orthogonal,
}

DESCRIPTIONS: dict[str, str] = {
    "constant": "every weight = value (the origin: 1 — symmetric, so hidden neurons never differ)",
    "zeros": "every weight = 0 (symmetric)",
    "uniform": "U(low, high)",
    "normal": "N(mean, std²)",
    "xavier_uniform": "U(±gain·√(6 / (fan_in + fan_out))) — Glorot & Bengio 2010",
    "xavier_normal": "N(0, gain²·2 / (fan_in + fan_out))",
    "he_uniform": "U(±gain·√(6 / fan_in)) — He et al. 2015, for ReLU",
    "he_normal": "N(0, gain²·2 / fan_in)",
    "lecun_normal": "N(0, gain² / fan_in)",
    "orthogonal": "gain · an orthogonal matrix (QR of a Gaussian) — Saxe et al. 2013",
}


FIELDS: dict[str, tuple[str, ...]] = {  # the InitSpec fields each scheme reads, besides bias
    "constant": ("value",),
    "zeros": (),
    "uniform": ("seed", "low", "high"),
    "normal": ("seed", "mean", "std"),
    "xavier_uniform": ("seed", "gain"),
    "xavier_normal": ("seed", "gain"),
    "he_uniform": ("seed", "gain"),
    "he_normal": ("seed", "gain"),
    "lecun_normal": ("seed", "gain"),
    "orthogonal": ("seed", "gain"),
}

check_registry("initializers.INITIALIZERS", INITIALIZERS, INIT_SCHEMES)
check_registry("initializers.DESCRIPTIONS", DESCRIPTIONS, INIT_SCHEMES)
check_registry("initializers.FIELDS", FIELDS, INIT_SCHEMES)


def initialize(spec: NetworkSpec, keep: Mapping[int, Transition] | None = None) -> Parameters:
    """Draw every transition's weights from spec.init; biases = init.bias.

    Transitions listed in `keep` are taken from it unchanged — the generator still draws
    every transition in order, so a re-initialised transition gets the same numbers it
    would get in a fresh network.
    """
    init = spec.init
    rng = np.random.default_rng(init.seed)
    draw = INITIALIZERS[init.scheme]
    kept = keep or {}
    params = []
    for l, (fan_in, fan_out) in enumerate(spec.shapes()):
        weights = draw(rng, fan_in, fan_out, init)  # (fan_in, fan_out)
        if l in kept:
            params.append(kept[l].copy())
        else:
            params.append(Transition(weights, np.full(fan_out, float(init.bias))))
    return tuple(params)
