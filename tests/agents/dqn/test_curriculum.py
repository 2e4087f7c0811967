"""The DQN's training games: curriculum shares of hard fish and low fishing levels."""

import numpy as np
import pytest

import envs.stardew.rules as R
from agents.dqn.config import PRESETS
from agents.dqn.train import Games
from envs.stardew import features as feats
from envs.stardew.fish import fish_table


def _games(**kw) -> Games:
    cfg = PRESETS["smoke"].replace(num_games=40, **kw)
    g = Games(cfg, feats.resolve(cfg.features))
    g.reset(1234)
    return g


def test_curriculum_games_play_only_their_fish_and_levels():
    g = _games(hard_fraction=0.25, low_level_fraction=0.25, low_levels=(0, 2))
    main, hard, low = g.sims
    assert (main.num_games, hard.num_games, low.num_games) == (20, 10, 10)
    rng = np.random.default_rng(0)
    levels_low, diff_hard = set(), set()
    for _ in range(3000):  # several episodes per game (autoreset draws new fish and levels)
        g.step(rng.integers(0, 2, g.n))
        levels_low |= set(low.I[:, R.I_LEVEL].tolist())
        diff_hard |= {hard.pool_fish[i].difficulty for i in hard.I[:, R.I_FISH_INDEX].tolist()}
    assert levels_low <= {0, 1, 2} and len(levels_low) == 3
    assert min(diff_hard) >= 85
    assert {f.difficulty for f in fish_table() if f.difficulty >= 85} >= diff_hard
    assert g.obs.shape == (40, len(feats.resolve("default")))


def test_curriculum_shares_must_leave_games_for_the_whole_population():
    with pytest.raises(ValueError, match="low_level_fraction"):
        _games(hard_fraction=0.5, low_level_fraction=0.5)
