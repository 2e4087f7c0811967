"""`python -m agents.dqn.train --FIELD VALUE`: every setting is an option of its field's type, bad settings stop
before training."""

import dataclasses

import pytest

from agents.dqn.config import PRESETS, ConfigError, DQNConfig, validate
from agents.dqn.train import main, parse_args


def as_options(field: str, value: object) -> list[str]:
    """The command-line words that set ``field`` to ``value``."""
    flag = "--" + field.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + field.replace("_", "-")]
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in (f"{flag}.{k}", str(v))]
    if isinstance(value, tuple):
        return [flag, *map(str, value)]
    return [flag, str(value)]


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(DQNConfig)])
def test_every_setting_of_every_preset_can_be_given_on_the_command_line(field):
    for preset in PRESETS.values():
        value = getattr(preset, field)
        if value == ():
            continue  # an empty list is the default, and no words give it
        assert getattr(parse_args(as_options(field, value)).config, field) == value


@pytest.mark.parametrize(
    ("words", "field", "value"),
    [
        (["--csv-replay", "/tmp/r.csv"], "csv_replay", ("/tmp/r.csv",)),  # not the path's characters
        (["--level", "5", "10"], "level", (5, 10)),
        (["--hidden", "128", "128"], "hidden", (128, 128)),
        (["--hidden", "64"], "hidden", (64,)),
        (["--total-steps", "1000000"], "total_steps", 1_000_000),
        (["--total_steps", "1000"], "total_steps", 1000),  # the field's own spelling works too
        (["--max-minutes", "5"], "max_minutes", 5.0),
        (["--name", "run_2"], "name", "run_2"),
        (["--features", "seed"], "features", "seed"),
        (["--features", "bar_center", "fish_pos"], "features", ("bar_center", "fish_pos")),
        (["--fish", "Pufferfish", "Carp"], "fish", ("Pufferfish", "Carp")),
        (["--no-dueling"], "dueling", False),
        (["--reward-weights.catch", "3"], "reward_weights", {"progress": 100.0, "catch": 3.0, "escape": 10.0,
                                                             "perfect": 5.0}),
    ],
)
def test_each_option_takes_its_fields_type(words, field, value):
    got = getattr(parse_args(["--preset", "smoke", *words]).config, field)
    assert got == value and type(got) is type(value)


def test_the_preset_supplies_the_defaults_the_options_change():
    args = parse_args(["--preset", "seed", "--total-steps", "1000"])
    assert args.config == PRESETS["seed"].replace(total_steps=1000) and args.preset == "seed"


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--no-such-field", "1"], "--no-such-field"),
        (["--level", "a", "b"], "--level"),
        (["--level", "7", "3"], "level"),
        (["--total-steps", "1.5"], "--total-steps"),
        (["--hidden", "128", "0"], "hidden: must be one or more layer widths"),
        (["--features", "no_such_feature"], "unknown feature 'no_such_feature'"),
        (["--preset", "seed", "--csv-replay", "/no/such/log.csv"], "csv_replay: no file '/no/such/log.csv'"),
        (["--csv-replay", "/tmp/r.csv"], "csv_replay: the seed mod's CSV holds the seed features only"),
        (["--name", ""], "name: '' cannot name the run's folder"),
        (["--name", "../elsewhere"], "cannot name the run's folder"),
        (["--seed", "50"], "into the dev seeds"),
        (["--seed", "-1"], "seed: must be an integer >= 0"),
        (["--hard-fraction", "0.6", "--low-level-fraction", "0.4"], "must leave some games"),
        # the fractions leave room, but not in 2 games
        (["--num-games", "2", "--hard-fraction", "0.3", "--low-level-fraction", "0.3"], "of num_games=2 are 1 + 1 games"),
        (["--hard-fraction", "0.2", "--hard-min-difficulty", "1000"], "hard_min_difficulty: no fish is that hard (1000; the hardest is"),
        (["--demo-fraction", "0.5"], "demo_fraction: 0.5 of the games for a demonstrator, but demo_controller"),
        (["--demo-controller", "lead", "--hard-fraction", "0.25", "--demo-fraction", "0.9"], "demo_fraction: the demonstrator plays games of"),
        (["--learning-starts", "200000"], "learning_starts: 200,000 is more than the replay memory holds"),
    ],
)
def test_bad_settings_stop_with_a_usage_error_before_training(tmp_path, monkeypatch, capsys, args, why):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["--preset", "smoke", *args])
    assert e.value.code == 2
    err = capsys.readouterr()
    assert why in err.err + err.out
    assert not (tmp_path / "runs").exists()  # nothing started


def test_fresh_with_bad_settings_keeps_the_previous_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    best = tmp_path / "runs" / "dqn" / "smoke" / "best.pt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"the previous run")
    for bad in (["--level", "a"], ["--name", ""], ["--name", "."]):
        with pytest.raises(SystemExit):
            main(["--preset", "smoke", "--fresh", *bad])
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


def test_a_bad_csv_replay_row_is_a_usage_error_before_check_or_fresh_touch_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "replayMemory.csv"
    log.write_text("1,2,3,4,5,6,0.5,1\n1,2,3,4,5,6,0.5,1\na,2,3,4,5,6,0.5,1\n")
    best = tmp_path / "runs" / "dqn" / "seedx" / "best.pt"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"the previous run")
    for extra in (["--check"], ["--fresh"]):
        with pytest.raises(SystemExit) as e:
            main(["--preset", "smoke", "--name", "seedx", "--features", "seed", "--csv-replay", str(log), *extra])
        assert e.value.code == 2
        assert f"csv_replay: {log}:3" in capsys.readouterr().err
        assert best.read_bytes() == b"the previous run"
