"""The fish of each game version: 1.5's 60 rod fish, and for ``version="1.6"`` also the rod fish 1.6 added."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from envs.stardew.fish import find_fish, fish_table, resolve_fish
from envs.stardew.fishing_env import StardewFishingEnv
from envs.stardew.sim import GameConfig


def test_the_1_6_table_is_the_1_5_table_then_the_goby_with_its_1_6_data():
    old, new = fish_table("1.5"), fish_table("1.6")
    assert len(old) == 60 and new[:60] == old
    goby = new[60]
    assert (goby.id, goby.name, goby.difficulty, goby.behavior, goby.min_size, goby.max_size, goby.legendary) == \
        ("Goby", "Goby", 55, "dart", 3, 12, False)
    assert fish_table("1.5.4") == old


def test_every_added_row_names_the_public_data_it_was_read_from():
    text = resources.files("envs.stardew").joinpath("data/fish_added_1.6.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and all("1.6" in r["source"] and "Data/Fish" in r["source"] for r in rows)


def test_a_fish_added_in_1_6_is_refused_under_1_5_rules_with_a_message_saying_so():
    assert find_fish("goby", "1.6").id == "Goby"
    with pytest.raises(ValueError, match="Goby.*1.5 table.*version='1.6'"):
        find_fish("Goby")
    with pytest.raises(ValueError, match="version='1.6'"):
        StardewFishingEnv(fish="Goby")
    with pytest.raises(ValueError, match="version: '1.7'"):
        fish_table("1.7")


def test_version_1_6_draws_from_61_fish_and_plays_a_goby_to_its_end():
    assert len(GameConfig(version="1.6").compile()[2]) == 61
    assert len(GameConfig(version="1.5").compile()[2]) == 60
    assert [f.name for f in resolve_fish(["Goby", 128], "1.6")] == ["Goby", "Pufferfish"]
    env = StardewFishingEnv(fish="Goby", version="1.6", level=10)
    obs, info = env.reset(seed=3)
    assert info["fish"] == "Goby" and info["difficulty"] == 55
    for _ in range(20_000):
        obs, reward, terminated, truncated, info = env.step(int(obs[5] < 0))
        if terminated or truncated:
            break
    assert terminated and (info["caught"] or info["escaped"])
