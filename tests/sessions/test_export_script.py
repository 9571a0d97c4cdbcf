"""The take-home NumPy script: it stands alone and ends where the engine's training ends.

Each case builds a session straight from the engine (no web layer), exports it with
`documents.export`, writes `numpy_script` to a file and runs it in a fresh interpreter.
Its final parameters and progress, read from the script's marker lines, are compared with
`Trainer.run` continuing from the same parameters, optimiser state and progress.
"""

from __future__ import annotations

import ast
import json
import runpy
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from app.engine import examples
from app.engine.initializers import initialize
from app.engine.optimizers import new_state
from app.engine.params import flat
from app.engine.spec import (
    InitSpec,
    NetworkSpec,
    OptimizerSpec,
    RegularizationSpec,
    validate,
)
from app.engine.train import Progress, RunResult, Trainer
from app.sessions import documents
from app.sessions.export_script import PARAMETERS_MARKER, PROGRESS_MARKER, numpy_script
from app.sessions.model import Session

Array = NDArray[np.float64]
ITERATIONS = 25  # updates each script takes: enough to cross several epochs, still fast
ROWS = 7  # observations of the generated cases (batch 3 of 7 leaves a last batch of 1)
RTOL = ATOL = 1e-10  # W and b apart (script) vs augmented (engine): rounding only
SGD = OptimizerSpec(name="sgd", learning_rate=0.3)


@dataclass(frozen=True)
class Case:
    """A session to export: a named example, or a generated network and its data."""

    example: str | None = None  # a name in app.engine.examples; the fields below then unused
    layers: tuple[int, ...] = (3, 4, 2)
    hidden: str = "tanh"
    output: str = "sigmoid"
    activations: tuple[str, ...] | None = None  # per-transition override
    loss: str = "mse"
    optimizer: OptimizerSpec = SGD
    regularization: RegularizationSpec = field(default_factory=RegularizationSpec)
    batch_size: int | None = None  # None = full batch
    shuffle_seed: int | None = None
    pretrain: int = 0  # engine updates taken before the export


CASES: dict[str, Case] = {
    "origin": Case(example="origin"),
    "xor": Case(example="xor"),
    "momentum": Case(optimizer=OptimizerSpec(name="momentum", learning_rate=0.1, momentum=0.8)),
    "nesterov": Case(optimizer=OptimizerSpec(name="momentum", learning_rate=0.1, momentum=0.8,
                                             nesterov=True)),
    "rmsprop": Case(optimizer=OptimizerSpec(name="rmsprop", learning_rate=0.01, rho=0.9)),
    "adam": Case(optimizer=OptimizerSpec(name="adam", learning_rate=0.01)),
    "sse-tanh": Case(output="tanh", loss="sse", optimizer=OptimizerSpec(learning_rate=0.02)),
    "mse-linear": Case(output="linear"),
    "mse-tanh": Case(output="tanh"),
    "bce-sigmoid": Case(loss="binary_cross_entropy"),
    "ce-softmax": Case(layers=(3, 4, 3), output="softmax", loss="cross_entropy"),
    "sse-softmax": Case(layers=(3, 4, 3), output="softmax", loss="sse"),
    "hidden-sigmoid": Case(hidden="sigmoid"),
    "hidden-relu": Case(hidden="relu"),
    "hidden-leaky_relu": Case(hidden="leaky_relu"),
    "hidden-linear": Case(hidden="linear"),
    "per-transition": Case(layers=(3, 5, 4, 2), activations=("relu", "sigmoid", "linear")),
    "l1": Case(regularization=RegularizationSpec(kind="l1", rate=0.01)),
    "l2": Case(regularization=RegularizationSpec(kind="l2", rate=0.05)),
    "mini-batch": Case(batch_size=3),
    "mini-batch-shuffle-seed": Case(batch_size=2, shuffle_seed=11),
    "batch-above-rows": Case(batch_size=10),
    "trained-full-batch-momentum": Case(
        optimizer=OptimizerSpec(name="momentum", learning_rate=0.1, momentum=0.8), pretrain=9),
    "trained-mini-batch-adam": Case(layers=(3, 4, 3, 2), hidden="leaky_relu", batch_size=3,
                                    optimizer=OptimizerSpec(name="adam", learning_rate=0.01),
                                    pretrain=11),
    "trained-mini-batch-rmsprop-l2": Case(
        batch_size=3, optimizer=OptimizerSpec(name="rmsprop", learning_rate=0.01),
        regularization=RegularizationSpec(kind="l2", rate=0.05), pretrain=5),
}

