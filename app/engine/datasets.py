"""Seeded 2-D datasets in the spirit of TensorFlow Playground, and the features fed from them.

Each name in `DATASETS` draws `points` observations from `numpy.random.default_rng(seed)`
alone, so one `DatasetSpec` always gives the same arrays, bit for bit. Inputs always lie in
the square [-6, 6]², whatever the noise, as in TensorFlow Playground (src/dataset.ts), whose
shapes these follow.

Classification sets (`circle`, `xor`, `gaussian`, `spiral`, `multiclass`) are balanced: the
labels are 0, 1, …, k−1 repeated (so class counts differ by at most one) and shuffled, then
each point is placed for its label. Binary targets are one column of 0/1 (sigmoid +
binary_cross_entropy); `multiclass` targets are one-hot rows (softmax + cross_entropy).
Regression sets (`plane`, `multi_gaussian`) have one target column in [-1, 1].

What noise (0 … 0.5, i.e. 0–50 %) does:
- `circle`, `xor`, `spiral`: each coordinate moves by U(−1, 1)·2·noise (up to ±1 at 50 %),
  enough to carry points across the gap between the classes.
- `gaussian`, `multiclass`: each blob's variance grows linearly from 0.5 to 4 (std 0.71 → 2).
- `plane`, `multi_gaussian`: the target is read at the point moved by U(−6, 6)·noise per
  coordinate; the input itself stays put, so the target becomes a noisy measurement.

Trade-offs: TensorFlow Playground adds classification noise by flipping labels, which
unbalances the classes; here noise moves points and never changes a label. Gaussian
coordinates that fall outside the square are redrawn (a truncated normal, so no points pile
up on the edge), which costs a data-dependent number of draws but stays deterministic.
Radii in the disk and along the spirals are uniform, so points crowd the centre, as in TF.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .params import as_matrix
from .spec import SpecError

Array = NDArray[np.float64]
Labels = NDArray[np.int64]
Problem = Literal["classification", "regression"]
Draw = Callable[[np.random.Generator, int, float, int], tuple[Array, Array]]

RADIUS = 6.0  # inputs lie in [-RADIUS, RADIUS]² whatever the noise
JITTER = 2.0  # circle, xor, spiral: a coordinate moves by up to ±JITTER·noise
POINTS_RANGE = (4, 10_000)  # observations per dataset
NOISE_RANGE = (0.0, 0.5)  # 0–50 %
CLASSES_RANGE = (3, 8)  # multiclass blobs
TEST_RATIO_RANGE = (0.1, 0.9)  # share of observations held out by `split`
BUMP_WIDTH = 1.0  # multi_gaussian: standard deviation of each bump
BUMPS = np.array([  # (bumps, 3): centre x₁, centre x₂, sign of the peak
    [-4.0, 2.5, 1.0], [0.0, 2.5, -1.0], [4.0, 2.5, 1.0],
    [-4.0, -2.5, -1.0], [0.0, -2.5, 1.0], [4.0, -2.5, -1.0],
])


@dataclass(frozen=True)
class DatasetSpec:
    """Which dataset to draw, how big, how noisy and from which seed."""

    name: str  # a name in DATASETS
    points: int = 200  # observations, 4 … 10,000
    noise: float = 0.0  # 0 … 0.5 (0–50 %); what it moves depends on the dataset
    seed: int = 0  # numpy.random.default_rng(seed) is the only source of randomness
    classes: int = 3  # multiclass only: number of blobs, 3 … 8


@dataclass(frozen=True, eq=False)  # eq=False: `==` on arrays has no single truth value
class Dataset:
    """Inputs and targets of a generated dataset, and the problem they pose."""

    name: str
    problem: Problem
    inputs: Array  # (observations, 2)
    targets: Array  # (observations, 1) or (observations, classes) one-hot
    classes: int | None  # 2 for binary sets, the spec's classes for multiclass, None: regression

    @property
    def points(self) -> int:
        """Return the number of observations."""
        return int(self.inputs.shape[0])


@dataclass(frozen=True)
class Generator:
    """A named dataset: the problem it poses and how to draw it."""

    problem: Problem
    draw: Draw  # (rng, points, noise, classes) → inputs (n, 2), targets (n, k)
    description: str
    takes_classes: bool = False  # the spec's `classes` sets the number of classes


def _balanced_labels(rng: np.random.Generator, points: int, classes: int) -> Labels:
    """Return labels 0…classes−1 in counts differing by at most one, shuffled."""
    return rng.permutation(np.arange(points, dtype=np.int64) % classes)  # (observations,)


def _jitter(rng: np.random.Generator, points: int, noise: float) -> Array:
    """Return a uniform displacement of up to ±JITTER·noise per coordinate."""
    return JITTER * noise * rng.uniform(-1.0, 1.0, size=(points, 2))  # (observations, 2)


def _polar(radius: Array, angle: Array) -> Array:
    """Return the points at radius and angle (angle 0 points along +x₂, as in TF)."""
    return np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])  # (obs, 2)


def _column(labels: Labels) -> Array:
    """Return 0/1 labels as a float64 target column."""
    return labels.astype(np.float64)[:, None]  # (observations, 1)


def _one_hot(labels: Labels, classes: int) -> Array:
    """Return labels as one-hot float64 rows."""
    return np.eye(classes, dtype=np.float64)[labels]  # (observations, classes)


def _blob_std(noise: float) -> float:
    """Return the blob standard deviation: variance 0.5 at no noise, 4 at 50 %."""
    return math.sqrt(0.5 + 7.0 * noise)


def _truncated_normal(rng: np.random.Generator, centres: Array, std: float) -> Array:
    """Draw normal points around centres, redrawing coordinates outside the square."""
    points = centres + std * rng.standard_normal(centres.shape)  # (observations, 2)
    outside = np.abs(points) > RADIUS
    while outside.any():
        points[outside] = centres[outside] + std * rng.standard_normal(int(outside.sum()))
        outside = np.abs(points) > RADIUS
    return points


def _circle(
    rng: np.random.Generator, points: int, noise: float, classes: int
) -> tuple[Array, Array]:
    labels = _balanced_labels(rng, points, 2)  # 1: inner disk, 0: outer ring
    u = rng.uniform(size=points)  # (observations,)
    radius = np.where(labels == 1, 2.5 * u, 3.5 + 1.5 * u)  # disk r < 2.5, ring 3.5 ≤ r < 5
    angle = rng.uniform(0.0, 2.0 * np.pi, size=points)  # (observations,)
    return _polar(radius, angle) + _jitter(rng, points, noise), _column(labels)


def _xor(
    rng: np.random.Generator, points: int, noise: float, classes: int
) -> tuple[Array, Array]:
    labels = _balanced_labels(rng, points, 2)  # 1: x₁·x₂ > 0, 0: x₁·x₂ < 0
    sign1 = rng.choice(np.array([-1.0, 1.0]), size=points)  # (observations,)
    sign2 = np.where(labels == 1, sign1, -sign1)  # (observations,)
    magnitude = rng.uniform(0.3, 5.0, size=(points, 2))  # 0.3 keeps clean points off the axes
    inputs = magnitude * np.column_stack([sign1, sign2])  # (observations, 2)
    return inputs + _jitter(rng, points, noise), _column(labels)


def _gaussian(
    rng: np.random.Generator, points: int, noise: float, classes: int
) -> tuple[Array, Array]:
    labels = _balanced_labels(rng, points, 2)  # 1: around (2, 2), 0: around (−2, −2)
    centres = np.repeat(np.where(labels == 1, 2.0, -2.0)[:, None], 2, axis=1)  # (obs, 2)
    return _truncated_normal(rng, centres, _blob_std(noise)), _column(labels)


def _spiral(
    rng: np.random.Generator, points: int, noise: float, classes: int
) -> tuple[Array, Array]:
    labels = _balanced_labels(rng, points, 2)  # 1: first arm, 0: the arm turned by π
    u = rng.uniform(size=points)  # position along the arm: centre 0, tip 1
    angle = 3.5 * np.pi * u + np.pi * (labels == 0)  # 1.75 turns
    return _polar(5.0 * u, angle) + _jitter(rng, points, noise), _column(labels)


def _multiclass(
    rng: np.random.Generator, points: int, noise: float, classes: int
) -> tuple[Array, Array]:
    labels = _balanced_labels(rng, points, classes)  # class c: the blob at angle 2πc/classes
    centres = _polar(np.full(points, 4.0), 2.0 * np.pi * labels / classes)  # (obs, 2)
    return _truncated_normal(rng, centres, _blob_std(noise)), _one_hot(labels, classes)


def _read_at(rng: np.random.Generator, inputs: Array, noise: float) -> Array:
    """Return where the target is read: each input moved by U(−6, 6)·noise per coordinate."""
    return inputs + noise * rng.uniform(-RADIUS, RADIUS, size=inputs.shape)  # (obs, 2)


def bump_surface(points: Array) -> Array:
    """Return the multi_gaussian surface: at each point, the strongest signed bump."""
    d2 = ((points[:, None, :] - BUMPS[None, :, :2]) ** 2).sum(axis=2)  # (observations, bumps)
    values = BUMPS[:, 2] * np.exp(-d2 / (2.0 * BUMP_WIDTH**2))  # (observations, bumps)
    strongest = np.argmax(np.abs(values), axis=1)  # (observations,)
    picked: Array = values[np.arange(points.shape[0]), strongest]  # (observations,)
    return picked


def _plane(
    rng: np.random.Generator, points: int, noise: float, classes: int
) -> tuple[Array, Array]:
    inputs = rng.uniform(-RADIUS, RADIUS, size=(points, 2))  # (observations, 2)
    level = _read_at(rng, inputs, noise).sum(axis=1) / (2.0 * RADIUS)  # (x₁ + x₂) / 12
    return inputs, np.clip(level, -1.0, 1.0)[:, None]  # (observations, 1)


def _multi_gaussian(
    rng: np.random.Generator, points: int, noise: float, classes: int
) -> tuple[Array, Array]:
    inputs = rng.uniform(-RADIUS, RADIUS, size=(points, 2))  # (observations, 2)
    return inputs, bump_surface(_read_at(rng, inputs, noise))[:, None]  # (observations, 1)


DATASETS: dict[str, Generator] = {
    "circle": Generator(
        "classification", _circle, "A disk of 1s (r < 2.5) inside a ring of 0s (3.5 ≤ r < 5)."
    ),
    "xor": Generator(
        "classification", _xor, "1 where x₁ and x₂ share a sign, 0 where they differ."
    ),
    "gaussian": Generator(
        "classification", _gaussian, "Two gaussian blobs: 1s around (2, 2), 0s around (−2, −2)."
    ),
    "spiral": Generator(
        "classification", _spiral, "Two interleaved spiral arms of 1.75 turns, 1s and 0s."
    ),
    "plane": Generator(
        "regression", _plane, "A tilted plane: target (x₁ + x₂) / 12, from −1 to 1."
    ),
    "multi_gaussian": Generator(
        "regression", _multi_gaussian, "Six gaussian bumps, peaks alternating +1 and −1."
    ),
    "multiclass": Generator(
        "classification",
        _multiclass,
        "3 to 8 gaussian blobs around a circle of radius 4, one class each, one-hot targets.",
        takes_classes=True,
    ),
}


def _whole(field: str, value: Any, low: int, high: int | None = None) -> int:
    """Return value as an int in [low, high], or raise SpecError naming the field."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not ok or value < low or (high is not None and value > high):
        where = f"in [{low}, {high}]" if high is not None else f"≥ {low}"
        limit: Any = [low, high] if high is not None else low
        raise SpecError(field, f"must be a whole number {where}, got {value!r}", limit)
    return int(value)


