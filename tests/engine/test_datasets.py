"""Tests of the seeded 2-D datasets, the train/test split and the input features."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.datasets import (
    DATASETS,
    FEATURES,
    Dataset,
    DatasetSpec,
    bump_surface,
    featurize,
    generate,
    split,
)
from app.engine.spec import SpecError

NAMES = sorted(DATASETS)
CLASSIFICATION = [n for n in NAMES if DATASETS[n].problem == "classification"]
BINARY = [n for n in CLASSIFICATION if not DATASETS[n].takes_classes]
REGRESSION = [n for n in NAMES if DATASETS[n].problem == "regression"]


def _labels(data: Dataset) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Return the class index of each row (the column for binary sets, argmax for one-hot)."""
    column = data.targets[:, 0] if data.targets.shape[1] == 1 else data.targets.argmax(axis=1)
    labels: np.ndarray[Any, np.dtype[np.int64]] = column.astype(np.int64)
    return labels


def _numbered(points: int) -> Dataset:
    """Return a dataset whose row i has inputs (i, −i) and target i, to track rows."""
    ids = np.arange(points, dtype=np.float64)  # (observations,)
    return Dataset("numbered", "regression", np.column_stack([ids, -ids]), ids[:, None], None)


# --- the registry -------------------------------------------------------------------------


def test_registry_lists_the_seven_datasets() -> None:
    assert set(DATASETS) == {
        "circle", "xor", "gaussian", "spiral", "plane", "multi_gaussian", "multiclass"
    }


def test_registry_problems_match_the_datasets() -> None:
    assert set(REGRESSION) == {"plane", "multi_gaussian"}
    assert set(BINARY) == {"circle", "xor", "gaussian", "spiral"}


# --- seeding ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_same_spec_gives_bit_identical_arrays(name: str) -> None:
    spec = DatasetSpec(name, points=150, noise=0.3, seed=7)
    a, b = generate(spec), generate(spec)
    assert a.inputs.tobytes() == b.inputs.tobytes()
    assert a.targets.tobytes() == b.targets.tobytes()


@pytest.mark.parametrize("name", NAMES)
def test_different_seeds_give_different_inputs(name: str) -> None:
    a = generate(DatasetSpec(name, points=50, seed=1))
    b = generate(DatasetSpec(name, points=50, seed=2))
    assert not np.array_equal(a.inputs, b.inputs)


@pytest.mark.parametrize("name", NAMES)
def test_generate_leaves_the_global_rng_alone(name: str) -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()  # type: ignore[index]
    generate(DatasetSpec(name, points=40, noise=0.2, seed=3))
    assert np.array_equal(np.random.get_state()[1], before)  # type: ignore[index]


# --- shapes, types, ranges ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_n_by_2_float64(name: str) -> None:
    data = generate(DatasetSpec(name, points=37))
    assert data.inputs.shape == (37, 2)
    assert data.inputs.dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
def test_targets_have_one_row_per_point_and_the_right_columns(name: str) -> None:
    data = generate(DatasetSpec(name, points=37, classes=5))
    columns = 5 if name == "multiclass" else 1
    assert data.targets.shape == (37, columns)
    assert data.targets.dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_arrays_are_finite(name: str, noise: float) -> None:
    data = generate(DatasetSpec(name, points=300, noise=noise))
    assert np.isfinite(data.inputs).all()
    assert np.isfinite(data.targets).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_inputs_lie_in_the_documented_square(name: str, noise: float) -> None:
    data = generate(DatasetSpec(name, points=2000, noise=noise, classes=8))
    assert np.abs(data.inputs).max() <= 6.0


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_binary_targets_are_zero_or_one(name: str, noise: float) -> None:
    data = generate(DatasetSpec(name, points=300, noise=noise))
    assert set(np.unique(data.targets)) == {0.0, 1.0}


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_regression_targets_lie_in_minus_one_to_one(name: str, noise: float) -> None:
    data = generate(DatasetSpec(name, points=2000, noise=noise))
    assert data.targets.min() >= -1.0
    assert data.targets.max() <= 1.0


@pytest.mark.parametrize("name", CLASSIFICATION)
@pytest.mark.parametrize("points", [200, 201, 202, 7])
def test_classification_sets_are_balanced(name: str, points: int) -> None:
    data = generate(DatasetSpec(name, points=points, noise=0.5, classes=3))
    counts = np.bincount(_labels(data), minlength=data.classes or 0)
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("classes", [3, 5, 8])
def test_multiclass_rows_are_one_hot(classes: int) -> None:
    data = generate(DatasetSpec("multiclass", points=100, classes=classes))
    assert set(np.unique(data.targets)) == {0.0, 1.0}
    assert np.array_equal(data.targets.sum(axis=1), np.ones(100))


