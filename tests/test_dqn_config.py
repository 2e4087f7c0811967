"""`python -m agents.dqn.train --set KEY=VALUE`: values take their field's type, bad settings stop before training."""

import dataclasses

import pytest

from agents.dqn.config import PRESETS, ConfigError, DQNConfig, apply_overrides, validate
from agents.dqn.train import main


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(DQNConfig)])
def test_every_setting_can_be_given_on_the_command_line(field):
    for preset in PRESETS.values():
        value = getattr(preset, field)
        assert getattr(apply_overrides(DQNConfig(), [f"{field}={value!r}"]), field) == value


@pytest.mark.parametrize(
    ("item", "field", "value"),
    [
        ("csv_replay=/tmp/r.csv", "csv_replay", ("/tmp/r.csv",)),  # not the path's characters
        ("level=5", "level", (5, 5)),
        ("level=5,10", "level", (5, 10)),
        ("hidden=(128,128)", "hidden", (128, 128)),
        ("hidden=64", "hidden", (64,)),
        ("total_steps=2e6", "total_steps", 2_000_000),
        ("total_steps=1_000_000", "total_steps", 1_000_000),
        ("max_minutes=5", "max_minutes", 5.0),
        ("name=run_2", "name", "run_2"),
        ("features=seed", "features", "seed"),
        ("dueling=false", "dueling", False),
    ],
)
def test_set_converts_each_value_to_its_fields_type(item, field, value):
    got = getattr(apply_overrides(PRESETS["smoke"], [item]), field)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--set", "total_steps"], "expected KEY=VALUE"),
        (["--set", "no_such_field=1"], "unknown config field 'no_such_field'"),
        (["--set", "level=a,b"], "level must be a level or a range"),
        (["--set", "level=7,3"], "level"),
        (["--set", "total_steps=1.5"], "total_steps must be an integer"),
        (["--set", "hidden=(128,0)"], "hidden: must be one or more layer widths"),
        (["--set", "features=no_such_feature"], "unknown feature 'no_such_feature'"),
        (["--preset", "seed", "--set", "csv_replay=/no/such/log.csv"], "csv_replay: no file '/no/such/log.csv'"),
        (["--set", "csv_replay=/tmp/r.csv"], "csv_replay: the seed mod's CSV holds the seed features only"),
        (["--set", "name="], "name: '' cannot name the run's folder"),
        (["--set", "name=../elsewhere"], "cannot name the run's folder"),
        (["--set", "seed=50"], "into the dev seeds"),
        (["--set", "seed=-1"], "seed: must be an integer >= 0"),
        (["--set", "hard_fraction=0.6", "low_level_fraction=0.4"], "must leave some games"),
        # the fractions leave room, but not in 2 games
        (["--set", "num_games=2", "hard_fraction=0.3", "low_level_fraction=0.3"], "of num_games=2 are 1 + 1 games"),
        (["--set", "hard_fraction=0.2", "hard_min_difficulty=1000"], "hard_min_difficulty: no fish is that hard (1000; the hardest is"),
        (["--set", "demo_fraction=0.5"], "demo_fraction: 0.5 of the games for a demonstrator, but demo_controller"),
        (["--set", "demo_controller=lead", "hard_fraction=0.25", "demo_fraction=0.9"], "demo_fraction: the demonstrator plays games of"),
        (["--set", "learning_starts=200000"], "learning_starts: 200,000 is more than the replay memory holds"),
    ],
)
def test_bad_settings_stop_with_a_usage_error_before_training(tmp_path, monkeypatch, capsys, args, why):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["--preset", "smoke", *args])
    assert e.value.code == 2
    assert why in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing started


def test_fresh_with_bad_settings_keeps_the_previous_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    best = tmp_path / "runs" / "dqn" / "smoke" / "best.pt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"the previous run")
    for bad in (["level=a"], ["name="], ["name=."]):
        with pytest.raises(SystemExit):
            main(["--preset", "smoke", "--fresh", "--set", *bad])
        assert best.read_bytes() == b"the previous run"


def test_the_shipped_recipes_pass_validation():
    for preset in PRESETS.values():
        validate(preset)


def test_training_seeds_stay_below_the_dev_and_test_seeds():
    cfg = PRESETS["best"]
    validate(cfg.replace(seed=49))
    with pytest.raises(ConfigError, match="use a seed from 0 to 49"):
        validate(cfg.replace(seed=50))
    # a run so long that its resumed games' seeds would pass into the next million still fits at seed 48
    long = cfg.replace(total_steps=200_000_000, seed=48)
    validate(long)
    with pytest.raises(ConfigError, match="dev seeds"):
        validate(long.replace(seed=49))


def test_set_given_twice_applies_both_lists(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["--preset", "smoke", "--set", "name=twice", "--set", "total_steps=5000", "--check"])
    assert "twice: settings ok" in capsys.readouterr().out  # the first --set (the name) was not dropped


def test_a_bad_csv_replay_row_is_a_usage_error_before_check_or_fresh_touch_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "replayMemory.csv"
    log.write_text("1,2,3,4,5,6,0.5,1\n1,2,3,4,5,6,0.5,1\na,2,3,4,5,6,0.5,1\n")
    best = tmp_path / "runs" / "dqn" / "seedx" / "best.pt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"the previous run")
    for extra in (["--check"], ["--fresh"]):
        with pytest.raises(SystemExit) as e:
            main(["--preset", "smoke", "--set", "name=seedx", "features=seed", f"csv_replay={log}", *extra])
        assert e.value.code == 2
        assert f"csv_replay: {log}:3" in capsys.readouterr().err
        assert best.read_bytes() == b"the previous run"
