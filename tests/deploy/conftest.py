"""Fixtures for the deployment tests: which run, and the running container's URL.

`test_container.py` checks a running image at `APP_URL`; it is collected only when
`APP_URL` is set (the container check: `../shared/container/check.sh .venv/bin/pytest
tests/deploy -k container`) or when asked for by `-k container`, and then fails clearly
without `APP_URL`. A plain `pytest` run leaves it out.
"""

from __future__ import annotations

import os

import pytest

CONTAINER_MODULE = "test_container.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the container tests out unless APP_URL is set or `-k` names them."""
    if os.environ.get("APP_URL") or "container" in (config.option.keyword or ""):
        return
    keep = [item for item in items if item.path.name != CONTAINER_MODULE]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.path.name == CONTAINER_MODULE])
        items[:] = keep


@pytest.fixture(scope="session")
def app_url() -> str:
    """Return APP_URL, the running container's base URL (fail clearly when unset)."""
    url = os.environ.get("APP_URL", "").strip().rstrip("/")
    if not url:
        pytest.fail(
            "APP_URL is not set: the container tests check a running image. Run "
            "`../shared/container/check.sh .venv/bin/pytest tests/deploy -k container` "
            "(or `make container-check`) from the repository root."
        )
    return url