@pytest.mark.parametrize(
    ("name", "classes", "expected"),
    [("circle", 2, 2), ("spiral", 3, 2), ("multiclass", 6, 6), ("plane", 3, None)],
)
def test_dataset_records_problem_and_class_count(
    name: str, classes: int, expected: int | None
) -> None:
    data = generate(DatasetSpec(name, points=20, classes=classes))
    assert data.name == name
    assert data.problem == DATASETS[name].problem
    assert data.classes == expected


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    points=st.integers(4, 3000),
    noise=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**63),
    classes=st.integers(3, 8),
)
def test_any_valid_spec_gives_well_formed_data(
    name: str, points: int, noise: float, seed: int, classes: int
) -> None:
    data = generate(DatasetSpec(name, points=points, noise=noise, seed=seed, classes=classes))
    assert data.inputs.shape == (points, 2)
    assert data.targets.shape[0] == points
    assert np.isfinite(data.inputs).all()
    assert np.isfinite(data.targets).all()
    assert np.abs(data.inputs).max() <= 6.0
    if data.problem == "classification":
        counts = np.bincount(_labels(data), minlength=data.classes or 0)
        assert counts.max() - counts.min() <= 1
    else:
        assert np.abs(data.targets).max() <= 1.0


# --- the shapes of the clean datasets ---------------------------------------------------


def test_clean_circle_puts_ones_in_the_disk_and_zeros_in_the_ring() -> None:
    data = generate(DatasetSpec("circle", points=1000))
    radius = np.hypot(data.inputs[:, 0], data.inputs[:, 1])
    inner = data.targets[:, 0] == 1.0
    assert radius[inner].max() < 2.5
    assert radius[~inner].min() >= 3.5
    assert radius[~inner].max() < 5.0


def test_clean_xor_labels_match_the_quadrant_sign_product() -> None:
    data = generate(DatasetSpec("xor", points=1000))
    product = data.inputs[:, 0] * data.inputs[:, 1]
    assert np.array_equal(data.targets[:, 0], (product > 0).astype(np.float64))
    assert np.abs(data.inputs).min() >= 0.3


def test_clean_gaussian_blobs_centre_on_plus_and_minus_two() -> None:
    data = generate(DatasetSpec("gaussian", points=2000))
    ones = data.targets[:, 0] == 1.0
    np.testing.assert_allclose(data.inputs[ones].mean(axis=0), [2.0, 2.0], atol=0.1)
    np.testing.assert_allclose(data.inputs[~ones].mean(axis=0), [-2.0, -2.0], atol=0.1)


def test_clean_spiral_points_lie_on_their_arms() -> None:
    data = generate(DatasetSpec("spiral", points=500))
    x1, x2 = data.inputs[:, 0], data.inputs[:, 1]
    u = np.hypot(x1, x2) / 5.0  # position along the arm
    turn = np.where(data.targets[:, 0] == 1.0, 0.0, math.pi)
    angle = 1.75 * 2.0 * math.pi * u + turn
    np.testing.assert_allclose(x1, 5.0 * u * np.sin(angle), atol=1e-9)
    np.testing.assert_allclose(x2, 5.0 * u * np.cos(angle), atol=1e-9)


@pytest.mark.parametrize("classes", [3, 8])
def test_clean_multiclass_blobs_sit_on_a_circle_of_radius_four(classes: int) -> None:
    data = generate(DatasetSpec("multiclass", points=400 * classes, classes=classes))
    labels = _labels(data)
    for c in range(classes):
        angle = 2.0 * math.pi * c / classes
        centre = [4.0 * math.sin(angle), 4.0 * math.cos(angle)]
        np.testing.assert_allclose(data.inputs[labels == c].mean(axis=0), centre, atol=0.15)


def test_clean_plane_target_is_the_sum_over_twelve() -> None:
    data = generate(DatasetSpec("plane", points=500))
    expected = (data.inputs[:, 0] + data.inputs[:, 1]) / 12.0
    np.testing.assert_allclose(data.targets[:, 0], expected, rtol=0, atol=1e-15)


