"""A real uvicorn on 127.0.0.1 with the SQLite store: concurrency across workers, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, run_async


async def _concurrent_steps(url: str, session_id: str, count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        replies = await asyncio.gather(*(
            client.post(f"/api/sessions/{session_id}/step", json={"iterations": 1})
            for _ in range(count)))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies
                                                        if r.status_code != 200][:3]
    return [r.json()["step"] for r in replies]


@pytest.mark.parametrize("workers", [1, 2])
def test_64_concurrent_steps_end_at_step_64(server_factory: type[Server], tmp_path: Path,
                                            workers: int) -> None:
    server = server_factory(tmp_path / "data", workers=workers)
    server.start()
    sid = httpx.post(f"{server.url}/api/sessions", json={"example": "origin"}).json()["id"]
    steps = run_async(_concurrent_steps(server.url, sid, 64))
    assert sorted(steps) == list(range(1, 65))
    assert httpx.get(f"{server.url}/api/sessions/{sid}").json()["step"] == 64


def test_sigkill_after_acknowledged_steps_loses_nothing(server_factory: type[Server],
                                                        tmp_path: Path) -> None:
    server = server_factory(tmp_path / "data")
    server.start()
    sid = httpx.post(f"{server.url}/api/sessions", json={"example": "xor"}).json()["id"]
    for _ in range(5):
        assert httpx.post(f"{server.url}/api/sessions/{sid}/step",
                          json={"iterations": 37}).status_code == 200
    before = httpx.get(f"{server.url}/api/sessions/{sid}/export").json()
    server.kill()
    server.start()
    after = httpx.get(f"{server.url}/api/sessions/{sid}/export").json()
    before.pop("exported_at")
    after.pop("exported_at")
    assert before["progress"]["step"] == 185
    assert after == before  # floats compared exactly: the JSON round-trips float64


def test_a_session_stays_usable_after_a_kill_mid_step(server_factory: type[Server],
                                                      tmp_path: Path) -> None:
    server = server_factory(tmp_path / "data", env={"STEP_TIME_BUDGET": "5"})
    server.start()
    spec = {"layers": [2, 64, 64, 1], "hidden_activation": "tanh", "loss": "mse",
            "output_activation": "linear", "optimizer": {"name": "sgd", "learning_rate": 0.01},
            "inputs": [[i / 50, (i % 7) / 7] for i in range(200)],
            "targets": [[(i % 3) / 3] for i in range(200)]}
    sid = httpx.post(f"{server.url}/api/sessions", json=spec).json()["id"]
    with httpx.Client(base_url=server.url, timeout=0.5) as client, \
            pytest.raises(httpx.ReadTimeout):
        client.post(f"/api/sessions/{sid}/step", json={"iterations": 100_000})
    server.kill()  # while the step holds the session's lock
    server.start()
    reply = httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"iterations": 3},
                       timeout=10)
    assert reply.status_code == 200
    assert reply.json()["step"] == 3
