"""The viewer's display preferences: sent with every request (per tab), never stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class View:
    """The viewer's display preferences (per tab, sent with every request)."""

    decimals: int = 7
    augmented: bool = True
    transpose: bool = False
    observation: int = 0
    log: bool = False
    show_all: bool = False
    readonly: bool = False
    gradcheck: bool = False
    show_test: bool = False
    discrete: bool = False
    hide: frozenset[str] = frozenset()  # panels a teacher hid (classroom mode)
    speed: int = 1  # Play's training per frame, in multiples of the default slice

    def query(self) -> str:
        """Return the preferences as a query string."""
        return (f"v_decimals={self.decimals}&v_augmented={int(self.augmented)}"
                f"&v_transpose={int(self.transpose)}&v_obs={self.observation}"
                f"&v_log={int(self.log)}&v_all={int(self.show_all)}")


def _flag(values: dict[str, Any], name: str, default: bool) -> bool:
    raw = values.get(name)
    return default if raw in (None, "") else str(raw).lower() in ("1", "true", "on", "yes")


def _int(values: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(str(values.get(name, default)))))
    except ValueError:
        return default


def view_from(values: dict[str, Any], readonly: bool = False) -> View:
    """Return the preferences found in query or form values (defaults elsewhere)."""
    return View(
        decimals=_int(values, "v_decimals", 7, 0, 16),
        augmented=_flag(values, "v_augmented", True),
        transpose=_flag(values, "v_transpose", False),
        observation=_int(values, "v_obs", 0, 0, 1_000_000),
        log=_flag(values, "v_log", False),
        show_all=_flag(values, "v_all", False),
        readonly=readonly,
        gradcheck=_flag(values, "v_gradcheck", False),
        show_test=_flag(values, "v_test", False),
        discrete=_flag(values, "v_discrete", False),
        hide=frozenset(h for h in str(values.get("v_hide") or "").split(",") if h),
        speed=_choice(values, "v_speed", PLAY_SPEEDS),
    )


PLAY_SPEEDS = (1, 10, 50)  # Play's speeds (× the training of one frame); the first is the default


def _choice(values: dict[str, Any], name: str, allowed: tuple[int, ...]) -> int:
    """Return the value if it is one of `allowed`, else the first of them."""
    raw = str(values.get(name) or "")
    return int(raw) if raw.isdigit() and int(raw) in allowed else allowed[0]
