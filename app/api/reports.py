"""Response models of what a session reports beyond its summary: its spec, its
diagnostics and its export document.

They describe what `app.engine.spec.spec_to_dict`, `serialize.diagnostics_out` and
`app.sessions.documents.export` produce, so that `/openapi.json` gives a generated client
typed objects, not `{}`; `tests/api/test_openapi_contract.py` checks every response
against them. The diagnostics and the export are sent as built (the models document them,
they do not filter them), and `POST /import` reads the document itself, refusing what it
cannot use with the field named. Unknown fields are allowed (responses may grow); a
number that is not finite is sent as null.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InitOut(BaseModel):
    """The initialisation: every field of the spec, used or not by its scheme."""

    scheme: str
    seed: int
    bias: float
    value: float
    low: float
    high: float
    mean: float
    std: float
    gain: float


class OptimizerOut(BaseModel):
    """The optimiser and all its hyper-parameters."""

    name: str
    learning_rate: float
    momentum: float
    nesterov: bool
    rho: float
    epsilon: float
    beta1: float
    beta2: float


class RegularizationOut(BaseModel):
    """The weight penalty."""

    kind: str
    rate: float


class SpecFieldsOut(BaseModel):
    """A network spec without its data."""

    layers: list[int]
    hidden_activation: str
    output_activation: str
    activations: list[str] | None
    loss: str
    init: InitOut
    optimizer: OptimizerOut
    regularization: RegularizationOut
    batch_size: int | None
    shuffle_seed: int | None


class SpecOut(SpecFieldsOut):
    """A session's spec and its data."""

    inputs: list[list[float]] = Field(description="observations × inputs")
    targets: list[list[float]] = Field(description="observations × outputs")


class DatasetOut(BaseModel):
    """The recipe of a generated 2-D dataset (every field filled in since features came;
    a session saved before may lack some)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    points: int | None = None
    noise: float | None = None
    seed: int | None = None
    classes: int | None = None
    test_ratio: float | None = None
    features: list[str] | None = None
    # and `edited: true` once its data was edited by hand (passed through, as sent)


class DivergenceOut(BaseModel):
    """Where training met its first non-finite value."""

    step: int
    layer: int | None
    quantity: str


class PackedArray(BaseModel):
    """A large session's array: little-endian float64 bytes, base64, and the shape."""

    float64_base64: str
    shape: list[int]


Numbers = list[list[float | None]] | list[float | None] | PackedArray


class ExportSpecOut(SpecFieldsOut):
    """The spec of an export, its data as lists or packed."""

    inputs: list[list[float]] | PackedArray
    targets: list[list[float]] | PackedArray


class ExportParametersOut(BaseModel):
    """One transition's weights (fan_in × fan_out) and biases (fan_out)."""

    weights: list[list[float | None]] | PackedArray
    biases: list[float | None] | PackedArray


class OptimizerStateOut(BaseModel):
    """The optimiser's step count and its slots (one array per weight or bias array)."""

    t: int
    slots: dict[str, list[Numbers]]


class ProgressOut(BaseModel):
    """The training position: steps, epochs, and the next observation of the epoch."""

    step: int
    epoch: int
    cursor: int


class CurveOut(BaseModel):
    """A loss curve: the step of each point and its loss."""

    step: list[int]
    loss: list[float | None]


class ProblemOut(BaseModel):
    """A generated 2-D problem: its recipe and its arrays."""

    recipe: DatasetOut
    kind: str = Field(description="classification or regression")
    classes: int | None
    plane_train: Numbers
    plane_test: Numbers
    test_inputs: Numbers
    test_targets: Numbers


class ExportOut(BaseModel):
    """The document that recreates a session exactly (`POST /import` reads it)."""

    format: Literal["backprop-playground/session"]
    version: int
    exported_at: float
    title: str
    example: str | None
    spec: ExportSpecOut
    parameters: list[ExportParametersOut]
    initial_parameters: list[ExportParametersOut]
    optimizer_state: OptimizerStateOut
    progress: ProgressOut
    history: CurveOut
    edits: list[int]
    status: Literal["ok", "diverged"]
    divergence: DivergenceOut | None
    problem: ProblemOut | None
    test_history: CurveOut


class SampledOut(BaseModel):
    """What a response built from a trace leaves out, and why (`app/sessions/costs.py`)."""

    observations_shown: int = Field(description="the first rows of the batch, traced")
    observations_total: int = Field(description="the rows of the step's batch")
    left_out: list[str] = Field(description="fields left out to keep the response small")
    message: str


class HistoryOut(BaseModel):
    """Loss per step (decimated beyond the configured number of points)."""

    step: list[int]
    loss: list[float]
    test_step: list[int] = []
    test_loss: list[float] = []
    edits: list[int]
    total_points: int


class GradientEntryOut(BaseModel):
    """One parameter's gradient: backprop's against central finite differences."""

    transition: int
    kind: Literal["weights", "biases"]
    index: list[int] = Field(description="(row, column) of a weight, (column,) of a bias")
    analytic: float | None
    numeric: float | None
    relative_error: float | None


class GradientCheckOut(BaseModel):
    """The finite-difference check of the gradient (a sample on large networks)."""

    epsilon: float
    checked: int
    total: int
    sampled: bool = Field(False, description="a seeded sample of the parameters was checked")
    seed: int | None = Field(None, description="the sample's seed")
    max_relative_error: float | None
    entries: list[GradientEntryOut]


class LayerSymmetryOut(BaseModel):
    """One hidden layer's groups of interchangeable neurons."""

    layer: int
    width: int
    effective_width: int
    groups: list[list[int]]
    message: str = Field(description="one sentence, empty when the layer has no symmetry")


class SymmetryOut(BaseModel):
    """The symmetry of the hidden layers, and why it matters."""

    layers: list[LayerSymmetryOut]
    symmetric: bool
    explanation: str


class ActivityOut(BaseModel):
    """One layer's saturated and dead units."""

    layer: int
    activation: str
    saturated: list[int]
    saturated_fraction: float
    dead: list[int]


class GradientNormOut(BaseModel):
    """One layer's gradient and weight sizes."""

    layer: int
    gradient_norm: float | None
    bias_gradient_norm: float | None
    weight_norm: float | None
    update_ratio: float | None


class DiagnosticsOut(BaseModel):
    """Gradient check, symmetry groups, saturation, dead units and gradient sizes."""

    step: int
    observations_shown: int | None = Field(None, description="the rows the trace covers")
    observations_total: int | None = Field(None, description="the rows of the step's batch")
    sampled: SampledOut | None = None
    gradient_check: GradientCheckOut
    symmetry: SymmetryOut
    activity: list[ActivityOut]
    gradients: list[GradientNormOut]
    divergence: DivergenceOut | None
    status: Literal["ok", "diverged"]