COMMON = {"forward", "backward", "train_step", "full_loss", "train", "to_json", "main",
          "update", "loss"}
DEFINED = {  # case → the functions its script defines beyond COMMON
    "origin": {"sigmoid", "sigmoid_derivative", "loss_gradient"},
    "xor": {"tanh", "tanh_derivative", "sigmoid", "sigmoid_derivative", "log_sigmoid",
            "output_delta"},
    "ce-softmax": {"tanh", "tanh_derivative", "softmax", "softmax_derivative", "log_softmax",
                   "output_delta"},
    "l1": {"tanh", "tanh_derivative", "sigmoid", "sigmoid_derivative", "loss_gradient",
           "penalty_gradient"},
    "mini-batch": {"tanh", "tanh_derivative", "sigmoid", "sigmoid_derivative", "loss_gradient",
                   "batch_order"},
    "per-transition": {"relu", "relu_derivative", "sigmoid", "sigmoid_derivative", "linear",
                       "linear_derivative", "loss_gradient"},
}


@dataclass(frozen=True)
class ScriptRun:
    """What a script printed: its final parameters, progress and last loss report."""

    parameters: list[dict[str, Any]]
    progress: dict[str, int]
    last_loss: float


def _data(case: Case, spec: NetworkSpec) -> tuple[Array, Array]:
    """Return seeded inputs and targets that fit the case's loss."""
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 1.0, size=(ROWS, spec.layers[0]))  # (observations, inputs)
    outputs = spec.layers[-1]
    if case.loss == "cross_entropy":
        return x, rng.dirichlet(np.ones(outputs), size=ROWS)  # rows of probabilities
    return x, rng.uniform(0.0, 1.0, size=(ROWS, outputs))  # (observations, outputs)


def _session(case: Case) -> Session:
    """Build the case's session with the engine, pre-trained if the case asks."""
    if case.example is not None:
        ex = examples.build(case.example)
        spec, x, y, params = ex.spec, ex.inputs, ex.targets, ex.parameters
    else:
        spec = validate(NetworkSpec(
            layers=case.layers, hidden_activation=case.hidden, output_activation=case.output,
            activations=case.activations, loss=case.loss, init=InitSpec(seed=3, bias=0.1),
            optimizer=case.optimizer, regularization=case.regularization,
            batch_size=case.batch_size, shuffle_seed=case.shuffle_seed,
        ))
        x, y = _data(case, spec)
        params = initialize(spec)
    state, progress, initial = new_state(spec.optimizer, flat(params)), Progress(), params
    if case.pretrain:
        run = Trainer(spec, x, y).run(params, state, progress, case.pretrain)
        params, state, progress = run.parameters, run.state, run.progress
    return Session("case", spec, x, y, params, initial, state, 0.0, 0.0, progress=progress,
                   title=case.example or "test case", example=case.example)


def _document(session: Session) -> dict[str, Any]:
    """Return the session's export as it arrives over the wire (through JSON)."""
    doc: dict[str, Any] = json.loads(json.dumps(documents.export(session)))
    return doc


def _engine(session: Session, iterations: int = ITERATIONS) -> RunResult:
    """Return the engine's own run continuing from the session."""
    return Trainer(session.spec, session.inputs, session.targets).run(
        session.parameters, session.state.copy(), session.progress, iterations)


def _parse(stdout: str) -> ScriptRun:
    """Read the marker lines and the last loss report from a script's output."""
    lines = stdout.splitlines()
    params = [ln.removeprefix(PARAMETERS_MARKER) for ln in lines
              if ln.startswith(PARAMETERS_MARKER)]
    progress = [ln.removeprefix(PROGRESS_MARKER) for ln in lines
                if ln.startswith(PROGRESS_MARKER)]
    reports = [ln for ln in lines if ln.startswith("step ")]
    assert len(params) == len(progress) == 1, stdout
    return ScriptRun(json.loads(params[0]), json.loads(progress[0]),
                     float(reports[-1].split("loss ")[1].split()[0]))


def _run(path: Path, source: str) -> ScriptRun:
    """Write the script, run it in a fresh interpreter and parse what it printed."""
    path.write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          encoding="utf-8", timeout=60, check=True)
    return _parse(done.stdout)


@pytest.fixture(scope="module")
def script_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ScriptRun]:
    """Run each case's script once per module and remember what it printed."""
    done: dict[str, ScriptRun] = {}

    def run(name: str) -> ScriptRun:
        if name not in done:
            source = numpy_script(_document(_session(CASES[name])), ITERATIONS)
            done[name] = _run(tmp_path_factory.mktemp(name) / "script.py", source)
        return done[name]

    return run


