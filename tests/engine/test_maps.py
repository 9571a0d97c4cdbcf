"""Maps over the input plane: the grid's orientation, every neuron's map, the feature maps.

Neuron maps are checked against the independent reference of conftest.py (autograd.numpy,
written from DESIGN.md's formulas) fed with features computed here from their formulas,
and against the engine's own `forward` on `featurize` of the grid (the same numbers, bit
for bit, since the maps are one batched forward pass).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.engine.datasets import RADIUS, featurize
from app.engine.initializers import initialize
from app.engine.maps import input_maps, neuron_maps, plane
from app.engine.spec import InitSpec, NetworkSpec, validate
from app.engine.trace import forward

FEATURE_FORMULAS = {  # name → its formula, written independently of datasets.FEATURES
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1_squared": lambda x1, x2: x1 * x1,
    "x2_squared": lambda x1, x2: x2 * x2,
    "x1_times_x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}
NETS = [  # (features, layers after the input, hidden, output)
    (["x1", "x2"], (4, 2, 1), "tanh", "sigmoid"),
    (["x1", "x2", "x1_squared", "x2_squared", "sin_x1", "sin_x2"], (8, 8, 8, 1), "tanh", "sigmoid"),
    (["x1_times_x2", "sin_x2"], (5, 3), "relu", "softmax"),
    (["x1", "x2", "x1_squared"], (3, 1), "leaky_relu", "linear"),
]


def _spec(
    features: list[str], sizes: tuple[int, ...], hidden: str, output: str, seed: int = 3
) -> NetworkSpec:
    return validate(
        NetworkSpec(
            layers=(len(features), *sizes),
            hidden_activation=hidden,
            output_activation=output,
            init=InitSpec(scheme="xavier_normal", seed=seed, bias=0.1),
        )
    )


# --- plane: the grid ---------------------------------------------------------------------


def test_plane_coordinates_run_from_minus_to_plus_bound() -> None:
    xs, _ = plane(7, 3.0)
    assert np.array_equal(xs, np.linspace(-3.0, 3.0, 7))


def test_plane_has_resolution_squared_points_of_two_coordinates() -> None:
    _, points = plane(9)
    assert points.shape == (81, 2)


def test_plane_default_bound_is_the_datasets_square() -> None:
    xs, points = plane(5)
    assert xs[0] == -RADIUS
    assert xs[-1] == RADIUS
    assert np.abs(points).max() == RADIUS


def test_plane_first_row_is_the_top_edge_left_to_right() -> None:
    xs, points = plane(6, 4.0)
    first = points[:6]  # the image's top row
    assert np.all(first[:, 1] == 4.0)  # x₂ = +bound
    assert np.array_equal(first[:, 0], xs)  # x₁ from −bound to +bound


def test_plane_last_row_is_the_bottom_edge() -> None:
    xs, points = plane(6, 4.0)
    last = points[-6:]
    assert np.all(last[:, 1] == -4.0)
    assert np.array_equal(last[:, 0], xs)


def test_plane_reshaped_is_an_image_the_right_way_up() -> None:
    resolution = 5
    _, points = plane(resolution, 2.0)
    x1 = points[:, 0].reshape(resolution, resolution)  # (rows top→bottom, columns left→right)
    x2 = points[:, 1].reshape(resolution, resolution)
    assert np.all(np.diff(x1, axis=1) > 0)  # x₁ grows to the right
    assert np.all(np.diff(x1, axis=0) == 0)
    assert np.all(np.diff(x2, axis=0) < 0)  # x₂ falls downwards: +bound at the top
    assert np.all(np.diff(x2, axis=1) == 0)
    assert (x1[0, 0], x2[0, 0]) == (-2.0, 2.0)  # top-left pixel
    assert (x1[-1, -1], x2[-1, -1]) == (2.0, -2.0)  # bottom-right pixel


# --- neuron_maps --------------------------------------------------------------------------


@pytest.mark.parametrize(("features", "sizes", "hidden", "output"), NETS)
def test_neuron_maps_give_one_grid_of_activations_per_layer(
    features: list[str], sizes: tuple[int, ...], hidden: str, output: str
) -> None:
    spec = _spec(features, sizes, hidden, output)
    maps = neuron_maps(spec, initialize(spec), features, 11)
    assert [m.shape for m in maps] == [(121, n) for n in sizes]


@pytest.mark.parametrize(("features", "sizes", "hidden", "output"), NETS)
def test_neuron_maps_equal_forward_on_the_featurized_grid(
    features: list[str], sizes: tuple[int, ...], hidden: str, output: str
) -> None:
    spec = _spec(features, sizes, hidden, output)
    params = initialize(spec)
    _, points = plane(13)
    want = [f.a for f in forward(spec, params, featurize(points, features))]
    got = neuron_maps(spec, params, features, 13)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)


@pytest.mark.parametrize(("features", "sizes", "hidden", "output"), NETS)
def test_neuron_maps_match_the_independent_reference(
    features: list[str], sizes: tuple[int, ...], hidden: str, output: str, reference: Any
) -> None:
    spec = _spec(features, sizes, hidden, output)
    params = initialize(spec)
    resolution = 12
    grid = np.linspace(-RADIUS, RADIUS, resolution)
    x1 = np.tile(grid, resolution)  # row by row from the top: x₁ runs fastest
    x2 = np.repeat(grid[::-1], resolution)
    x = np.column_stack([FEATURE_FORMULAS[f](x1, x2) for f in features])
    arrays = [a for t in params for a in (t.weights, t.biases)]
    want = [a for _, a in reference.forward(spec.transition_activations, arrays, x)]
    got = neuron_maps(spec, params, features, resolution)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)


def test_neuron_maps_of_a_softmax_output_are_probabilities() -> None:
    features, sizes, hidden, output = NETS[2]
    spec = _spec(features, sizes, hidden, output)
    out = neuron_maps(spec, initialize(spec), features, 9)[-1]
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_neuron_maps_do_not_warn_when_large_weights_saturate() -> None:
    spec = validate(
        NetworkSpec(
            layers=(1, 2, 1),
            hidden_activation="sigmoid",
            output_activation="sigmoid",
            init=InitSpec(scheme="constant", value=-500.0),
        )
    )
    maps = neuron_maps(spec, initialize(spec), ["x1_squared"], 5)  # z down to −18,000
    assert maps[0][0, 0] == 0.0  # top-left corner: e^−z overflowed to inf, so σ is exactly 0
    assert np.all(np.isfinite(maps[-1]))


# --- input_maps ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FEATURE_FORMULAS))
def test_input_map_column_is_the_features_formula(name: str) -> None:
    _, points = plane(15)
    want = FEATURE_FORMULAS[name](points[:, 0], points[:, 1])
    got = input_maps([name], 15)
    assert got.shape == (225, 1)
    np.testing.assert_allclose(got[:, 0], want, rtol=0, atol=1e-15)


def test_input_maps_stack_columns_in_the_order_asked() -> None:
    names = ["sin_x2", "x1", "x1_times_x2", "x2_squared"]
    _, points = plane(8)
    got = input_maps(names, 8)
    want = np.column_stack([FEATURE_FORMULAS[n](points[:, 0], points[:, 1]) for n in names])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_input_map_of_x2_is_largest_on_the_top_row() -> None:
    resolution = 10
    image = input_maps(["x2"], resolution)[:, 0].reshape(resolution, resolution)
    assert np.all(image[0] == RADIUS)
    assert np.all(image[-1] == -RADIUS)
