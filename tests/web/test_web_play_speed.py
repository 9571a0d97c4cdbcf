"""Play's speed: how much one frame trains, and how the page's preference is read."""

from __future__ import annotations

import pytest

from app.web.play import MAX_PLAY_SLICE, PLAY_SLICE, PLAY_SLICE_MAPS, SHARED_FROM, play_seconds
from app.web.preferences import PLAY_SPEEDS, prefs_from


def test_the_default_speed_trains_the_default_slice() -> None:
    assert prefs_from({}).speed == PLAY_SPEEDS[0] == 1
    assert play_seconds(maps=False, players=1, speed=1) == PLAY_SLICE


@pytest.mark.parametrize("speed", PLAY_SPEEDS)
def test_a_faster_speed_trains_proportionally_more_up_to_the_cap(speed: int) -> None:
    assert play_seconds(False, 1, speed) == min(MAX_PLAY_SLICE, PLAY_SLICE * speed)
    assert play_seconds(True, 1, speed) == min(MAX_PLAY_SLICE, PLAY_SLICE_MAPS * speed)


def test_two_d_players_share_their_slice_down_to_the_default() -> None:
    assert play_seconds(True, 4, 1) == PLAY_SLICE_MAPS / 4
    assert play_seconds(True, SHARED_FROM, 1) == max(PLAY_SLICE, PLAY_SLICE_MAPS / SHARED_FROM)


@pytest.mark.parametrize("players", [SHARED_FROM * 2, SHARED_FROM * 10])
def test_a_crowd_of_players_shares_the_training_evenly(players: int) -> None:
    """Past SHARED_FROM players in a process, each frame trains less in proportion."""
    assert play_seconds(False, players, 1) == PLAY_SLICE * SHARED_FROM / players
    assert play_seconds(False, players, 10) == 10 * play_seconds(False, players, 1)


@pytest.mark.parametrize("raw", ["7", "-1", "abc", "", "50.0", None, "¹"])
def test_an_unknown_speed_falls_back_to_the_default(raw: object) -> None:
    assert prefs_from({"v_speed": raw}).speed == 1


def test_every_offered_speed_is_read_back() -> None:
    assert [prefs_from({"v_speed": str(n)}).speed for n in PLAY_SPEEDS] == list(PLAY_SPEEDS)
