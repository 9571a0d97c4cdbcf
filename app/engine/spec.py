"""The network specification: typed, immutable dataclasses validated with named fields.

A spec says everything needed to rebuild a network and train it the same way: layer
sizes, activations, loss, initialisation, optimiser, regularisation and batching. Data
(inputs, targets) and parameters live beside it, not in it. `validate` raises `SpecError`
naming the offending field in the API's dotted/indexed form (`layers[1]`,
`init.std`), so the web layers can pass the message straight to the user.

The names a spec may choose are plain data here. Activations and losses need nothing of
the spec, so their registries sit below it and it reads them directly. Initialisers,
optimisers and regularisers take the spec's dataclasses, so their registries sit above
it: the spec lists their names (`INIT_SCHEMES`, `OPTIMIZER_NAMES`, `REGULARIZER_KINDS`)
and each registry checks on import that it holds exactly those (`check_registry`). The
cost is a name written twice; the gain is that imports run one way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from .activations import ACTIVATIONS
from .losses import LOSSES

INIT_MAGNITUDE = 1e6  # |init parameter| at most this: larger draws overflow to ±inf

# The names each registry above the spec must hold, in its order (see the docstring).
INIT_SCHEMES = ("constant", "zeros", "uniform", "normal", "xavier_uniform", "xavier_normal",
                "he_uniform", "he_normal", "lecun_normal", "orthogonal")  # INITIALIZERS
OPTIMIZER_NAMES = ("sgd", "momentum", "rmsprop", "adam")  # optimizers.OPTIMIZERS
REGULARIZER_KINDS = ("none", "l1", "l2")  # optimizers.REGULARIZERS


class SpecError(ValueError):
    """A spec or data problem, naming the field, the problem and the limit if any."""

    def __init__(self, field: str | None, message: str, limit: Any = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.limit = limit


@dataclass(frozen=True)
class InitSpec:
    """How the weights and biases start. Only the fields of `scheme` are used."""

    scheme: str = "xavier_uniform"  # one of INIT_SCHEMES
    seed: int = 0  # numpy.random.default_rng(seed); transitions drawn 0…L−1 in C order
    bias: float = 0.0  # every bias starts at this constant (the origin uses 1)
    value: float = 1.0  # constant
    low: float = -1.0  # uniform
    high: float = 1.0  # uniform
    mean: float = 0.0  # normal
    std: float = 1.0  # normal
    gain: float = 1.0  # scales xavier/he/lecun/orthogonal


@dataclass(frozen=True)
class OptimizerSpec:
    """The optimiser and its hyper-parameters (defaults as in DESIGN.md)."""

    name: str = "sgd"  # one of OPTIMIZER_NAMES: sgd | momentum | rmsprop | adam
    learning_rate: float = 0.1  # step size
    momentum: float = 0.9  # momentum: velocity decay μ
    nesterov: bool = False  # momentum: look-ahead gradient
    rho: float = 0.9  # rmsprop: decay of the squared-gradient average
    epsilon: float = 1e-8  # rmsprop, adam: added to the denominator
    beta1: float = 0.9  # adam: decay of the first moment
    beta2: float = 0.999  # adam: decay of the second moment


@dataclass(frozen=True)
class RegularizationSpec:
    """Weight penalty: L2 adds rate·½ΣW², L1 adds rate·Σ|W|; biases are never penalised."""

    kind: str = "none"  # one of REGULARIZER_KINDS: none | l1 | l2
    rate: float = 0.0


@dataclass(frozen=True)
class NetworkSpec:
    """A multilayer perceptron: layer sizes, activations, loss and how it trains."""

    layers: tuple[int, ...]  # neurons per layer, input first: (2, 3, 3, 2)
    hidden_activation: str = "sigmoid"
    output_activation: str = "sigmoid"
    activations: tuple[str, ...] | None = None  # per transition; overrides the two above
    loss: str = "sse"
    init: InitSpec = field(default_factory=InitSpec)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    regularization: RegularizationSpec = field(default_factory=RegularizationSpec)
    batch_size: int | None = None  # None = full batch
    shuffle_seed: int | None = None  # mini-batch order; None = init.seed

    @property
    def transitions(self) -> int:
        """Return L, the number of weight matrices."""
        return len(self.layers) - 1

    @property
    def transition_activations(self) -> tuple[str, ...]:
        """Return the activation of each transition 0…L−1 (layer 1…L)."""
        if self.activations is not None:
            return tuple(self.activations)
        hidden = (self.hidden_activation,) * (self.transitions - 1)
        return (*hidden, self.output_activation)

    @property
    def effective_shuffle_seed(self) -> int:
        """Return the seed of the mini-batch shuffle."""
        return self.init.seed if self.shuffle_seed is None else self.shuffle_seed

    def shapes(self) -> list[tuple[int, int]]:
        """Return (fan_in, fan_out) of each transition."""
        return list(zip(self.layers[:-1], self.layers[1:], strict=True))

    def parameter_count(self) -> int:
        """Return the number of weights and biases."""
        return _parameter_count(self.layers)

    def with_changes(self, **changes: Any) -> NetworkSpec:
        """Return a copy with fields replaced."""
        return replace(self, **changes)


def check_registry(registry: str, names: Iterable[str], allowed: tuple[str, ...]) -> None:
    """Raise RuntimeError unless a registry holds exactly the names the spec allows, in
    the same order (the page lists the registry, an error message the spec's names)."""
    held = tuple(names)
    if held != allowed:
        raise RuntimeError(f"{registry} holds {held}, but the spec allows {allowed}")


@lru_cache(maxsize=1024)
def _parameter_count(layers: tuple[int, ...]) -> int:
    """Return the weights and biases of a network with these layer sizes (asked for on
    every step: remembered)."""
    return sum(i * o + o for i, o in itertools.pairwise(layers))


def _finite(field_name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(field_name, f"must be a finite number, got {value!r}")


def _validate_layers(spec: NetworkSpec) -> None:
    if len(spec.layers) < 2:
        raise SpecError("layers", "needs at least an input and an output layer", 2)
    for i, size in enumerate(spec.layers):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise SpecError(f"layers[{i}]", f"must be a positive whole number, got {size!r}", 1)


def _validate_activations(spec: NetworkSpec) -> None:
    acts = spec.transition_activations
    if len(acts) != spec.transitions:
        raise SpecError(
            "activations",
            f"needs one activation per transition: {spec.transitions}, got {len(acts)}",
        )
    where = (
        [f"activations[{i}]" for i in range(len(acts))]
        if spec.activations is not None
        else ["hidden_activation"] * (len(acts) - 1) + ["output_activation"]
    )
    for i, (name, field_name) in enumerate(zip(acts, where, strict=True)):
        if name not in ACTIVATIONS:
            known = ", ".join(ACTIVATIONS)
            raise SpecError(field_name, f"unknown activation {name!r}; choose one of {known}")
        if ACTIVATIONS[name].output_only and i != len(acts) - 1:
            raise SpecError(field_name, f"{name} can only be the output activation")


def _validate_loss(spec: NetworkSpec) -> None:
    if spec.loss not in LOSSES:
        raise SpecError("loss", f"unknown loss {spec.loss!r}; choose one of {', '.join(LOSSES)}")
    needed = LOSSES[spec.loss].requires_output
    output = spec.transition_activations[-1]
    if needed is not None and output != needed:
        raise SpecError("loss", f"{spec.loss} needs a {needed} output layer, not {output}")


def _validate_init(init: InitSpec) -> None:
    if init.scheme not in INIT_SCHEMES:
        known = ", ".join(INIT_SCHEMES)
        raise SpecError("init.scheme", f"unknown scheme {init.scheme!r}; choose one of {known}")
    if isinstance(init.seed, bool) or not isinstance(init.seed, int) or init.seed < 0:
        raise SpecError("init.seed", f"must be a whole number ≥ 0, got {init.seed!r}", 0)
    for name in ("bias", "value", "low", "high", "mean", "std", "gain"):
        _finite(f"init.{name}", getattr(init, name))
        if abs(getattr(init, name)) > INIT_MAGNITUDE:
            raise SpecError(f"init.{name}", f"must be between −{INIT_MAGNITUDE:g} and "
                            f"{INIT_MAGNITUDE:g}", INIT_MAGNITUDE)
    if init.scheme == "uniform" and not init.low < init.high:
        raise SpecError("init.high", f"must be greater than init.low ({init.low})")
    for name in ("std", "gain"):  # a scale: numpy refuses a negative one
        if getattr(init, name) < 0:
            raise SpecError(f"init.{name}", "must be ≥ 0", 0)


def _validate_optimizer(opt: OptimizerSpec) -> None:
    if opt.name not in OPTIMIZER_NAMES:
        known = ", ".join(OPTIMIZER_NAMES)
        raise SpecError("optimizer.name", f"unknown optimizer {opt.name!r}; choose one of {known}")
    for name in ("learning_rate", "momentum", "rho", "epsilon", "beta1", "beta2"):
        _finite(f"optimizer.{name}", getattr(opt, name))
    if not isinstance(opt.nesterov, bool):
        raise SpecError("optimizer.nesterov", f"must be true or false, got {opt.nesterov!r}")
    if opt.learning_rate <= 0:
        raise SpecError("optimizer.learning_rate", "must be greater than 0", 0)
    for name in ("momentum", "rho", "beta1", "beta2"):
        if not 0 <= getattr(opt, name) < 1:
            raise SpecError(f"optimizer.{name}", "must be in [0, 1)", [0, 1])
    if opt.epsilon <= 0:
        raise SpecError("optimizer.epsilon", "must be greater than 0", 0)


def _validate_regularization(reg: RegularizationSpec) -> None:
    if reg.kind not in REGULARIZER_KINDS:
        known = ", ".join(REGULARIZER_KINDS)
        raise SpecError("regularization.kind", f"unknown kind {reg.kind!r}; choose one of {known}")
    _finite("regularization.rate", reg.rate)
    if reg.rate < 0:
        raise SpecError("regularization.rate", "must be ≥ 0", 0)


def validate(spec: NetworkSpec) -> NetworkSpec:
    """Check every field of the spec; raise SpecError naming the first bad one."""
    _validate_layers(spec)
    _validate_activations(spec)
    _validate_loss(spec)
    _validate_init(spec.init)
    _validate_optimizer(spec.optimizer)
    _validate_regularization(spec.regularization)
    if spec.batch_size is not None and (
        isinstance(spec.batch_size, bool) or not isinstance(spec.batch_size, int)
        or spec.batch_size < 1
    ):
        raise SpecError("batch_size", f"must be a whole number ≥ 1, got {spec.batch_size!r}", 1)
    if spec.shuffle_seed is not None and (
        not isinstance(spec.shuffle_seed, int) or spec.shuffle_seed < 0
    ):
        raise SpecError("shuffle_seed", "must be a whole number ≥ 0", 0)
    return spec


def spec_to_dict(spec: NetworkSpec) -> dict[str, Any]:
    """Return the spec as plain JSON-ready data (the API's spec fields, without data)."""
    return {
        "layers": list(spec.layers),
        "hidden_activation": spec.hidden_activation,
        "output_activation": spec.output_activation,
        "activations": None if spec.activations is None else list(spec.activations),
        "loss": spec.loss,
        "init": asdict(spec.init),
        "optimizer": asdict(spec.optimizer),
        "regularization": asdict(spec.regularization),
        "batch_size": spec.batch_size,
        "shuffle_seed": spec.shuffle_seed,
    }


def spec_from_dict(data: dict[str, Any]) -> NetworkSpec:
    """Build a spec from `spec_to_dict` output (missing fields take their defaults)."""
    acts = data.get("activations")
    fields = {k: data[k] for k in ("hidden_activation", "output_activation", "loss",
                                   "batch_size", "shuffle_seed") if k in data}
    return NetworkSpec(
        layers=tuple(data["layers"]),
        activations=None if acts is None else tuple(acts),
        init=InitSpec(**data.get("init", {})),
        optimizer=OptimizerSpec(**data.get("optimizer", {})),
        regularization=RegularizationSpec(**data.get("regularization", {})),
        **fields,
    )
