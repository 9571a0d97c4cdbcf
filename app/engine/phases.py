"""The phase stepper: one training step taken one phase at a time.

Phases, in order: forward layer 1 … L, loss, backward layer L … 1, update. The stepper's
position is a single integer (how many phases are done), so it is trivially saved; every
matrix computed so far is read from the step's trace, which is fully determined by the
parameters, data and optimiser state. Running every phase lands exactly where one training
step does: the update phase's parameters are the trace's new parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from .trace import Trace


@dataclass(frozen=True)
class Phase:
    """One phase: its kind and the layer it concerns (None for loss and update)."""

    kind: str  # forward | loss | backward | update
    layer: int | None

    @property
    def label(self) -> str:
        """Return a short human label, e.g. 'forward layer 2'."""
        return self.kind if self.layer is None else f"{self.kind} layer {self.layer}"

    @property
    def quantities(self) -> tuple[str, ...]:
        """Return the names of the matrices this phase computes."""
        return {
            "forward": ("z", "a"),
            "loss": ("loss", "loss_per_observation"),
            "backward": ("dloss_da", "da_dz", "delta", "grad_weights", "grad_biases"),
            "update": ("update",),
        }[self.kind]


def phases(transitions: int) -> tuple[Phase, ...]:
    """Return every phase of one step for a network with L = transitions."""
    fwd = [Phase("forward", l) for l in range(1, transitions + 1)]
    bwd = [Phase("backward", l) for l in range(transitions, 0, -1)]
    return (*fwd, Phase("loss", None), *bwd, Phase("update", None))


@dataclass(frozen=True)
class StepperView:
    """What the stepper shows at one position: phases done, the one just done, the next."""

    position: int  # phases completed, 0 … len(phases)
    phases: tuple[Phase, ...]
    trace: Trace

    @property
    def done(self) -> tuple[Phase, ...]:
        """Return the phases completed so far."""
        return self.phases[: self.position]

    @property
    def just_computed(self) -> Phase | None:
        """Return the phase completed last, if any."""
        return self.phases[self.position - 1] if self.position else None

    @property
    def next(self) -> Phase | None:
        """Return the phase the next click computes, or None when the step is complete."""
        return self.phases[self.position] if self.position < len(self.phases) else None

    @property
    def complete(self) -> bool:
        """Return True once the update has been computed."""
        return self.position == len(self.phases)

    def forward_layers(self) -> list[int]:
        """Return the layers whose z and a are computed."""
        return [p.layer for p in self.done if p.kind == "forward" and p.layer is not None]

    def backward_layers(self) -> list[int]:
        """Return the layers whose backward quantities are computed."""
        return [p.layer for p in self.done if p.kind == "backward" and p.layer is not None]

    def has(self, kind: str) -> bool:
        """Return True when a phase of this kind (loss, update) is done."""
        return any(p.kind == kind for p in self.done)


def view(trace: Trace, position: int) -> StepperView:
    """Return the stepper at `position` (clamped to 0 … number of phases)."""
    all_phases = phases(len(trace.forward))
    return StepperView(max(0, min(position, len(all_phases))), all_phases, trace)
