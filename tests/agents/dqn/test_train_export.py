"""DQN end to end on a tiny budget: training beats random, resume, and the ONNX export contract."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from agents.dqn.config import PRESETS, DQNConfig
from agents.dqn.export import export_model, verify
from agents.dqn.onnx_io import OnnxPolicy
from agents.dqn.train import load_q, load_run_file, train
from agents.evaluation.protocol import DEV_SEED0, run_episodes, summarize
from envs.stardew.controllers import make_controller

SMOKE = PRESETS["smoke"].replace(total_steps=100_000, eval_every=50_000, checkpoint_every=50_000,
                                 eval_episodes=150)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, features, stack, demo in (("smoke_rich", "default", 2, ""), ("smoke_seed", "seed", 1, "lead_seed")):
        cfg = SMOKE.replace(name=name, features=features, stack=stack, hard_fraction=0.25, perfect_loss_penalty=5.0,
                            demo_controller=demo, demo_fraction=0.5 if demo else 0.0, margin_weight=8.0)
        out[name] = (root / name, train(cfg, root / name, progress=False))
    return out


def test_training_runs_end_to_end_and_beats_random(runs):
    run_dir, summary = runs["smoke_rich"]
    assert summary["env_steps"] >= SMOKE.total_steps
    assert (run_dir / "best.pt").exists() and (run_dir / "checkpoint.pt").exists()
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    q = load_q(run_dir / "best.pt")
    from agents.dqn.train import GreedyPolicy

    seeds = DEV_SEED0 + 321_000
    dqn = summarize(run_episodes(GreedyPolicy(q), n=300, seed0=seeds))
    rnd = summarize(run_episodes(make_controller("random"), n=300, seed0=seeds))
    assert dqn["catch"] > rnd["catch"] + 0.2, (dqn, rnd)


def test_greedy_evaluation_runs_the_network_only_on_games_still_playing_with_the_same_outcomes(runs):
    """The dev evaluations that choose checkpoints wait for the slowest fish; the network skips the games that
    have ended, and every episode still ends exactly as when it ran on all of them."""
    from agents.dqn.train import GreedyPolicy

    q = load_q(runs["smoke_rich"][0] / "best.pt")
    rows = []
    counted = q.forward

    def forward(x):
        rows.append(len(x))
        return counted(x)

    class Unmasked(GreedyPolicy):
        supports_active = False

    full = run_episodes(Unmasked(q), n=200, seed0=DEV_SEED0 + 5_000)
    q.forward = forward
    masked = run_episodes(GreedyPolicy(q), n=200, seed0=DEV_SEED0 + 5_000)
    for field in ("caught", "perfect", "truncated", "ticks", "fish", "level"):
        np.testing.assert_array_equal(getattr(masked, field), getattr(full, field), err_msg=field)
    assert max(rows) == 200 and sum(rows) < 0.5 * 200 * len(rows), rows[-5:]  # ended games are not computed


def test_training_resumes_from_its_checkpoint(runs, tmp_path):
    import shutil

    run_dir, summary = runs["smoke_rich"]
    copy = tmp_path / "resume"
    shutil.copytree(run_dir, copy)
    cfg = DQNConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    more = train(cfg.replace(total_steps=SMOKE.total_steps + 20_000), copy, progress=False)
    assert summary["env_steps"] < more["env_steps"] <= summary["env_steps"] + 20_000 + SMOKE.num_games
    assert more["updates"] > summary["updates"]


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")
    files = {}
    for name, seed_contract in (("smoke_seed", True), ("smoke_rich", False)):
        run_dir, summary = runs[name]
        q = load_q(run_dir / "best.pt")
        info = {"config": json.loads((run_dir / "config.json").read_text()), "best_dev": summary["best_dev"]}
        path = out / f"{name}.onnx"
        export_model(q, path, seed_contract, info)
        files[name] = (path, verify(path, q, seed_contract, eval_episodes=20))
    return files


def test_seed_contract_export_is_a_drop_in_for_the_mod(exported):
    path, report = exported["smoke_seed"]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version <= 8
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 15
    assert not list(path.parent.glob("*.data"))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, inp.type, inp.shape) == ("0", "tensor(double)", [3])
    assert (outp.type, outp.shape) == ("tensor(double)", [2])
    q = sess.run(None, {"0": np.array([400.0, 450.0, -1.5])})[0]
    assert q.shape == (2,) and q.dtype == np.float64
    assert report["max_abs_diff"] <= 1e-6 and report["argmax_agreement"] == 1.0
    assert report["states"] == 10_000


def test_rich_export_carries_its_features_in_metadata(exported):
    path, report = exported["smoke_rich"]
    pol = OnnxPolicy(path)
    assert pol.features == ("bar_center", "bar_speed", "bar_height", "fish_pos", "fish_vel", "fish_rel",
                            "progress", "in_bar")
    scaling = json.loads(pol.meta["feature_scaling"])
    assert set(scaling) == set(pol.features)
    assert pol.meta["frame_stack"] == "2"
    assert report["max_abs_diff"] <= 1e-6 and report["argmax_agreement"] == 1.0
    # the numpy engine used by `make evaluate` computes what onnxruntime computes
    x = np.random.default_rng(0).uniform(-1, 1, (500, 16))
    ref = OnnxPolicy(path, engine="onnxruntime").q_values(x)
    np.testing.assert_allclose(pol.q_values(x), ref, atol=1e-9)


def test_frame_stack_keeps_the_newest_first_and_restarts_at_episode_ends():
    from agents.dqn.frames import FrameStack

    fs = FrameStack(2)
    a = fs.push(np.array([[1.0], [10.0]]))
    np.testing.assert_array_equal(a, [[1, 1], [10, 10]])
    b = fs.push(np.array([[2.0], [20.0]]), new_episode=np.array([False, True]))
    np.testing.assert_array_equal(b, [[2, 1], [20, 20]])
    np.testing.assert_array_equal(fs.peek(np.array([[3.0], [30.0]])), [[3, 2], [30, 20]])


@pytest.fixture(scope="module")
def members_root(runs, tmp_path_factory):
    """A runs folder with the two smoke runs and a second rich member (other weights, same input)."""
    import shutil

    import torch

    root = tmp_path_factory.mktemp("members")
    for name in ("smoke_rich", "smoke_seed"):
        shutil.copytree(runs[name][0], root / name)
    # a second member: the same run's last weights, perturbed (the kept ones are best.pt)
    shutil.copytree(runs["smoke_rich"][0], root / "smoke_rich_b")
    last = load_run_file(root / "smoke_rich_b" / "checkpoint.pt", ())
    last = {k: v for k, v in last.items() if k not in ("q_target", "opt", "replay")}
    gen = torch.Generator().manual_seed(0)
    last["q"] = {k: v + 0.01 * torch.randn(v.shape, generator=gen) if k.startswith("body") else v
                 for k, v in last["q"].items()}
    torch.save(last, root / "smoke_rich_b" / "best.pt")
    return root


def test_ensemble_export_computes_the_members_mean_q(members_root, tmp_path):
    """`python -m agents.dqn.export --best-runs a b`: two runs -> one graph whose output is their mean Q."""
    import torch

    from agents.dqn.export import RICH_FILE, SEED_FILE, main

    root = members_root
    out = tmp_path / "exported"
    main(["--runs", str(root), "--out", str(out), "--seed-run", "smoke_seed",
          "--best-runs", "smoke_rich", "smoke_rich_b"])

    members = [load_q(root / name / "best.pt") for name in ("smoke_rich", "smoke_rich_b")]
    x = np.random.default_rng(3).uniform(-1, 1, (1000, 16))
    with torch.no_grad():
        each = [m.double()(torch.from_numpy(x)).numpy() for m in members]
    assert np.abs(each[0] - each[1]).max() > 1e-3  # the members differ, so the mean is a real test
    sess = ort.InferenceSession(str(out / RICH_FILE), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"obs": x})[0], (each[0] + each[1]) / 2, atol=1e-9)
    model = onnx.load(str(out / RICH_FILE))
    assert model.ir_version <= 8 and max(o.version for o in model.opset_import) <= 15
    meta = json.loads(OnnxPolicy(out / RICH_FILE).meta["ensemble"])
    assert [m["run"] for m in meta["members"]] == ["smoke_rich", "smoke_rich_b"]
    np.testing.assert_allclose(OnnxPolicy(out / RICH_FILE).q_values(x), (each[0] + each[1]) / 2, atol=1e-9)
    report = json.loads((out / "export_report.json").read_text())
    assert report[RICH_FILE]["argmax_agreement"] == 1.0 and report[RICH_FILE]["max_abs_diff"] <= 1e-6
    assert report[RICH_FILE]["ensemble_dev"]["episodes"] == SMOKE.final_dev_episodes
    # the seed contract stays one network, its file layout unchanged
    assert {t.name for t in onnx.load(str(out / SEED_FILE)).graph.initializer} >= {"W0", "b0"}


def test_ensemble_refuses_members_that_read_different_inputs(runs):
    from agents.dqn.model import QEnsemble

    with pytest.raises(ValueError, match="members must share one input"):
        QEnsemble([load_q(runs["smoke_rich"][0] / "best.pt"), load_q(runs["smoke_seed"][0] / "best.pt")])


def test_distilled_network_learns_the_ensembles_q_values(members_root):
    """`make train-dqn`'s last step: one network of the members' size that plays like their mean, exported
    as a single-branch model (the latency of one network)."""
    import torch

    from agents.dqn.config import DistillConfig
    from agents.dqn.distill import distill
    from agents.dqn.export import load_runs
    from agents.dqn.model import QEnsemble, QNetwork

    cfg = DistillConfig(name="smoke_distilled", teachers=("smoke_rich", "smoke_rich_b"), rounds=2,
                        states_per_round=20_000, updates_per_round=300, batch_size=256, lr=1e-3,
                        dev_episodes=100, teacher_dev=True, torch_threads=1)
    summary = distill(cfg, members_root, progress=False)
    assert [r["states"] for r in summary["rounds"]] == [20_000, 40_000]
    student, info = load_runs([members_root / "smoke_distilled"])
    assert isinstance(student, QNetwork) and student.stack == 2 and info["config"]["distilled"]["rounds"] == 2
    first = load_q(members_root / "smoke_rich" / "best.pt")  # where the student started
    teacher = QEnsemble([first, load_q(members_root / "smoke_rich_b" / "best.pt")])
    from agents.dqn.distill import collect
    from agents.dqn.train import Games

    games = Games(SMOKE.replace(features="default", stack=2), first.feature_names)
    games.reset(77_000_000)
    obs, target = collect(teacher, teacher, games, 5_000, 0.05, np.random.default_rng(1))
    with torch.no_grad():
        x = torch.from_numpy(obs)
        err_student = float(((student(x).numpy() - target) ** 2).mean())
        err_start = float(((first(x).numpy() - target) ** 2).mean())
    assert err_student < 0.5 * err_start, (err_student, err_start)
    assert summary["best_dev"]["episodes"] == summary["teacher_dev"]["episodes"] == 100


def test_rollouts_share_each_future_between_the_two_actions(runs):
    """The improvement's labels compare hold and release on the same fish futures (common random numbers):
    the fish swims alike under both actions, each future is its own, and equal first actions score equal."""
    from agents.dqn.config import ImproveConfig
    from agents.dqn.improve import Rollouts, States
    from agents.dqn.train import Games
    from envs.stardew import rules as R

    pi = load_q(runs["smoke_rich"][0] / "best.pt").eval()
    games = Games(SMOKE.replace(features="default", stack=2), pi.feature_names)
    games.reset(78_000_000)
    for _ in range(30):
        games.step(np.zeros(games.n, dtype=np.int64))
    states = States.of(games)
    cfg = ImproveConfig(rollouts=3, horizon=12, forward_batch=256)
    ro = Rollouts(pi, games.sims[0], cfg, gamma=0.99, penalty=5.0)
    same = ro.returns(states, np.random.default_rng(0), first=(1, 1))
    np.testing.assert_array_equal(same[0], same[1])
    G = ro.returns(states, np.random.default_rng(0), first=(0, 1))
    np.testing.assert_array_equal(G[1], same[1])  # the same seeds give the same futures
    assert np.abs(G[1] - G[0]).max() > 0  # the first tick's button matters somewhere
    fish = ro.sim.F[:, R.F_FISH_POS].reshape(2, cfg.rollouts, games.n)
    np.testing.assert_array_equal(fish[0], fish[1])  # the fish ignores the button
    assert (fish[0, 0] != fish[0, 1]).mean() > 0.5  # while the futures differ from one another


def test_rollout_returns_charge_the_perfect_loss_penalty_once_at_the_discounted_tick_it_is_lost(runs):
    """The improvement scores actions with the training reward, whose perfect-loss penalty is charged once, on
    the tick the perfect is lost (discounted to it), and only to a future that loses it while still playing."""
    import dataclasses

    import torch

    from agents.dqn.config import ImproveConfig
    from agents.dqn.improve import Rollouts, States
    from agents.dqn.train import Games
    from envs.stardew import rules as R

    pi = load_q(runs["smoke_rich"][0] / "best.pt").eval()
    games = Games(SMOKE.replace(features="default", stack=2), pi.feature_names)
    games.reset(79_000_000)
    with torch.no_grad():
        for _ in range(30):
            games.step(pi(torch.from_numpy(games.obs)).argmax(1).numpy())
    states = States.of(games)
    gamma, penalty, horizon = 0.97, 50.0, 60
    cfg = ImproveConfig(rollouts=4, horizon=horizon, forward_batch=256)
    plain = Rollouts(pi, games.sims[0], cfg, gamma=gamma, penalty=0.0).returns(states, np.random.default_rng(0))
    charged = Rollouts(pi, games.sims[0], cfg, gamma=gamma, penalty=penalty).returns(states,
                                                                                     np.random.default_rng(0))
    charge = ((plain - charged) / penalty).ravel()

    # the tick each future loses its perfect, read from the same futures cut after 1, 2, ... ticks
    was_perfect = np.tile(states.I[:, R.I_PERFECT] != 0, 2 * cfg.rollouts)
    expected = np.zeros_like(charge)
    settled = ~was_perfect
    for h in range(1, horizon + 1):
        ro = Rollouts(pi, games.sims[0], dataclasses.replace(cfg, horizon=h), gamma=gamma, penalty=0.0)
        ro.returns(states, np.random.default_rng(0))
        lost_now = ~settled & (ro.sim.I[:, R.I_PERFECT] == 0)
        playing = ro.sim.I[:, R.I_STATUS] == R.PLAYING
        expected[lost_now & playing] = gamma ** (h - 1)  # lost on tick h - 1 by a future still in its game
        settled |= lost_now | ~playing  # a future that ended is charged nothing after
    assert 20 < (expected > 0).sum() < 0.8 * len(expected), (expected > 0).sum()  # some lose it, some keep it
    assert len(np.unique(expected[expected > 0])) > 5  # losses on many different ticks
    np.testing.assert_allclose(charge, expected, rtol=0, atol=1e-9)


def test_improvement_fits_the_measured_gaps_and_exports(members_root, tmp_path):
    """`make train-dqn`'s last step: the improved network agrees with the measured action gaps more than the
    policy it started from, and is written as a run that exports to the rich contract."""
    from agents.dqn.config import ImproveConfig
    from agents.dqn.export import RICH_FILE, load_runs
    from agents.dqn.improve import improve
    from agents.dqn.model import QNetwork

    cfg = ImproveConfig(name="smoke_improved", start="smoke_rich", rounds=2, states_per_round=4_096,
                        label_batch=1_024, rollouts=2, horizon=8, updates_per_round=300, batch_size=256,
                        lr=1e-3, dev_episodes=100, forward_batch=512, torch_threads=1)
    summary = improve(cfg, members_root, progress=False)
    assert [r["states"] for r in summary["rounds"]] == [4_096, 4_096]
    for r in summary["rounds"]:
        assert r["student_agrees_with_measured_gap"] > r["pi_agrees_with_measured_gap"], r
    q, info = load_runs([members_root / "smoke_improved"])
    assert isinstance(q, QNetwork) and q.stack == 2 and info["config"]["improved"]["start"] == "smoke_rich"
    assert summary["best_dev"]["episodes"] == 100 and summary["start_dev"]["catch"] >= 0
    export_model(q, tmp_path / RICH_FILE, False, info)
    r = verify(tmp_path / RICH_FILE, q, False)
    assert r["argmax_agreement"] == 1.0 and r["max_abs_diff"] <= 1e-6


def test_distillation_labels_with_the_teacher_fits_everything_gathered_and_weights_the_gap(members_root,
                                                                                             monkeypatch):
    """collect() labels the states with the teacher's Q-values whoever acts; fit() minimises the squared error
    plus gap_weight x the squared error of Q(hold) - Q(release); each round fits all the states gathered so far."""
    import copy

    import torch

    from agents.dqn import distill as D
    from agents.dqn.config import DistillConfig
    from agents.dqn.train import Games

    teacher = load_q(members_root / "smoke_rich" / "best.pt")
    actor = load_q(members_root / "smoke_rich_b" / "best.pt")
    games = Games(SMOKE.replace(features="default", stack=2), teacher.feature_names)
    games.reset(79_000_000)
    obs, target = D.collect(actor, teacher, games, 1_000, 0.0, np.random.default_rng(0))
    with torch.no_grad():
        np.testing.assert_allclose(target, teacher(torch.from_numpy(obs)).numpy(), rtol=0, atol=0)

    cfg = DistillConfig(updates_per_round=1, batch_size=64, lr=1e-3, gap_weight=4.0)
    student = copy.deepcopy(actor).train()
    before = copy.deepcopy(student)
    loss = D.fit(student, obs, target, cfg, np.random.default_rng(5))
    idx = np.random.default_rng(5).integers(0, len(obs), cfg.batch_size)
    with torch.no_grad():
        p, t = before(torch.from_numpy(obs[idx])), torch.from_numpy(target[idx])
        gap = (p[:, 1] - p[:, 0]) - (t[:, 1] - t[:, 0])
        want = float(((p - t) ** 2).mean() + cfg.gap_weight * (gap ** 2).mean())
    assert loss == pytest.approx(want, rel=1e-5)
    assert (gap ** 2).mean() > 0.01 * ((p - t) ** 2).mean()  # the gap term is not negligible here

    fitted = []
    fit = D.fit

    def recording_fit(student, obs, target, cfg, rng):
        fitted.append(len(obs))
        return fit(student, obs, target, cfg, rng)

    monkeypatch.setattr(D, "fit", recording_fit)
    D.distill(DistillConfig(name="smoke_distilled_rounds", teachers=("smoke_rich", "smoke_rich_b"), rounds=3,
                            states_per_round=2_000, updates_per_round=5, batch_size=64, dev_episodes=10,
                            torch_threads=1), members_root, progress=False)
    assert fitted == [2_000, 4_000, 6_000]