def _number(field: str, value: Any, low: float, high: float) -> float:
    """Return value as a finite float in [low, high], or raise SpecError naming the field."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise SpecError(field, f"must be a number in [{low}, {high}], got {value!r}", [low, high])
    return float(value)


def _generator(spec: DatasetSpec) -> Generator:
    """Check every field of the spec and return its generator, or raise SpecError."""
    if not isinstance(spec.name, str) or spec.name not in DATASETS:
        known = ", ".join(DATASETS)
        raise SpecError("dataset.name", f"unknown dataset {spec.name!r}; choose one of {known}")
    _whole("dataset.points", spec.points, *POINTS_RANGE)
    _number("dataset.noise", spec.noise, *NOISE_RANGE)
    _whole("dataset.seed", spec.seed, 0)
    gen = DATASETS[spec.name]
    if gen.takes_classes:
        _whole("dataset.classes", spec.classes, *CLASSES_RANGE)
    return gen


def generate(spec: DatasetSpec) -> Dataset:
    """Draw the dataset the spec names; the same spec gives bit-identical arrays."""
    gen = _generator(spec)
    classes = int(spec.classes) if gen.takes_classes else 2
    rng = np.random.default_rng(int(spec.seed))
    inputs, targets = gen.draw(rng, int(spec.points), float(spec.noise), classes)
    count = classes if gen.problem == "classification" else None
    return Dataset(spec.name, gen.problem, inputs, targets, count)


def split(dataset: Dataset, test_ratio: float, seed: int) -> tuple[Dataset, Dataset]:
    """Return (train, test): a seeded permutation with round(n·test_ratio) rows held out."""
    ratio = _number("dataset.test_ratio", test_ratio, *TEST_RATIO_RANGE)
    _whole("dataset.split_seed", seed, 0)
    n = dataset.points
    if n < 2:
        raise SpecError("dataset.points", f"needs at least 2 observations to split, got {n}", 2)
    held_out = min(max(round(n * ratio), 1), n - 1)  # both parts non-empty
    order = np.random.default_rng(int(seed)).permutation(n)  # (observations,)
    train, test = order[held_out:], order[:held_out]
    return (
        replace(dataset, inputs=dataset.inputs[train], targets=dataset.targets[train]),
        replace(dataset, inputs=dataset.inputs[test], targets=dataset.targets[test]),
    )


@dataclass(frozen=True)
class Feature:
    """An input feature computed from (x₁, x₂), with its TensorFlow Playground label."""

    label: str
    compute: Callable[[Array], Array]  # (observations, 2) → (observations,)


FEATURES: dict[str, Feature] = {
    "x1": Feature("x₁", lambda x: x[:, 0]),
    "x2": Feature("x₂", lambda x: x[:, 1]),
    "x1_squared": Feature("x₁²", lambda x: x[:, 0] ** 2),
    "x2_squared": Feature("x₂²", lambda x: x[:, 1] ** 2),
    "x1_times_x2": Feature("x₁x₂", lambda x: x[:, 0] * x[:, 1]),
    "sin_x1": Feature("sin x₁", lambda x: np.sin(x[:, 0])),
    "sin_x2": Feature("sin x₂", lambda x: np.sin(x[:, 1])),
}


def featurize(inputs: ArrayLike, names: Sequence[str]) -> Array:
    """Return the named features of (x₁, x₂) inputs, one column per name, in order."""
    known = ", ".join(FEATURES)
    if isinstance(names, str) or len(names) == 0:
        raise SpecError("features", f"needs a list of at least one feature from {known}", 1)
    unknown = [name for name in names if not isinstance(name, str) or name not in FEATURES]
    if unknown:
        raise SpecError("features", f"unknown feature {unknown[0]!r}; choose from {known}")
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise SpecError("features", f"lists {', '.join(repeated)} more than once")
    x = as_matrix(inputs, "inputs")
    if x.shape[1] != 2:
        raise SpecError("inputs", f"rows need 2 values (x₁, x₂), got {x.shape[1]}", 2)
    return np.column_stack([FEATURES[name].compute(x) for name in names])  # (obs, features)


def accuracy(outputs: ArrayLike, targets: ArrayLike, threshold: float = 0.5) -> float:
    """Return the share of observations classified right.

    One output column: the prediction is 1 when the output exceeds `threshold` (0.5 for
    a sigmoid, 0 for tanh); several columns: the arg-max class against the target's.
    """
    out = np.asarray(outputs, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if out.shape[1] == 1:
        right = (out[:, 0] > threshold) == (y[:, 0] > 0.5)
    else:
        right = out.argmax(axis=1) == y.argmax(axis=1)
    return float(right.mean()) if right.size else 0.0
