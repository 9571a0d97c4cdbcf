"""The store registry: the `store` setting names one of these."""

from __future__ import annotations

from collections.abc import Callable

from app.settings import Settings

from .base import LockTimeout, Store, StoreFull
from .memory import MemoryStore
from .redis import RedisStore
from .sqlite import SqliteStore

STORES: dict[str, Callable[[Settings], Store]] = {
    "memory": lambda s: MemoryStore(),
    "sqlite": lambda s: SqliteStore(s.data_dir / "sessions.sqlite3", s.sqlite_synchronous),
    "redis": lambda s: RedisStore(s.redis_url),
}


def open_store(settings: Settings) -> Store:
    """Return the store the settings name."""
    if settings.store not in STORES:
        raise ValueError(f"store must be one of {', '.join(STORES)}, got {settings.store!r}")
    return STORES[settings.store](settings)


__all__ = ["STORES", "LockTimeout", "Store", "StoreFull", "open_store"]
