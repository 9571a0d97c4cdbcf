"""Pydantic models of the JSON API, split by role: spec fields, Create, Update, Public.

Requests forbid unknown fields and every number must be finite (NaN and ±Infinity are
refused with the cell named). Types are strict: a count is a JSON integer (not "10", 1.0
or true), a number is a JSON number, a flag is true or false — what a client meant is
never guessed. Server-owned fields (id, step, version) are not in any request model, so
they cannot be set. Responses never contain NaN: a non-finite value is sent as null and
the session reports itself diverged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationInfo
from pydantic import field_validator as validates
from pydantic_core import PydanticCustomError

from app.engine.spec import INIT_MAGNITUDE

from .reports import DatasetOut, DivergenceOut, SampledOut, SpecOut

Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Matrix = list[list[Finite]]
MaybeMatrix = list[list[float | None]]  # responses: null where a value is not finite
NonNegative = Annotated[int, Field(strict=True, ge=0)]
Positive = Annotated[int, Field(strict=True, ge=1)]
InitNumber = Annotated[float, Field(strict=True, ge=-INIT_MAGNITUDE, le=INIT_MAGNITUDE,
                                    allow_inf_nan=False)]
InitScale = Annotated[float, Field(strict=True, ge=0, le=INIT_MAGNITUDE, allow_inf_nan=False)]

ORIGIN_EXAMPLE: dict[str, Any] = {"example": "origin"}
SPEC_EXAMPLE: dict[str, Any] = {
    "layers": [2, 3, 3, 2],
    "hidden_activation": "sigmoid",
    "output_activation": "sigmoid",
    "loss": "sse",
    "init": {"scheme": "xavier_uniform", "seed": 0, "bias": 0.0},
    "optimizer": {"name": "sgd", "learning_rate": 0.5},
    "inputs": [[0.8, 0.4], [0.3, 0.3]],
    "targets": [[0.2, 0.4], [1.0, 0.0]],
}


class Strict(BaseModel):
    """Base of every request model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class InitFields(Strict):
    """Initialisation: the scheme, its parameters, the seed, and the bias constant."""

    scheme: str | None = Field(None, examples=["xavier_uniform"], description=(
        "constant, zeros, uniform, normal, xavier_uniform, xavier_normal, he_uniform, "
        "he_normal, lecun_normal, orthogonal"))
    seed: NonNegative | None = None
    bias: InitNumber | None = Field(None, description="every bias starts here (origin: 1)")
    value: InitNumber | None = Field(None, description="constant: the weight value")
    low: InitNumber | None = Field(None, description="uniform: below high")
    high: InitNumber | None = None
    mean: InitNumber | None = None
    std: InitScale | None = Field(None, description="normal: the spread, ≥ 0")
    gain: InitScale | None = Field(None, description="xavier, he, lecun, orthogonal: ≥ 0")


class OptimizerFields(Strict):
    """The optimiser and its hyper-parameters."""

    name: str | None = Field(None, examples=["sgd"], description="sgd, momentum, rmsprop, adam")
    learning_rate: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None
    momentum: Finite | None = None
    nesterov: StrictBool | None = None
    rho: Finite | None = None
    epsilon: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None
    beta1: Finite | None = None
    beta2: Finite | None = None


class RegularizationFields(Strict):
    """Weight penalty: none, l1 or l2, and its rate."""

    kind: Literal["none", "l1", "l2"] | None = None
    rate: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None


class ParametersEntry(Strict):
    """One transition's explicit weights (fan_in × fan_out) and/or biases (fan_out)."""

    weights: Matrix | None = None
    biases: list[Finite] | None = None


class DatasetFields(Strict):
    """A generated 2-D dataset: circle, xor, gaussian, spiral, multiclass; plane and
    multi_gaussian for regression. Generates inputs and targets (and held-out test data)."""

    name: str | None = Field(None, examples=["circle"])
    points: Annotated[int, Field(strict=True, ge=4)] | None = Field(None,
                                                                 description="observations")
    noise: Annotated[float, Field(strict=True, ge=0, le=0.5, allow_inf_nan=False)] | None = None
    seed: NonNegative | None = None
    classes: Annotated[int, Field(strict=True, ge=3, le=8)] | None = Field(
        None, description="multiclass")
    test_ratio: Annotated[float, Field(strict=True, ge=0.1, le=0.9,
                                       allow_inf_nan=False)] | None = None
    features: list[str] | None = Field(None, description=(
        "x1, x2, x1_squared, x2_squared, x1_times_x2, sin_x1, sin_x2"))


