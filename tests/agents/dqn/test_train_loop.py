"""The DQN training loop's parts, watched from outside on a few vector steps: the double-DQN target, the
Polyak-averaged target network, the epsilon and learning-rate schedules, when updates happen, what a resume
restores, and which weights are kept as best.pt."""

import json
import shutil
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import agents.dqn.train as T
from agents.dqn.config import PRESETS, RESUME_SEED_OFFSET, TRAIN_SEED_BLOCK
from agents.dqn.replay import ReplayBuffer
from agents.evaluation.protocol import DEV_SEED0

N = 16  # games
# a dozen vector steps; no evaluation before the end, no final dev-set choice
LOOP = PRESETS["smoke"].replace(num_games=N, total_steps=12 * N, learning_starts=64, batch_size=32,
                                buffer_size=10_000, hidden=(16, 16), eval_every=10**6, checkpoint_every=10**6,
                                log_every=N, eval_episodes=10, final_dev_episodes=0)


class _Nets(T.QNetwork):
    made: list = []

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        _Nets.made.append(self)


@pytest.fixture
def watched(monkeypatch):
    """Records the networks train() builds (q first, then q_target), each sampled batch and the optimiser."""
    _Nets.made = []
    rec = {"batches": [], "opt": []}
    monkeypatch.setattr(T, "QNetwork", _Nets)
    sample = ReplayBuffer.sample

    def recording_sample(self, batch):
        out = sample(self, batch)
        rec["batches"].append(out)
        return out

    monkeypatch.setattr(ReplayBuffer, "sample", recording_sample)
    adam = torch.optim.Adam

    class _Adam(adam):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            rec["opt"].append(self)

    monkeypatch.setattr(torch.optim, "Adam", _Adam)
    return rec


@pytest.mark.parametrize("double", [True, False])
def test_updates_regress_on_the_double_dqn_target_and_polyak_average_the_target_network(
        tmp_path, monkeypatch, watched, double):
    # a large step size and a slow target network, so that the two networks' greedy actions part
    cfg = LOOP.replace(double=double, tau=0.01, n_step=2, gamma=0.9, lr=0.1, lr_end=0.01, batch_size=256,
                       total_steps=30 * N)
    seen = {"calls": 0, "prev_target": None, "steps": 0, "argmax_differ": 0}
    step = T.Games.step

    def counting_step(self, action):
        seen["steps"] += 1
        step(self, action)

    monkeypatch.setattr(T.Games, "step", counting_step)

    def loss(pred, target):
        q, q_target = _Nets.made[0], _Nets.made[1]
        o, a, r, no, d, _ = (torch.from_numpy(x) for x in watched["batches"][-1])
        with torch.no_grad():
            nq_target = q_target(no)
            seen["argmax_differ"] += int((q(no).argmax(1) != nq_target.argmax(1)).sum())
            nq = (nq_target.gather(1, q(no).argmax(dim=1, keepdim=True)).squeeze(1) if double
                  else nq_target.max(dim=1).values)
            torch.testing.assert_close(target, r + d * nq)
            torch.testing.assert_close(pred, q(o).gather(1, a.unsqueeze(1)).squeeze(1))
            now = [p.detach().clone() for p in q_target.parameters()]
            if seen["prev_target"] is not None:  # one update since: target <- (1 - tau) target + tau q
                for old, new, p in zip(seen["prev_target"], now, q.parameters(), strict=True):
                    torch.testing.assert_close(new, (1 - cfg.tau) * old + cfg.tau * p)
            seen["prev_target"] = now
        s = seen["steps"] * N
        lr = cfg.lr + min(1.0, s / cfg.total_steps) * (cfg.lr_end - cfg.lr)
        assert watched["opt"][0].param_groups[0]["lr"] == pytest.approx(lr)
        seen["calls"] += 1
        return F.smooth_l1_loss(pred, target)

    monkeypatch.setattr(T, "F", types.SimpleNamespace(smooth_l1_loss=loss))
    summary = T.train(cfg, tmp_path / "run", progress=False)
    assert seen["calls"] == summary["updates"] > 3
    assert (watched["batches"][-1][4] > 0).any()  # some targets bootstrap, so the target network matters
    assert seen["argmax_differ"] > 0  # and double DQN's choice of action by the online network matters too


