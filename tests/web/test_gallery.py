"""Every card of the landing page trains cleanly at its defaults: the loss never climbs back
far above its best once training has started, and a 2-D card ends well classified (or, for
regression, with a test loss far below its start).

"Ten seconds of Play" is a count here, never a clock: EPOCHS epochs, fewer than the
page's Play trains in ten seconds at 1× (bench/browser.py measures its epochs per second).
"""

from __future__ import annotations

import numpy as np
import pytest

from app.sessions.service import SessionService
from app.sessions.stores.memory import MemoryStore
from app.settings import Settings
from app.web.gallery import CARDS, EXAMPLES, PLANES

EPOCHS = 600
SPIKE = 0.1  # past the first tenth, the loss stays within this share of its start of its best
ACCURACY = 0.9  # test accuracy a classification card reaches


@pytest.fixture(scope="module")
def service() -> SessionService:
    return SessionService(MemoryStore(), Settings(store="memory", create_rate=0))


def _train(service: SessionService, card: str) -> tuple[SessionService, str, list[float]]:
    s = service.create(CARDS[card].body)
    rows = s.inputs.shape[0]
    per_epoch = -(-rows // (s.spec.batch_size or rows))
    losses = [float(s.loss or 0.0)]
    for _ in range(EPOCHS // 20):
        s = service.step(s.id, 20 * per_epoch).session
        assert s.status == "ok", f"{card} diverged"
        losses.append(float(s.loss or 0.0))
    return service, s.id, losses


def _no_spike(losses: list[float], card: str) -> None:
    loss = np.array(losses)
    best = np.minimum.accumulate(loss)
    start = max(1, len(loss) // 10)
    worst = float(np.max(loss[start:] - best[start:]))
    assert worst <= SPIKE * loss[0], f"{card}: the loss climbed {worst:.3g} above its best"


@pytest.mark.parametrize("card", list(PLANES))
def test_every_2d_card_trains_cleanly(service: SessionService, card: str) -> None:
    service, sid, losses = _train(service, card)
    _no_spike(losses, card)
    s = service.get(sid)
    _, test_accuracy = service.accuracies(s)
    if test_accuracy is not None:
        assert test_accuracy >= ACCURACY, f"{card}: test accuracy {test_accuracy}"
    else:
        assert s.problem is not None
        first = s.test_losses[0]
        assert service.test_loss(s) is not None
        assert service.test_loss(s) < 0.5 * first, f"{card}: test loss {first} → ..."


@pytest.mark.parametrize("card", list(EXAMPLES))
def test_every_example_card_trains_without_a_spike(service: SessionService, card: str) -> None:
    _, _, losses = _train(service, card)
    _no_spike(losses, card)
    assert losses[-1] < losses[0]