class CsvFields(Strict):
    """Your own data: a CSV or TSV with a header row, and the columns to use."""

    text: Annotated[str, Field(min_length=1)]
    inputs: list[str] = Field(description="header names (or 0-based numbers) of the inputs")
    targets: list[str] = Field(description="header names (or 0-based numbers) of the targets")


class SpecFields(Strict):
    """The fields of a network spec and its data (all optional here)."""

    layers: list[StrictInt] | None = Field(None, examples=[[2, 3, 3, 2]],
                                     description="neurons per layer, input first")
    hidden_activation: str | None = Field(
        None, description="sigmoid, tanh, relu, leaky_relu, linear")
    output_activation: str | None = Field(None, description="… or softmax")
    activations: list[str] | None = Field(
        None, description="one per transition; overrides hidden/output_activation")
    loss: str | None = Field(None, description="sse, mse, binary_cross_entropy, cross_entropy")
    init: InitFields | None = None
    optimizer: OptimizerFields | None = None
    regularization: RegularizationFields | None = None
    batch_size: Positive | None = Field(None, description="null = full batch")
    shuffle_seed: NonNegative | None = Field(None, description="null = the init seed")
    inputs: Matrix | None = Field(None, description="observations × inputs")
    targets: Matrix | None = Field(None, description="observations × outputs")
    dataset: DatasetFields | None = Field(None, description="generate the data instead "
                                          "(not with inputs or targets)")

    @validates("dataset")
    @classmethod
    def _one_source(cls, dataset: DatasetFields | None,
                    info: ValidationInfo) -> DatasetFields | None:
        """Refuse a dataset beside explicit data (one of them would be ignored)."""
        given = [k for k in ("inputs", "targets") if info.data.get(k) is not None]
        if dataset is not None and given:
            raise _conflict("dataset", given)
        return dataset


def _conflict(field: str, others: list[str]) -> PydanticCustomError:
    """Return the error for two sources of data in one request."""
    names = " and ".join(others)
    return PydanticCustomError("conflict", f"{field} and {names} cannot be given together: "
                               "choose one source of data", {"with": names})


class SessionCreate(SpecFields):
    """Create a session from a spec and data, or from a named example."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [ORIGIN_EXAMPLE, SPEC_EXAMPLE]})

    example: str | None = Field(None, description="origin or xor; other fields override it")
    csv: CsvFields | None = Field(None, description="take inputs and targets from a CSV "
                                  "(not with example, dataset, inputs or targets)")
    title: Annotated[str, Field(max_length=200)] | None = None
    parameters: list[ParametersEntry | None] | None = Field(
        None, description="explicit starting matrices, one entry per transition")

    @validates("csv")
    @classmethod
    def _csv_alone(cls, csv: CsvFields | None, info: ValidationInfo) -> CsvFields | None:
        """Refuse a CSV beside any other source of data (it would be ignored, or them)."""
        given = [k for k in ("example", "dataset", "inputs", "targets")
                 if info.data.get(k) is not None]
        if csv is not None and given:
            raise _conflict("csv", given)
        return csv


class CellEdit(Strict):
    """Set one weight (row, column) or one bias (column) of a transition."""

    transition: NonNegative
    kind: Literal["weights", "biases"]
    row: NonNegative | None = None
    column: NonNegative
    value: Finite


class DataCellEdit(Strict):
    """Set one input or target value."""

    kind: Literal["inputs", "targets"]
    row: NonNegative
    column: NonNegative
    value: Finite


class SessionUpdate(SpecFields):
    """Edit a session: spec, data, hyper-parameters, whole matrices or single cells."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"optimizer": {"learning_rate": 0.1}},
        {"layers": [2, 4, 3, 2]},
        {"cells": [{"transition": 0, "kind": "weights", "row": 0, "column": 1, "value": 0.5}]},
    ]})

    title: Annotated[str, Field(max_length=200)] | None = None
    parameters: list[ParametersEntry | None] | None = None
    cells: list[CellEdit] | None = None
    data_cells: list[DataCellEdit] | None = None


class ForkRequest(SessionUpdate):
    """Copy a session, optionally changed; `reinitialize` draws fresh parameters."""

    reinitialize: StrictBool = False


class StepRequest(Strict):
    """Train this many parameter updates."""

    iterations: Positive = Field(1, examples=[1000])


