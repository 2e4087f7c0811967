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
