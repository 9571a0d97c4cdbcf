"""The terminal trace prints the question's tables."""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pytest

from app.cli import main


def test_trace_prints_the_origin_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--example", "origin"]) == 0
    out = capsys.readouterr().out
    assert "| 1   0.8   0.4 | 2.2 | 2.2 | 2.2 |" in out.replace("|   1", "| 1")
    assert "[[0.9002495, 0.9002495, 0.9002495]," in out
    assert "| 0.9758906   0.9705753 |   0.028122 |  0.0580562 |" in out
    assert "Effective width 1 of 3" in out


def test_trace_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    main(["trace", "--example", "origin"])
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 80


def test_iterations_train_first(capsys: pytest.CaptureFixture[str]) -> None:
    main(["trace", "--example", "origin", "--iterations", "1000", "--phase", "3"])
    out = capsys.readouterr().out
    assert "step 1000" in out
    block = out.split("a³ = sigmoid(n³):\n", 1)[1].split("\n\n", 1)[0]
    printed = ast.literal_eval(block)
    # The question's printed output after 1000 iterations, to 7 decimals (± float32 noise).
    np.testing.assert_allclose(printed, [[0.5992708, 0.1997655], [0.5993174, 0.2004307]],
                               atol=6e-7)


def test_phase_selects_one_phase(capsys: pytest.CaptureFixture[str]) -> None:
    main(["trace", "--phase", "loss", "--decimals", "4"])
    out = capsys.readouterr().out
    assert "── loss" in out
    assert "── forward" not in out
    assert "loss (sse) = 1.9082" in out


def test_bad_phase_exits_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--phase", "99"]) == 2
    assert "phase: must be between 1 and 8" in capsys.readouterr().err


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "app.cli", "trace", "--example", "xor"],
                         capture_output=True, text=True, check=True)
    assert "XOR" in out.stdout
