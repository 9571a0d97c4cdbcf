"""Numerical stability: no overflow warning and no NaN for |z| up to 1e4 (warnings are errors)."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.activations import ACTIVATIONS, activate
from app.engine.losses import LOSSES

Z = np.array([[-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4]])  # (1, 7)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_is_finite_at_extremes(name: str) -> None:
    a = activate(name, Z)
    assert np.isfinite(a).all()


def test_sigmoid_is_exactly_0_and_1_at_the_far_ends() -> None:
    a = activate("sigmoid", Z)
    assert a[0, 0] == 0.0
    assert a[0, -1] == 1.0
    assert a[0, 3] == 0.5


def test_softmax_rows_sum_to_one_at_extremes() -> None:
    a = activate("softmax", Z)
    assert a.sum() == pytest.approx(1.0)
    assert a[0, -1] == 1.0


def test_binary_cross_entropy_is_finite_when_sigmoid_saturates() -> None:
    z = np.array([[1e4], [-1e4], [40.0]])
    a = activate("sigmoid", z)
    y = np.array([[0.0], [1.0], [0.0]])
    value = LOSSES["binary_cross_entropy"].value(z, a, y)
    # The wrong side of a saturated sigmoid costs |z| nats: (1e4 + 1e4 + 40) / 3.
    assert value == pytest.approx((1e4 + 1e4 + 40.0) / 3, rel=1e-12)


def test_cross_entropy_is_finite_when_softmax_saturates() -> None:
    z = np.array([[1e4, -1e4, 0.0]])
    a = activate("softmax", z)
    y = np.array([[0.0, 1.0, 0.0]])
    assert LOSSES["cross_entropy"].value(z, a, y) == pytest.approx(2e4, rel=1e-12)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "cross_entropy"])
def test_log_loss_gradient_stays_finite_at_saturation(name: str) -> None:
    out = "sigmoid" if name == "binary_cross_entropy" else "softmax"
    z = np.array([[1e4, -1e4]])
    a = activate(out, z)
    y = np.array([[0.0, 1.0]])
    assert np.isfinite(LOSSES[name].dloss_da(a, y)).all()
