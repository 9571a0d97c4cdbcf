"""The session service on the memory store: lifetime, history, undo, play, divergence."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.engine.trace import predict
from app.sessions.errors import ServiceError
from app.sessions.history import decimate
from app.sessions.service import SessionService
from app.sessions.stores.memory import MemoryStore
from app.settings import Settings


def _service(**limits: object) -> SessionService:
    return SessionService(MemoryStore(), Settings(store="memory", **limits))  # type: ignore[arg-type]


def test_idle_sessions_expire_after_their_lifetime() -> None:
    service = _service(session_ttl_days=0.2 / 86_400)  # 0.2 s
    sid = service.create({"example": "origin"}).id
    assert service.get(sid).id == sid
    time.sleep(0.3)
    with pytest.raises(ServiceError) as err:
        service.get(sid)
    assert err.value.status == 404


def test_every_change_renews_the_lifetime() -> None:
    service = _service(session_ttl_days=0.5 / 86_400)  # 0.5 s
    sid = service.create({"example": "origin"}).id
    for _ in range(4):
        time.sleep(0.2)
        service.step(sid, 1)
    assert service.get(sid).progress.step == 4


def test_a_full_store_refuses_with_503_naming_the_cap() -> None:
    service = _service(max_sessions=2)
    service.create({"example": "origin"})
    service.create({"example": "xor"})
    with pytest.raises(ServiceError) as err:
        service.create({"example": "origin"})
    assert (err.value.status, err.value.limit) == (503, 2)


def test_ids_are_128_bit_url_safe_and_unguessable() -> None:
    service = _service()
    ids = {service.create({"example": "origin"}).id for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 22 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


def test_undo_restores_parameters_and_step_and_redo_reapplies() -> None:
    service = _service()
    s = service.create({"example": "origin"})
    before = s.parameters[0].weights.copy()
    service.step(s.id, 50)
    trained = service.get(s.id).parameters[0].weights.copy()
    undone = service.undo(s.id)
    assert undone.progress.step == 0
    assert (undone.parameters[0].weights == before).all()
    redone = service.redo(s.id)
    assert redone.progress.step == 50
    assert (redone.parameters[0].weights == trained).all()


def test_undo_history_is_bounded() -> None:
    service = _service(undo_depth=3)
    sid = service.create({"example": "origin"}).id
    for n in range(1, 7):
        service.step(sid, n)  # different labels: nothing coalesces
    assert len(service.get(sid).undo) == 3


def test_training_requests_in_quick_succession_share_one_undo_entry() -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    for _ in range(5):
        service.step(sid, 1)
    s = service.get(sid)
    assert [u.label for u in s.undo] == ["train ×1"]
    assert service.undo(sid).progress.step == 0


def test_play_frames_coalesce_into_one_undo_entry() -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    service.set_playing(sid, True)
    for _ in range(4):
        assert service.play_frame(sid, lambda s: 0.01, gap=0.0) is not None
    s = service.get(sid)
    assert [u.label for u in s.undo] == ["play"]
    assert s.progress.step > 0


def test_a_session_not_playing_trains_no_frame() -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    version = service.get(sid).version
    assert service.play_frame(sid, lambda s: 0.01, gap=0.0) is None
    assert service.get(sid).version == version  # nothing saved


def test_pause_stops_later_frames() -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    service.set_playing(sid, True)
    service.play_frame(sid, lambda s: 0.01, gap=0.0)
    service.set_playing(sid, False)
    step = service.get(sid).progress.step
    assert service.play_frame(sid, lambda s: 0.01, gap=0.0) is None
    assert service.get(sid).progress.step == step


def test_a_frame_inside_the_gap_of_the_last_one_trains_nothing() -> None:
    """Two tabs driving one session: the second to come within the gap finds it done."""
    service = _service()
    sid = service.create({"example": "origin"}).id
    service.set_playing(sid, True)
    first = service.play_frame(sid, lambda s: 0.001, gap=0.0)
    assert first is not None
    assert service.play_frame(sid, lambda s: 0.001, gap=3600.0) is None
    assert service.get(sid).progress.step == first.session.progress.step


def test_release_pauses_only_a_session_whose_frames_stopped() -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    service.set_playing(sid, True)
    assert service.release_play(sid, idle=3600.0).playing  # saved a moment ago
    released = service.release_play(sid, idle=0.0)
    assert not released.playing
    assert not service.get(sid).playing


def test_play_until_stops_once_every_output_is_within_the_tolerance() -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    service.reinitialize(sid, {"scheme": "xavier_uniform", "seed": 0, "bias": 0.0})
    tolerance = 0.05
    s = service.set_playing(sid, True, until=tolerance)
    assert s.play_until == tolerance
    for _ in range(2_000):  # a bounded loop: each frame trains 20 ms at most
        outcome = service.play_frame(sid, lambda s: 0.02, gap=0.0)
        if outcome is None:
            break
    s = service.get(sid)
    assert not s.playing
    assert s.play_until is None
    outputs = predict(s.spec, s.parameters, s.inputs)
    assert float(np.max(np.abs(outputs - s.targets))) <= tolerance
    assert service.misfit(s) == float(np.max(np.abs(outputs - s.targets)))


def test_a_diverged_session_refuses_to_play() -> None:
    service = _service()
    s = service.create({"layers": [1, 1], "output_activation": "linear",
                        "optimizer": {"learning_rate": 10.0},
                        "inputs": [[3.0], [4.0]], "targets": [[1.0], [2.0]]})
    assert service.step(s.id, 5000).session.status == "diverged"
    with pytest.raises(ServiceError) as err:
        service.set_playing(s.id, True)
    assert err.value.status == 409


def test_a_diverged_session_stops_training_until_edited() -> None:
    service = _service()
    s = service.create({"layers": [1, 1], "output_activation": "linear",
                        "optimizer": {"learning_rate": 10.0},
                        "inputs": [[3.0], [4.0]], "targets": [[1.0], [2.0]]})
    outcome = service.step(s.id, 5000)
    assert outcome.session.status == "diverged"
    assert service.step(s.id, 10).iterations_run == 0
    cured = service.patch(s.id, {"optimizer": {"learning_rate": 0.001},
                                 "parameters": [{"weights": [[0.5]], "biases": [0.0]}]})
    assert cured.status == "ok"
    assert service.step(s.id, 10).iterations_run == 10


def test_changing_a_layer_size_keeps_the_other_transitions() -> None:
    service = _service()
    s = service.create({"layers": [2, 3, 3, 1], "init": {"scheme": "normal", "seed": 4},
                        "inputs": [[0.0, 1.0]], "targets": [[1.0]]})
    edited = service.patch(s.id, {"layers": [2, 3, 5, 1]})
    assert (edited.parameters[0].weights == s.parameters[0].weights).all()
    assert edited.parameters[1].weights.shape == (3, 5)
    assert edited.parameters[2].weights.shape == (5, 1)


@pytest.mark.parametrize("n", [50, 1000, 12345])
def test_decimated_history_keeps_first_last_min_and_max(n: int) -> None:
    steps = list(range(1, n + 1))
    losses = [((i * 7919) % 1000) / 10 + (500 if i == n // 3 else 0) for i in steps]
    kept_steps, kept = decimate(steps, losses, 40)
    assert len(kept) <= 40
    assert kept_steps[0] == 1
    assert kept_steps[-1] == n
    assert min(kept) == min(losses)
    assert max(kept) == max(losses)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1", True])
def test_a_data_cell_must_be_a_finite_number(value: object) -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    with pytest.raises(ServiceError) as err:
        service.patch(sid, {"data_cells": [{"kind": "inputs", "row": 0, "column": 1,
                                            "value": value}]})
    assert (err.value.status, err.value.field) == (422, "data_cells[0].value")
    assert service.get(sid).inputs[0, 1] == 0.4  # the origin's input, untouched


def test_a_data_cell_edit_changes_that_cell_only_and_undo_restores_it() -> None:
    service = _service()
    sid = service.create({"example": "origin"}).id
    before = service.get(sid)
    after = service.patch(sid, {"data_cells": [{"kind": "targets", "row": 1, "column": 0,
                                                "value": 0.25}]})
    changed = after.targets != before.targets
    assert changed.sum() == 1
    assert after.targets[1, 0] == 0.25
    assert (after.inputs == before.inputs).all()
    assert after.loss != before.loss
    restored = service.undo(sid)
    assert (restored.targets == before.targets).all()
    assert restored.loss == before.loss


def test_undoing_a_hand_edit_of_generated_data_restores_its_recipe() -> None:
    service = _service()
    sid = service.create({"dataset": {"name": "circle", "points": 40}}).id
    assert "edited" not in service.get(sid).problem.recipe  # type: ignore[union-attr]
    edited = service.patch(sid, {"data_cells": [{"kind": "inputs", "row": 0, "column": 0,
                                                 "value": 0.5}]})
    assert edited.problem is not None
    assert edited.problem.recipe["edited"] is True
    restored = service.undo(sid)
    assert restored.problem is not None
    assert "edited" not in restored.problem.recipe


def test_undoing_a_resize_leaves_initial_parameters_that_fit_and_export_round_trips() -> None:
    """Found by the API's state machine: undo restored the sizes but kept the resized
    network's initial parameters, so the export could not be imported."""
    service = _service()
    sid = service.create({"example": "origin"}).id
    service.patch(sid, {"layers": [2, 1, 3, 2]})
    s = service.undo(sid)
    assert [t.weights.shape for t in s.initial] == list(s.spec.shapes())
    copy = service.import_document(service.export(s))
    assert copy.spec.layers == (2, 3, 3, 2)
    assert service.reset(copy.id).progress.step == 0
