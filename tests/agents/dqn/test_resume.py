"""Resuming a DQN run: only under the settings it was trained with; Ctrl-C and the time limit leave a usable run."""

import json
import shutil

import pytest
import torch

from agents.dqn.config import PRESETS, ConfigError
from agents.dqn.train import load_run_file, main, train

# two vector steps of the smoke preset; differs from it only in settings a resumed run may change
TINY = PRESETS["smoke"].replace(total_steps=128, eval_every=128, checkpoint_every=128, log_every=128,
                                eval_episodes=20, final_dev_episodes=0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "smoke"
    train(TINY, out, progress=False)
    return out


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    out = tmp_path / "runs" / "dqn" / "smoke"
    shutil.copytree(tiny_run, out)
    return out


@pytest.mark.parametrize(("change", "field"), [({"level": (5, 10)}, "level"), ({"hidden": (32, 32)}, "hidden"),
                                               ({"stack": 2}, "stack"), ({"buffer_size": 50_000}, "buffer_size")])
def test_resume_refuses_settings_that_change_what_is_learned(run_copy, change, field):
    before = {p.name: p.read_bytes() for p in run_copy.glob("*.*") if p.is_file()}
    with pytest.raises(ConfigError) as e:
        train(TINY.replace(total_steps=256, **change), run_copy, progress=False)
    msg = str(e.value)
    assert f"{field}: " in msg and "--fresh" in msg and str(run_copy / "checkpoint.pt") in msg
    assert {p.name: p.read_bytes() for p in run_copy.glob("*.*") if p.is_file()} == before  # nothing relabelled


def test_resume_accepts_a_longer_run_and_other_cadences(run_copy):
    more = train(TINY.replace(total_steps=256, eval_every=64, max_minutes=5.0, eval_episodes=10), run_copy,
                 progress=False)
    assert more["env_steps"] == 256


def test_check_flag_reports_a_resume_conflict_at_once(run_copy, tmp_path, monkeypatch, capsys):
    """What `make train-dqn DQN_SEED_LEVELS=5,10` runs first, after an earlier run on levels 0..10."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["--preset", "smoke", "--level", "5", "10", "--check"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "level: [0, 10] in the checkpoint, [5, 10] now" in err and "--fresh" in err
    main(["--preset", "smoke", "--check"])
    assert "resumes" in capsys.readouterr().out
    main(["--preset", "smoke", "--level", "5", "10", "--check", "--fresh"])  # --fresh would start over
    assert "a new run" in capsys.readouterr().out
    assert (run_copy / "checkpoint.pt").exists()  # --check removes nothing
    assert json.loads((run_copy / "config.json").read_text())["level"] == [0, 10]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])  # SIGTERM: how make train-dqn stops its background runs
def test_ctrl_c_stops_with_a_checkpoint_the_run_resumes_from(tmp_path, monkeypatch, sig):
    import os
    import signal

    from agents.dqn.train import Games

    signum = getattr(signal, sig)

    cfg = TINY.replace(total_steps=640, eval_every=640, checkpoint_every=640)
    step, calls = Games.step, []

    def step_then_ctrl_c(self, action):
        step(self, action)
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signum)

    # as in a terminal (a runner that starts the tests in the background ignores SIGINT, and so does training)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    before_term = signal.getsignal(signal.SIGTERM)
    try:
        monkeypatch.setattr(Games, "step", step_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, tmp_path / "run", progress=False)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
        assert signal.getsignal(signal.SIGTERM) is before_term
    finally:
        signal.signal(signal.SIGINT, before)
    saved = load_run_file(tmp_path / "run" / "checkpoint.pt", ())
    assert 3 * cfg.num_games <= saved["step"] < cfg.total_steps
    assert saved["replay"]["size"] == saved["step"] - (cfg.n_step - 1) * cfg.num_games
    monkeypatch.setattr(Games, "step", step)
    assert train(cfg, tmp_path / "run", progress=False)["env_steps"] == cfg.total_steps


def test_time_limit_is_per_invocation_not_across_resumes(run_copy):
    ckpt = run_copy / "checkpoint.pt"
    st = load_run_file(ckpt, ())
    st["elapsed"] = 10 * 3600.0  # earlier invocations ran for hours
    torch.save(st, ckpt)
    more = train(TINY.replace(total_steps=384, max_minutes=5.0), run_copy, progress=False)
    assert more["env_steps"] == 384  # not stopped after one step


def test_time_limit_before_the_first_evaluation_still_leaves_a_best_pt(tmp_path):
    from agents.dqn.train import load_q

    cfg = TINY.replace(total_steps=64_000, eval_every=64_000, checkpoint_every=64_000, max_minutes=1e-6)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["env_steps"] == cfg.num_games  # the limit fired after the first step
    best = load_run_file(tmp_path / "run" / "best.pt", ())
    assert best["best_eval"]["step"] == cfg.num_games and best["best_eval"]["episodes"] == cfg.eval_episodes
    assert summary["best_dev"] == best["best_eval"]
    load_q(tmp_path / "run" / "best.pt")  # what export reads


def test_a_run_stopped_and_resumed_learns_exactly_what_it_learns_uninterrupted(tmp_path, monkeypatch):
    """The games in flight, their frame histories, the pending n-step transitions, the random draws and the
    evaluation grid all go into checkpoint.pt: make train-dqn is made to be stopped and resumed."""
    import os
    import signal

    import numpy as np

    from agents.dqn.train import Games

    cfg = TINY.replace(total_steps=640, eval_every=320, checkpoint_every=640, learning_starts=64, stack=2)
    train(cfg, tmp_path / "straight", progress=False)

    step, calls = Games.step, []

    def step_then_ctrl_c(self, action):
        step(self, action)
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        monkeypatch.setattr(Games, "step", step_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, tmp_path / "stopped", progress=False)
    finally:
        signal.signal(signal.SIGINT, before)
    monkeypatch.setattr(Games, "step", step)
    train(cfg, tmp_path / "stopped", progress=False)

    a, b = (load_run_file(tmp_path / d / "checkpoint.pt", ()) for d in ("straight", "stopped"))
    assert a["step"] == b["step"] == cfg.total_steps and a["updates"] == b["updates"] > 0
    for k in a["q"]:
        assert torch.equal(a["q"][k], b["q"][k]), k
    for k in ("obs", "action", "ret", "disc"):
        np.testing.assert_array_equal(a["replay"][k], b["replay"][k])
    assert json.dumps(a["best_eval"]) == json.dumps(b["best_eval"])  # NaN where nothing was caught
