"""A session: one network with its data, parameters, optimiser state and history.

These are the domain's classes, plain data. How a session is stored — as bytes, in
parts, in a store — is the storage wing's business (`app.sessions.storage`); three fields
of `Session` still carry that wing's bookkeeping for it (`packed`, `stored`, `derived`:
what was encoded and saved, and a remembered trace), never part of the session's data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.engine.optimizers import OptimizerState
from app.engine.params import Parameters
from app.engine.spec import NetworkSpec
from app.engine.train import Progress

from . import history
from .history import Losses, Steps

Array = NDArray[np.float64]


@dataclass
class Divergence:
    """Where training met its first non-finite value."""

    step: int
    layer: int | None
    quantity: str

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {"step": self.step, "layer": self.layer, "quantity": self.quantity}


@dataclass
class Snapshot:
    """What undo restores: everything an edit or a training run can change."""

    label: str
    spec: NetworkSpec
    inputs: Array
    targets: Array
    parameters: Parameters
    state: OptimizerState
    progress: Progress
    history_len: int
    status: str
    loss: float | None
    problem: Problem | None = None
    at: float = 0.0  # when it was taken (training steps close together share one entry)


@dataclass
class Problem:
    """A generated 2-D problem: its recipe, its plane points and its held-out test data."""

    recipe: dict[str, Any]  # dataset (name, points, noise, seed, classes), test_ratio, features
    kind: str  # classification | regression
    classes: int | None
    plane_train: Array  # (train observations, 2): the points, before features
    plane_test: Array  # (test observations, 2)
    test_inputs: Array  # (test observations, features)
    test_targets: Array  # (test observations, outputs)


@dataclass
class Session:
    """Everything about one network, as stored."""

    id: str
    spec: NetworkSpec
    inputs: Array  # (observations, inputs)
    targets: Array  # (observations, outputs)
    parameters: Parameters
    initial: Parameters  # what "reset" restores
    state: OptimizerState
    created_at: float
    updated_at: float
    version: int = 1
    progress: Progress = field(default_factory=Progress)
    history_steps: Steps = field(default_factory=lambda: history.empty()[0])  # (points,)
    history_losses: Losses = field(default_factory=lambda: history.empty()[1])  # (points,)
    edits: list[int] = field(default_factory=list)  # steps at which the spec was edited
    phase: int = 0  # phase-stepper position
    status: str = "ok"  # ok | diverged
    divergence: Divergence | None = None
    loss: float | None = None  # over all the data, for the current parameters
    title: str = ""
    example: str | None = None
    playing: bool = False  # a page is playing it (frames keep coming until paused)
    play_until: float | None = None  # Play stops once every output is this close to its target
    problem: Problem | None = None  # set when the data was generated from a dataset
    test_steps: Steps = field(default_factory=lambda: history.empty()[0])  # with a test loss
    test_losses: Losses = field(default_factory=lambda: history.empty()[1])
    undo: list[Snapshot] = field(default_factory=list)
    redo: list[Snapshot] = field(default_factory=list)
    # Not the session's state: what other parts of the app remember about it, each opaque
    # here and owned elsewhere (they ride on the session because `cache.working_copy`
    # copies them and the service reads and writes them by these names).
    # The storage codec's encodings, reused while the objects they came from are the same.
    packed: dict[str, tuple[tuple[Any, ...], Any]] = field(
        default_factory=dict, repr=False, compare=False)
    # What the store holds of it, as the service last saved or read it: (version, parts).
    stored: tuple[int, tuple[Any, ...]] | None = field(default=None, repr=False,
                                                      compare=False)
    # The service's traces, by the rows asked for, each with the objects it came from
    # (see `reading.trace_of`); never stored.
    derived: dict[Any, tuple[tuple[Any, ...], Any]] = field(
        default_factory=dict, repr=False, compare=False)

    def snapshot(self, label: str) -> Snapshot:
        """Return what undo needs to come back to the current state."""
        return Snapshot(label, self.spec, self.inputs, self.targets, self.parameters,
                        self.state.copy(), self.progress, len(self.history_steps),
                        self.status, self.loss, self.problem, time.time())
