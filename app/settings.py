"""Deployment settings: one `Settings`, read from environment variables (pydantic-settings).

Every limit has a safe default (DESIGN.md, "Limits"); tests build their own Settings with
small limits. Environment variables use the field name in capitals, e.g. `STORE=memory`,
`DATA_DIR=/data`, `MAX_PARAMETERS=50000`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the app listens, where it stores sessions, and every limit it enforces."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    host: str = "127.0.0.1"  # `serve` binds here unless --host is given
    port: int = 8000
    workers: int = Field(1, ge=1, le=64)  # `serve`'s worker processes unless --workers is given
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"  # serve
    store: str = "sqlite"  # sqlite | memory | redis
    data_dir: Path = Path("data")  # the SQLite file lives here
    redis_url: str = "redis://127.0.0.1:6379/0"
    sqlite_synchronous: str = "FULL"  # FULL: an acknowledged step survives power loss

    # Network size and data
    max_transitions: int = Field(10, ge=1)  # weight matrices
    max_neurons: int = Field(1024, ge=1)  # per layer
    max_parameters: int = Field(250_000, ge=1)
    max_observations: int = Field(10_000, ge=1)
    max_data_cells: int = Field(200_000, ge=1)  # inputs + targets cells
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)  # the largest export imports back

    # Training per request
    max_iterations: int = Field(1_000_000, ge=1)  # iterations in one step request
    compute_budget: float = Field(5e11, gt=0)  # iterations × observations × parameters
    step_time_budget: float = Field(2.0, gt=0)  # seconds a step request may train
    max_training: int = Field(8, ge=1)  # sessions training long steps at once (per process)

    # Store
    max_sessions: int = Field(100_000, ge=1)
    session_ttl_days: float = Field(30.0, gt=0)  # idle lifetime
    history_points: int = Field(2_000, ge=10)  # history beyond this is decimated
    undo_depth: int = Field(50, ge=0)
    lock_timeout: float = Field(30.0, gt=0)  # seconds to wait for a session's lock
    # Decoded sessions each process keeps (by their blobs' size); 0 decodes every request
    session_cache_mb: int = Field(256, ge=0)
    # Hot routes answer plain requests by hand (app/api/fastpath.py); off: FastAPI answers all
    fast_paths: bool = True

    # Slow and many clients (`serve`; per worker process)
    header_timeout: float = Field(5.0, gt=0)  # s to a request's last header (from its 1st byte)
    body_timeout: float = Field(10.0, gt=0)  # s a declared body may pause between two reads
    max_connections: int = Field(1000, ge=1)  # requests in flight (an open live stream is one)
    # Reverse proxies whose X-Forwarded-For is believed (uvicorn's list: addresses, networks,
    # or "*"); unset: none, and the client is the connection's peer
    forwarded_allow_ips: str | None = None

    # Abuse limits (in memory, per process: each worker or replica counts on its own)
    create_rate: int = Field(60, ge=0)  # sessions one client address may create; 0: no limit
    create_rate_window: float = Field(60.0, gt=0)  # … per this many seconds (a token bucket)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        """Accept LOG_LEVEL=INFO as well as info."""
        return value.lower() if isinstance(value, str) else value

    @property
    def session_ttl_seconds(self) -> float:
        """Return the idle lifetime in seconds."""
        return self.session_ttl_days * 86_400.0


@lru_cache
def get_settings() -> Settings:
    """Return the process's settings (read once from the environment)."""
    return Settings()