def _reference_bumps(x1: float, x2: float) -> float:
    """Return the strongest of six unit gaussian bumps at (±4 or 0, ±2.5), signs alternating."""
    bumps = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
    values = [s * math.exp(-((x1 - cx) ** 2 + (x2 - cy) ** 2) / 2.0) for cx, cy, s in bumps]
    return max(values, key=abs)


def test_clean_multi_gaussian_target_is_the_strongest_bump() -> None:
    data = generate(DatasetSpec("multi_gaussian", points=300))
    expected = [_reference_bumps(float(a), float(b)) for a, b in data.inputs]
    np.testing.assert_allclose(data.targets[:, 0], expected, rtol=1e-12, atol=1e-15)


def test_bump_surface_peaks_at_plus_and_minus_one() -> None:
    centres = np.array([[-4.0, 2.5], [0.0, 2.5], [4.0, -2.5]])  # (3, 2)
    np.testing.assert_allclose(bump_surface(centres), [1.0, -1.0, -1.0], atol=1e-6)


# --- noise ----------------------------------------------------------------------------


def test_noise_carries_circle_points_across_the_gap() -> None:
    data = generate(DatasetSpec("circle", points=1000, noise=0.5))
    radius = np.hypot(data.inputs[:, 0], data.inputs[:, 1])
    inner = data.targets[:, 0] == 1.0
    assert radius[inner].max() > 3.0
    assert radius[~inner].min() < 3.0


def test_noise_widens_the_gaussian_blobs() -> None:
    clean = generate(DatasetSpec("gaussian", points=2000, noise=0.0))
    noisy = generate(DatasetSpec("gaussian", points=2000, noise=0.5))
    clean_ones, noisy_ones = clean.targets[:, 0] == 1.0, noisy.targets[:, 0] == 1.0
    assert clean.inputs[clean_ones, 0].std() < 1.0
    assert noisy.inputs[noisy_ones, 0].std() > 1.5


def test_noise_makes_plane_targets_depart_from_the_plane() -> None:
    data = generate(DatasetSpec("plane", points=500, noise=0.5))
    clean = (data.inputs[:, 0] + data.inputs[:, 1]) / 12.0
    assert np.abs(data.targets[:, 0] - clean).max() > 0.2


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_noise_bounds_are_accepted(name: str, noise: float) -> None:
    assert generate(DatasetSpec(name, points=10, noise=noise)).points == 10


@pytest.mark.parametrize("noise", [-0.01, 0.51, math.nan, math.inf, "0.1", True])
def test_noise_out_of_range_raises_naming_the_field(noise: Any) -> None:
    with pytest.raises(SpecError) as err:
        generate(DatasetSpec("circle", noise=noise))
    assert err.value.field == "dataset.noise"
    assert err.value.limit == [0.0, 0.5]


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["moons", "", "Circle", 3])
def test_unknown_dataset_name_raises(name: Any) -> None:
    with pytest.raises(SpecError) as err:
        generate(DatasetSpec(name))
    assert err.value.field == "dataset.name"


@pytest.mark.parametrize("points", [3, 10_001, 0, -5, 2.5, True, "200"])
def test_points_out_of_range_raise_with_the_limit(points: Any) -> None:
    with pytest.raises(SpecError) as err:
        generate(DatasetSpec("xor", points=points))
    assert err.value.field == "dataset.points"
    assert err.value.limit == [4, 10_000]


@pytest.mark.parametrize("points", [4, 10_000, np.int64(50)])
def test_points_at_the_limits_are_accepted(points: Any) -> None:
    assert generate(DatasetSpec("spiral", points=points)).points == int(points)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_bad_seed_raises(seed: Any) -> None:
    with pytest.raises(SpecError) as err:
        generate(DatasetSpec("gaussian", seed=seed))
    assert err.value.field == "dataset.seed"


@pytest.mark.parametrize("classes", [2, 9, 0, 3.0])
def test_multiclass_classes_out_of_range_raise(classes: Any) -> None:
    with pytest.raises(SpecError) as err:
        generate(DatasetSpec("multiclass", classes=classes))
    assert err.value.field == "dataset.classes"
    assert err.value.limit == [3, 8]


def test_binary_sets_ignore_the_classes_field() -> None:
    data = generate(DatasetSpec("circle", points=20, classes=99))
    assert data.classes == 2


# --- split ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "ratio", "held_out"),
    [(200, 0.25, 50), (10, 0.5, 5), (201, 0.3, 60), (4, 0.1, 1), (4, 0.9, 3), (100, 0.9, 90)],
)
def test_split_holds_out_the_rounded_share(points: int, ratio: float, held_out: int) -> None:
    train, test = split(_numbered(points), ratio, seed=0)
    assert (train.points, test.points) == (points - held_out, held_out)