@pytest.mark.parametrize(("train_every", "gradient_steps", "learning_starts"), [(1, 1, 64), (2, 3, 96), (3, 2, 0), (1, 1, 0)])
def test_updates_start_at_learning_starts_and_follow_train_every_and_gradient_steps(
        tmp_path, train_every, gradient_steps, learning_starts):
    cfg = LOOP.replace(train_every=train_every, gradient_steps=gradient_steps, learning_starts=learning_starts,
                       n_step=3)
    summary = T.train(cfg, tmp_path / "run", progress=False)
    expected = 0
    for s in range(1, cfg.total_steps // N + 1):  # vector steps; the memory holds n-step transitions
        size = max(0, s - cfg.n_step + 1) * N
        if size >= max(1, cfg.learning_starts) and s % cfg.train_every == 0:  # never from an empty memory
            expected += cfg.gradient_steps
    assert summary["updates"] == expected


class _Writer:
    def __init__(self, *a, **kw):
        self.scalars: dict[str, list] = {}
        _Writer.last = self

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, []).append((step, float(value)))

    def close(self):
        pass


def test_epsilon_decays_linearly_over_its_fraction_of_the_run_then_stays(tmp_path, monkeypatch):
    cfg = LOOP.replace(eps_start=0.9, eps_end=0.1, eps_fraction=0.5)
    monkeypatch.setattr(T, "SummaryWriter", _Writer)
    T.train(cfg, tmp_path / "run", progress=False)
    logged = _Writer.last.scalars["charts/epsilon"]
    assert [s for s, _ in logged] == list(range(N, cfg.total_steps + 1, N))
    for s, eps in logged:  # the step acted at is the one before the logged count
        frac = min(1.0, (s - N) / (cfg.eps_fraction * cfg.total_steps))
        assert eps == pytest.approx(0.9 + frac * (0.1 - 0.9))
    assert logged[-1][1] == pytest.approx(0.1)


@pytest.mark.parametrize("eps", [0.0, 1.0])
def test_acting_is_greedy_at_epsilon_zero_and_a_coin_flip_at_one(tmp_path, monkeypatch, watched, eps):
    cfg = LOOP.replace(eps_start=eps, eps_end=eps, num_games=64, total_steps=64 * 6, gradient_steps=0)  # acting only: no updates
    agree = []
    step = T.Games.step

    def checking_step(self, action):
        with torch.no_grad():
            greedy = _Nets.made[0](torch.from_numpy(self.obs)).argmax(dim=1).numpy()
        agree.extend((action == greedy).tolist())
        step(self, action)

    monkeypatch.setattr(T.Games, "step", checking_step)
    T.train(cfg, tmp_path / "run", progress=False)
    share = float(np.mean(agree))
    if eps == 0.0:
        assert share == 1.0
    else:
        assert 0.4 < share < 0.6, share


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "run"
    T.train(LOOP, out, progress=False)
    return out


