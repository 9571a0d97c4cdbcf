"""Each initialiser reads exactly the fields FIELDS lists (the page shows only those)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.engine.initializers import FIELDS, INITIALIZERS
from app.engine.spec import InitSpec

OTHER = {"seed": 7, "value": 0.37, "low": -0.2, "high": 0.9, "mean": 0.4, "std": 2.5,
         "gain": 1.7}


def test_every_scheme_lists_its_fields() -> None:
    assert set(FIELDS) == set(INITIALIZERS)


@pytest.mark.parametrize("scheme", list(INITIALIZERS))
@pytest.mark.parametrize("name", list(OTHER))
def test_a_scheme_depends_on_a_field_exactly_when_it_lists_it(scheme: str, name: str) -> None:
    base = InitSpec(scheme=scheme)
    changed = replace(base, **{name: OTHER[name]})

    def draw(init: InitSpec) -> np.ndarray:
        rng = np.random.default_rng(init.seed)
        return INITIALIZERS[scheme](rng, 4, 3, init)

    assert (not np.array_equal(draw(base), draw(changed))) == (name in FIELDS[scheme])