def test_split_parts_are_disjoint_and_cover_every_row() -> None:
    train, test = split(_numbered(300), 0.3, seed=5)
    ids = np.concatenate([train.inputs[:, 0], test.inputs[:, 0]])
    assert np.array_equal(np.sort(ids), np.arange(300.0))


def test_split_keeps_each_target_with_its_inputs() -> None:
    train, test = split(_numbered(50), 0.4, seed=2)
    for part in (train, test):
        assert np.array_equal(part.targets[:, 0], part.inputs[:, 0])
        assert np.array_equal(part.inputs[:, 1], -part.inputs[:, 0])


def test_split_is_seeded() -> None:
    data = generate(DatasetSpec("circle", points=100, seed=4))
    a, b, c = split(data, 0.2, seed=9), split(data, 0.2, seed=9), split(data, 0.2, seed=10)
    assert np.array_equal(a[1].inputs, b[1].inputs)
    assert not np.array_equal(a[1].inputs, c[1].inputs)


def test_split_keeps_name_problem_and_classes() -> None:
    data = generate(DatasetSpec("multiclass", points=60, classes=4))
    for part in split(data, 0.5, seed=0):
        assert (part.name, part.problem, part.classes) == ("multiclass", "classification", 4)
        assert part.targets.shape[1] == 4


@pytest.mark.parametrize("ratio", [0.09, 0.91, 0.0, 1.0, math.nan, "0.2"])
def test_split_ratio_out_of_range_raises(ratio: Any) -> None:
    with pytest.raises(SpecError) as err:
        split(_numbered(20), ratio, seed=0)
    assert err.value.field == "dataset.test_ratio"
    assert err.value.limit == [0.1, 0.9]


def test_split_negative_seed_raises() -> None:
    with pytest.raises(SpecError) as err:
        split(_numbered(20), 0.2, seed=-1)
    assert err.value.field == "dataset.split_seed"


def test_split_of_one_row_raises() -> None:
    with pytest.raises(SpecError) as err:
        split(_numbered(1), 0.5, seed=0)
    assert err.value.field == "dataset.points"


# --- features -------------------------------------------------------------------------

REFERENCE_FEATURES: dict[str, Callable[[float, float], float]] = {
    "x1": lambda a, b: a,
    "x2": lambda a, b: b,
    "x1_squared": lambda a, b: a * a,
    "x2_squared": lambda a, b: b * b,
    "x1_times_x2": lambda a, b: a * b,
    "sin_x1": lambda a, b: math.sin(a),
    "sin_x2": lambda a, b: math.sin(b),
}


def test_features_registry_has_the_playground_labels() -> None:
    assert {name: f.label for name, f in FEATURES.items()} == {
        "x1": "x₁", "x2": "x₂", "x1_squared": "x₁²", "x2_squared": "x₂²",
        "x1_times_x2": "x₁x₂", "sin_x1": "sin x₁", "sin_x2": "sin x₂",
    }


@pytest.mark.parametrize("name", sorted(REFERENCE_FEATURES))
def test_feature_matches_its_formula(name: str) -> None:
    inputs = generate(DatasetSpec("gaussian", points=50, noise=0.5)).inputs
    expected = [REFERENCE_FEATURES[name](float(a), float(b)) for a, b in inputs]
    np.testing.assert_allclose(FEATURES[name].compute(inputs), expected, rtol=1e-15)


def test_featurize_stacks_one_column_per_name_in_order() -> None:
    inputs = np.array([[1.0, 2.0], [-3.0, 0.5], [0.0, -4.0]])  # (3, 2)
    out = featurize(inputs, ["x2", "x1_times_x2", "x1"])
    expected = np.array([[2.0, 2.0, 1.0], [0.5, -1.5, -3.0], [-4.0, -0.0, 0.0]])
    assert out.shape == (3, 3)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("names", [[], ["x3"], ["x1", "x1"], ["x1", "sin_x2", "x1"], "x1"])
def test_featurize_rejects_bad_names(names: Any) -> None:
    with pytest.raises(SpecError) as err:
        featurize(np.zeros((3, 2)), names)
    assert err.value.field == "features"


def test_featurize_rejects_inputs_without_two_columns() -> None:
    with pytest.raises(SpecError) as err:
        featurize(np.zeros((3, 3)), ["x1"])
    assert err.value.field == "inputs"