def _source(name: str) -> str:
    """Return the script generated for a case."""
    return numpy_script(_document(_session(CASES[name])), ITERATIONS)


@pytest.mark.parametrize("name", CASES)
def test_final_parameters_match_the_engine(
    name: str, script_run: Callable[[str], ScriptRun]
) -> None:
    """The script's parameters after its updates equal the engine's after the same updates."""
    expected = _engine(_session(CASES[name])).parameters
    got = script_run(name).parameters
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(np.array(g["weights"]), e.weights, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(np.array(g["biases"]), e.biases, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", CASES)
def test_final_progress_matches_the_engine(
    name: str, script_run: Callable[[str], ScriptRun]
) -> None:
    """The script ends at the engine's step, epoch and cursor."""
    p = _engine(_session(CASES[name])).progress
    assert script_run(name).progress == {"step": p.step, "epoch": p.epoch, "cursor": p.cursor}


@pytest.mark.parametrize("name", ["origin", "xor", "ce-softmax", "mini-batch", "l2"])
def test_last_reported_loss_matches_the_engine(
    name: str, script_run: Callable[[str], ScriptRun]
) -> None:
    """The script's last loss report is the engine's loss over all the data after its run."""
    expected = _engine(_session(CASES[name])).loss
    np.testing.assert_allclose(script_run(name).last_loss, expected, rtol=RTOL, atol=ATOL)


def test_zero_iterations_print_the_exported_parameters_exactly(tmp_path: Path) -> None:
    """With no updates the printed parameters are the exported ones, bit for bit."""
    session = _session(CASES["trained-mini-batch-adam"])
    got = _run(tmp_path / "script.py", numpy_script(_document(session), 0)).parameters
    for g, t in zip(got, session.parameters, strict=True):
        assert np.array_equal(np.array(g["weights"]), t.weights)
        assert np.array_equal(np.array(g["biases"]), t.biases)


@pytest.mark.parametrize("name", CASES)
def test_script_embeds_the_exported_numbers_exactly(name: str, tmp_path: Path) -> None:
    """Data, parameters and optimiser state come back bit for bit from the script's literals."""
    session = _session(CASES[name])
    path = tmp_path / "script.py"
    path.write_text(_source(name), encoding="utf-8")
    ns = runpy.run_path(str(path), run_name="embedded")  # defines, does not train
    embedded = [*ns["WEIGHTS"], *ns["BIASES"], ns["INPUTS"], ns["TARGETS"],
                *(a for arrays in ns["OPTIMIZER_SLOTS"].values() for a in arrays)]
    exported = [*(t.weights for t in session.parameters), *(t.biases for t in session.parameters),
                session.inputs, session.targets,
                *(a for arrays in session.state.slots.values() for a in arrays)]
    assert all(np.array_equal(e, x) for e, x in zip(embedded, exported, strict=True))
    assert ns["UPDATES_TAKEN"] == session.state.t


@pytest.mark.parametrize("name", CASES)
def test_script_imports_only_numpy(name: str) -> None:
    """The script's only import is NumPy: a learner needs nothing else."""
    tree = ast.parse(_source(name))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    assert imported == {"numpy"}
    assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))


@pytest.mark.parametrize("name", CASES)
def test_script_is_valid_python(name: str) -> None:
    """The script compiles."""
    compile(_source(name), "script.py", "exec")


@pytest.mark.parametrize("name", DEFINED)
def test_script_defines_only_what_the_spec_uses(name: str) -> None:
    """Only the case's activations (with derivatives), loss, penalty and batching appear."""
    tree = ast.parse(_source(name))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert defined == COMMON | DEFINED[name]


def test_docstring_says_what_the_script_is_and_how_to_run_it() -> None:
    """The module docstring names its origin, the spec and the command that runs it."""
    doc = ast.get_docstring(ast.parse(_source("trained-mini-batch-adam")))
    assert doc is not None
    for phrase in ("generated by Backprop Playground", "layers: 3-4-3-2", "adam",
                   "3 of 7 rows", "step 11", "python script.py", PARAMETERS_MARKER.strip()):
        assert phrase in doc


@pytest.mark.parametrize("iterations", [-1, 2.5, True])
def test_iterations_must_be_a_whole_number_at_least_zero(iterations: Any) -> None:
    """A bad iteration count is refused, naming the argument."""
    with pytest.raises(ValueError, match="iterations"):
        numpy_script(_document(_session(CASES["origin"])), iterations)
