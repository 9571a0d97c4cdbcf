"""The viewer's display preferences: sent with every request (per tab), never stored.

They travel in the page's `#prefs` form, which every htmx request includes, and in the
query of the tab's live stream. The open deep view (`tab`) is one of them, so the URL
(`?tab=matrices`) and every refresh agree on which view is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

PLAY_SPEEDS = (1, 10, 50)  # Play's speeds (× the training of one frame); the first is the default
TABS = ("stepper", "walkthrough", "matrices", "diagnostics", "check", "points", "setup",
        "compare", "share")  # the deep views, in the order of their tabs


@dataclass(frozen=True)
class Prefs:
    """The viewer's display preferences (per tab, sent with every request)."""

    decimals: int = 7
    augmented: bool = True
    transpose: bool = False
    observation: int = 0
    log: bool = False
    show_all: bool = False
    view: str = ""  # the view token of a read-only viewer ("" for whoever holds the id)
    gradcheck: bool = False
    show_test: bool = True
    discrete: bool = False
    hide: frozenset[str] = frozenset()  # panels a teacher hid (classroom mode)
    speed: int = 1  # Play's training per frame, in multiples of the default slice
    tab: str = ""  # the open deep view ("" when none is open)

    @property
    def readonly(self) -> bool:
        """Return whether the viewer reads by a view token (and may change nothing)."""
        return bool(self.view)

    def live_query(self) -> str:
        """Return the query of the live stream: what its frames depend on."""
        return urlencode({"v_decimals": self.decimals, "v_obs": self.observation,
                          "v_test": int(self.show_test), "v_discrete": int(self.discrete),
                          "v_speed": self.speed})


def _flag(values: dict[str, Any], name: str, default: bool) -> bool:
    raw = values.get(name)
    return default if raw in (None, "") else str(raw).lower() in ("1", "true", "on", "yes")


def _int(values: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = str(values.get(name, default)).strip()
    if not raw.isascii() or not raw.lstrip("-").isdigit():
        return default
    return max(low, min(high, int(raw)))


def _choice(values: dict[str, Any], name: str, allowed: tuple[int, ...]) -> int:
    """Return the value if it is one of `allowed`, else the first of them."""
    raw = str(values.get(name) or "")
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) in allowed else allowed[0]


def prefs_from(values: dict[str, Any], view: str = "") -> Prefs:
    """Return the preferences found in query or form values (defaults elsewhere)."""
    tab = str(values.get("tab") or "")
    return Prefs(
        decimals=_int(values, "v_decimals", 7, 0, 16),
        augmented=_flag(values, "v_augmented", True),
        transpose=_flag(values, "v_transpose", False),
        observation=_int(values, "v_obs", 0, 0, 1_000_000),
        log=_flag(values, "v_log", False),
        show_all=_flag(values, "v_all", False),
        view=view,
        gradcheck=_flag(values, "v_gradcheck", False),
        show_test=_flag(values, "v_test", True),
        discrete=_flag(values, "v_discrete", False),
        hide=frozenset(h for h in str(values.get("v_hide") or "").split(",") if h),
        speed=_choice(values, "v_speed", PLAY_SPEEDS),
        tab=tab if tab in TABS else "",
    )