class PhaseRequest(Strict):
    """Advance the phase stepper."""

    action: Literal["next", "restart", "apply"] = "next"


class CheckRequest(Strict):
    """A learner's hand-computed matrix to check against the current step."""

    quantity: Literal["z", "a", "dloss_da", "da_dz", "delta", "grad_weights", "grad_biases",
                      "update"]
    layer: Annotated[int, Field(strict=True, ge=1)]
    values: Matrix | list[Finite]
    tolerance: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] | None = Field(
        None, description="default 5e-8: right to the 7th decimal")


class ParametersOut(BaseModel):
    """One transition's parameters."""

    weights: MaybeMatrix
    biases: list[float | None]


class SessionView(BaseModel):
    """A session as its view token shows it (`/api/views/{token}`): everything but the id."""

    view_token: str | None = Field(description="the read-only name: page /v/{view_token}, "
                                   "reads /api/views/{view_token} (null: not recordable now)")
    version: int
    title: str
    example: str | None
    step: int
    epoch: int
    spec: SpecOut
    parameters: list[ParametersOut]
    outputs: MaybeMatrix
    loss: float | None
    penalty: float
    status: Literal["ok", "diverged"]
    divergence: DivergenceOut | None
    phase: int
    can_undo: bool
    can_redo: bool
    created_at: float
    updated_at: float
    expires_at: float
    dataset: DatasetOut | None = None
    test_loss: float | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None


class SessionPublic(SessionView):
    """A session as the API shows it to whoever holds its id (which lets them change it)."""

    id: str


class StepResult(BaseModel):
    """What a step request did."""

    step: int
    epoch: int
    iterations_run: int
    truncated: bool
    loss: float | None
    status: Literal["ok", "diverged"]
    divergence: DivergenceOut | None
    version: int


class ForwardOut(BaseModel):
    """Layer l of the forward pass."""

    layer: int
    activation: str
    z: MaybeMatrix
    a: MaybeMatrix
    input_augmented: MaybeMatrix | None = None


class BackwardOut(BaseModel):
    """Layer l of the backward pass."""

    layer: int
    dloss_da: MaybeMatrix
    da_dz: MaybeMatrix | None
    delta: MaybeMatrix
    combined: str | None
    grad_weights: MaybeMatrix
    grad_biases: list[float | None]
    dloss_da_below: MaybeMatrix
    grad_augmented: MaybeMatrix | None = None


class UpdateOut(BaseModel):
    """The optimiser's step on one transition."""

    transition: int
    gradient_weights: MaybeMatrix | None = Field(description=(
        "null when a large trace leaves it out: backward's grad_weights (no penalty)"))
    gradient_biases: list[float | None] | None
    penalty_gradient: MaybeMatrix | None = Field(description=(
        "null when a large trace leaves it out: gradient_weights − grad_weights"))
    step_weights: MaybeMatrix
    step_biases: list[float | None]
    weights: MaybeMatrix
    biases: list[float | None]
    augmented: MaybeMatrix | None = None


class TraceOut(BaseModel):
    """The step the current parameters would take (over the first observations of a batch
    too large for one trace: `sampled` says so)."""

    step: int
    observations: list[int]
    forward: list[ForwardOut]
    loss: float | None
    loss_per_observation: list[float | None]
    penalty: float | None
    backward: list[BackwardOut]
    update: list[UpdateOut]
    optimizer_state: dict[str, Any]
    observations_shown: int | None = None
    observations_total: int | None = None
    sampled: SampledOut | None = None


class PhaseOut(BaseModel):
    """The phase stepper: where it stands and what was just computed."""

    position: int
    phases: list[str]
    just_computed: str | None
    next: str | None
    complete: bool
    step: int
    computed: dict[str, Any]
    observations_shown: int | None = None
    observations_total: int | None = None
    sampled: SampledOut | None = None


class CheckOut(BaseModel):
    """Per-cell verdicts on a learner's matrix."""

    quantity: str
    layer: int
    tolerance: float
    all_correct: bool
    correct: list[list[bool]]
    expected: MaybeMatrix
    submitted: Matrix
    augmented: bool
    first_wrong: dict[str, Any] | None


class ErrorBody(BaseModel):
    """The body of every error."""

    code: str
    message: str
    field: str | None
    limit: Any = None


class ErrorOut(BaseModel):
    """Every 4xx and 5xx has this one shape."""

    error: ErrorBody