def _same(a, b) -> None:
    """Equal nested checkpoint contents (tensors, arrays, dicts, numbers)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b or (a != a and b != b)  # nan: a rate over no episodes


@pytest.mark.parametrize("written", ["now", "before the loop's state was kept"])
def test_resume_restores_networks_optimiser_memory_and_counters_and_the_games_in_flight(loop_run, tmp_path,
                                                                                        monkeypatch, written):
    copy = tmp_path / "run"
    shutil.copytree(loop_run, copy)
    before = T.load_run_file(copy / "checkpoint.pt", ())
    legacy = written != "now"
    if legacy:  # an older checkpoint.pt: the games start again on fresh seeds, the n-step window empty
        del before["loop"]
        torch.save(before, copy / "checkpoint.pt")
    seeds = []
    reset = T.Games.reset

    def recording_reset(self, seed0):
        seeds.append(seed0)
        reset(self, seed0)

    monkeypatch.setattr(T.Games, "reset", recording_reset)
    summary = T.train(LOOP, copy, progress=False)  # already at total_steps: resumes, saves, stops
    # the games in flight go on where they were; an old checkpoint, which lacks them, plays new seeds
    assert seeds == [LOOP.seed * TRAIN_SEED_BLOCK] + (
        [LOOP.seed * TRAIN_SEED_BLOCK + RESUME_SEED_OFFSET + LOOP.total_steps // N] if legacy else [])
    after = T.load_run_file(copy / "checkpoint.pt", ())
    assert after["step"] == before["step"] == summary["env_steps"] == LOOP.total_steps
    assert summary["updates"] == before["updates"] > 0
    for k in ("q", "q_target", "opt", "replay", "updates", "best_score", "best_eval", "config"):
        _same(before[k], after[k])
    assert after["elapsed"] >= before["elapsed"]
    # and n_step vector steps more go on from there: the counters and memory grow, by a transition per game and
    # step when the pending n-step transitions were kept, by n_step - 1 fewer steps' worth when they were not
    k = LOOP.n_step
    more = T.train(LOOP.replace(total_steps=LOOP.total_steps + k * N), copy, progress=False)
    last = T.load_run_file(copy / "checkpoint.pt", ())
    assert more["env_steps"] == LOOP.total_steps + k * N and more["updates"] == before["updates"] + k
    added = N if legacy else k * N
    assert last["replay"]["size"] == before["replay"]["size"] + added
    assert last["replay"]["pos"] == before["replay"]["pos"] + added


def _dev(catch, perfect=0.0):
    return {"catch": catch, "hard_catch": catch, "perfect": perfect, "mean_ticks_to_catch": 100.0,
            "episodes": 10}


def test_best_pt_keeps_the_weights_of_the_best_dev_score_counting_a_perfect_as_a_quarter(tmp_path,
                                                                                           monkeypatch):
    # dev scores 0.25, 0.5, 0.5625 (0.375 caught + a quarter of 0.75 perfect), 0.5625 again (a tie keeps the
    # earlier one), 0.5
    script = [_dev(0.25), _dev(0.5), _dev(0.375, 0.75), _dev(0.5625), _dev(0.5)]
    weights = []

    def scripted(q, cfg):
        weights.append({k: v.clone() for k, v in q.state_dict().items()})
        return script[len(weights) - 1]

    monkeypatch.setattr(T, "evaluate_dev", scripted)
    cfg = LOOP.replace(total_steps=5 * N, eval_every=N, learning_starts=0)
    summary = T.train(cfg, tmp_path / "run", progress=False)
    assert len(weights) == 5
    best = T.load_run_file(tmp_path / "run" / "best.pt", ())
    assert best["step"] == 3 * N and best["best_eval"] == dict(script[2], step=3 * N)
    assert best["best_score"] == 0.5625
    assert summary["best_dev"] == best["best_eval"]
    _same(best["q"], weights[2])
    assert not set(best) & {"q_target", "opt", "replay"}  # best.pt is the policy only
    with pytest.raises(AssertionError):  # the weights differ from evaluation to evaluation (updates each step)
        _same(weights[2], weights[4])


@pytest.mark.parametrize(("best", "last", "chosen"), [(_dev(0.5), _dev(0.25, 1.0), "best"),
                                                       (_dev(0.5), _dev(0.375, 0.75), "last"),
                                                       (_dev(0.5, 0.5), _dev(0.5, 0.25), "best")])
def test_final_choice_keeps_the_better_of_best_and_last_on_the_larger_dev_set(loop_run, tmp_path, monkeypatch,
                                                                              best, last, chosen):
    copy = tmp_path / "run"
    shutil.copytree(loop_run, copy)
    ckpt = T.load_run_file(copy / "checkpoint.pt", ())
    # make best.pt an earlier, different network, so that which one is kept shows
    old = T.load_run_file(copy / "best.pt", ())
    old["q"] = {k: v + 1.0 for k, v in old["q"].items()}
    old["step"] = N
    torch.save(old, copy / "best.pt")
    calls = []

    def scripted_run(policy, n, seed0, config):
        calls.append((n, seed0, tuple(config.level)))
        return len(calls)

    monkeypatch.setattr(T, "run_episodes", scripted_run)
    monkeypatch.setattr(T, "summarize", lambda ep: {1: best, 2: last}[ep])
    cfg = LOOP.replace(final_dev_episodes=77)
    res = T.final_choice(copy, cfg)
    assert calls == [(77, DEV_SEED0, tuple(cfg.level))] * 2
    assert res["chosen"] == chosen
    kept = T.load_run_file(copy / "best.pt", ())
    if chosen == "best":
        _same(kept["q"], old["q"])
        assert res["chosen_eval"] == dict(best, step=N)
    else:
        _same(kept["q"], ckpt["q"])
        assert kept["step"] == ckpt["step"] and kept["best_eval"] == dict(last, step=ckpt["step"])
        assert res["chosen_eval"] == kept["best_eval"]
        assert not set(kept) & {"q_target", "opt", "replay"}


def test_dev_evaluation_plays_the_dev_seeds_on_the_trained_levels(monkeypatch):
    calls = []
    monkeypatch.setattr(T, "run_episodes", lambda policy, n, seed0, config: calls.append((n, seed0, config)))
    monkeypatch.setattr(T, "summarize", lambda ep: "summary")
    cfg = LOOP.replace(level=(3, 7), frame_skip=2, eval_episodes=33)
    q = T.QNetwork(("bar_center",), (4,))
    assert T.evaluate_dev(q, cfg) == "summary"
    ((n, seed0, config),) = calls
    assert (n, seed0, tuple(config.level), config.frame_skip) == (33, DEV_SEED0, (3, 7), 2)
    calls.clear()
    T.evaluate_dev(q, cfg.replace(fish="Carp"))  # a run trained on one fish is judged on it, not on all 60
    assert calls[0][2].fish == "Carp"


def test_losing_a_perfect_catch_costs_the_penalty_on_that_tick_only():
    from envs.stardew import features as feats

    runs = {}
    for penalty in (0.0, 5.0):
        cfg = LOOP.replace(num_games=32, perfect_loss_penalty=penalty)
        g = T.Games(cfg, feats.resolve(cfg.features))
        g.reset(4321)
        rng = np.random.default_rng(0)
        rewards, lost = [], []
        for _ in range(400):
            was = g.perfect.copy()
            g.step(rng.integers(0, 2, g.n))
            rewards.append(g.reward)
            lost.append(was & ~g.perfect & ~(g.terminated | g.truncated))
        runs[penalty] = (np.array(rewards), np.array(lost))
    (r0, lost0), (r5, lost5) = runs[0.0], runs[5.0]
    np.testing.assert_array_equal(lost0, lost5)
    assert lost5.sum() > 10
    np.testing.assert_allclose(r5 - r0, -5.0 * lost5)


def test_config_json_is_the_runs_settings(loop_run):
    assert T.DQNConfig.from_dict(json.loads((loop_run / "config.json").read_text())) == LOOP


def test_replay_memory_is_a_ring_that_samples_only_filled_rows_and_restores_its_state():
    rb = ReplayBuffer(5, 1, seed=0)

    def add(vals, demo=False):
        v = np.array(vals, dtype=np.float32)
        rb.add(v[:, None], np.ones(len(v), dtype=np.int64), v, -v[:, None], np.full(len(v), 0.5), demo=demo)

    add([1, 2, 3])
    assert (rb.size, rb.pos) == (3, 3)
    o, a, r, no, d, demo = rb.sample(2000)
    assert set(r.tolist()) == {1.0, 2.0, 3.0}  # never the empty rows
    np.testing.assert_array_equal(o[:, 0], r)
    np.testing.assert_array_equal(no[:, 0], -r)
    assert (d == 0.5).all() and (a == 1).all() and not demo.any()
    add([4, 5, 6, 7], demo=np.array([True, False, True, False]))  # wraps: 6 and 7 overwrite 1 and 2
    assert (rb.size, rb.pos) == (5, 2)
    np.testing.assert_array_equal(rb.ret, [6, 7, 3, 4, 5])
    np.testing.assert_array_equal(rb.demo, [True, False, False, True, False])
    o, a, r, no, d, demo = rb.sample(2000)
    assert set(r.tolist()) == {3.0, 4.0, 5.0, 6.0, 7.0}
    np.testing.assert_array_equal(demo, np.isin(r, [4.0, 6.0]))
    copy = ReplayBuffer(5, 1, seed=1)
    copy.load_state(rb.state())
    assert (copy.size, copy.pos) == (5, 2)
    for k in ("obs", "next_obs", "action", "ret", "disc", "demo"):
        np.testing.assert_array_equal(getattr(copy, k), getattr(rb, k))


def test_transitions_bootstrap_from_the_ended_episodes_last_state_not_the_next_ones_first(tmp_path, monkeypatch):
    from agents.dqn.replay import NStepCollector

    cfg = LOOP.replace(num_games=256, total_steps=256 * 150, gradient_steps=0, stack=2)
    seen = {"ends": 0, "pushes": 0}
    step, push = T.Games.step, NStepCollector.push

    def keeping_step(self, action):
        step(self, action)
        seen["games"] = (self.obs.copy(), self.final_obs.copy(), self.terminated.copy(), self.truncated.copy())

    def checking_push(self, obs, action, reward, next_obs, terminated, ended):
        o, final, term, trunc = seen["games"]
        np.testing.assert_array_equal(ended, term | trunc)
        np.testing.assert_array_equal(terminated, term)
        np.testing.assert_array_equal(next_obs[ended], final[ended])
        np.testing.assert_array_equal(next_obs[~ended], o[~ended])
        seen["ends"] += int(ended.sum())
        seen["pushes"] += 1
        return push(self, obs, action, reward, next_obs, terminated, ended)

    monkeypatch.setattr(T.Games, "step", keeping_step)
    monkeypatch.setattr(NStepCollector, "push", checking_push)
    T.train(cfg, tmp_path / "run", progress=False)
    assert seen["pushes"] == 150 and seen["ends"] > 0


def test_demonstrated_games_play_the_demonstrators_actions_and_add_the_margin_loss(tmp_path, monkeypatch, watched):
    """The first demo_fraction of the games act as the demonstrator says, their transitions are marked, and the
    loss is the TD loss plus margin_weight x the DQfD large-margin loss x the share of demonstrated samples."""
    cfg = LOOP.replace(features="seed", demo_controller="lead_seed", demo_fraction=0.25, margin=0.8, margin_weight=8.0,
                       eps_start=1.0, eps_end=1.0, learning_starts=64)
    n_demo = N // 4
    step = T.Games.step
    acted = []

    def step_checking_demo(self, action):
        acted.append(action.copy())
        step(self, action)

    monkeypatch.setattr(T.Games, "demo_actions", lambda self: np.ones(self.n_demo, dtype=np.int64))
    monkeypatch.setattr(T.Games, "step", step_checking_demo)
    clip = torch.nn.utils.clip_grad_norm_
    checked = []

    def check_grads(params, max_norm):
        q, q_target = _Nets.made[0], _Nets.made[1]
        o, a, r, no, d, demo = (torch.from_numpy(x) for x in watched["batches"][-1])
        with torch.no_grad():
            nq = q_target(no).gather(1, q(no).argmax(dim=1, keepdim=True)).squeeze(1)
        q_all = q(o)
        loss = F.smooth_l1_loss(q_all.gather(1, a.unsqueeze(1)).squeeze(1), r + d * nq)
        qd, ad = q_all[demo], a[demo]
        lead = (qd + cfg.margin * (F.one_hot(ad, 2) == 0)).max(dim=1).values - qd.gather(1, ad[:, None]).squeeze(1)
        loss = loss + cfg.margin_weight * lead.mean() * demo.float().mean()
        want = torch.autograd.grad(loss, list(q.parameters()))
        for p, g in zip(q.parameters(), want, strict=True):
            torch.testing.assert_close(p.grad, g)
        checked.append(int(demo.sum()))
        return clip(params, max_norm)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", check_grads)
    T.train(cfg, tmp_path / "run", progress=False)
    acted = np.array(acted)
    assert (acted[:, :n_demo] == 1).all() and 0.3 < acted[:, n_demo:].mean() < 0.7
    assert checked and min(checked) > 0
    rb = T.load_run_file(tmp_path / "run" / "checkpoint.pt", ())["replay"]
    size = rb["size"]
    np.testing.assert_array_equal(rb["demo"][:size].reshape(-1, N), np.tile(np.arange(N) < n_demo, (size // N, 1)))
