"""compose.yaml and deploy/nginx.conf, read as files (no Docker engine runs here).

`docker compose up` is the app alone with its SQLite volume; `--profile scale` adds Redis
and two replicas (STORE=redis) behind nginx, whose upstream names both replicas.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from app.settings import Settings
from tests.conftest import ROOT

REPLICAS = ("replica-a", "replica-b")
SCALE = ("redis", *REPLICAS, "proxy")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """Return compose.yaml, anchors and merge keys resolved."""
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the services by name."""
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def nginx() -> str:
    """Return deploy/nginx.conf without its comments."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: how["condition"] for name, how in service.get("depends_on", {}).items()}


def test_plain_up_starts_the_app_alone_with_its_sqlite_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    unprofiled = [name for name, s in services.items() if not s.get("profiles")]
    assert unprofiled == ["app"]
    app = services["app"]
    assert app["build"] == "."
    assert "data:/data" in app["volumes"]
    assert "data" in compose["volumes"]
    assert _env(app)["STORE"] == "sqlite"
    assert _env(app)["DATA_DIR"] == "/data"
    assert "8000:8000" in app["ports"]


def test_the_scale_profile_has_redis_two_replicas_and_a_proxy(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SCALE:
        assert services[name]["profiles"] == ["scale"]
    assert services["redis"]["image"].startswith("redis:")
    assert services["proxy"]["image"].startswith("nginx:")


def test_the_replicas_share_the_redis_store(services: dict[str, dict[str, Any]]) -> None:
    for name in REPLICAS:
        env = _env(services[name])
        assert env["STORE"] == "redis"
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert _depends(services[name]) == {"redis": "service_healthy"}
        assert "volumes" not in services[name]  # no SQLite file: the state is in Redis
    redis = services["redis"]
    assert "--appendonly" in redis["command"]
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_the_replicas_trust_forwarded_headers_from_the_proxy_only(
    services: dict[str, dict[str, Any]],
) -> None:
    proxy_address = services["proxy"]["networks"]["backend"]["ipv4_address"]
    for name in REPLICAS:
        assert _env(services[name])["FORWARDED_ALLOW_IPS"] == proxy_address
        assert "ports" not in services[name]  # reachable only through the proxy
    assert "FORWARDED_ALLOW_IPS" not in _env(services["app"])  # unset: no proxy is believed


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
    for name in ("app", *REPLICAS):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"])


def test_the_app_services_get_time_to_finish_requests_on_stop(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("app", *REPLICAS):
        grace = services[name]["stop_grace_period"]
        assert grace.endswith("s")
        assert int(grace[:-1]) > 10  # uvicorn's graceful-shutdown timeout (app/cli.py)


def test_the_proxy_waits_for_healthy_replicas_and_mounts_its_config(
    services: dict[str, dict[str, Any]],
) -> None:
    proxy = services["proxy"]
    assert _depends(proxy) == dict.fromkeys(REPLICAS, "service_healthy")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert "8080:80" in proxy["ports"]


def test_the_proxys_upstream_names_both_replicas(nginx: str) -> None:
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", nginx, re.S)
    assert upstream is not None
    name, body = upstream.groups()
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", body, re.M)
    assert sorted(servers) == [(replica, "8000") for replica in REPLICAS]
    assert re.search(rf"proxy_pass\s+http://{name}\s*;", nginx)


def test_the_proxy_overwrites_forwarded_for_and_allows_the_largest_body(nginx: str) -> None:
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr\s*;", nginx)
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme\s*;", nginx)
    size = re.search(r"client_max_body_size\s+(\d+)m\s*;", nginx)
    assert size is not None
    assert int(size[1]) * 1024 * 1024 >= Settings.model_fields["max_body_bytes"].default
