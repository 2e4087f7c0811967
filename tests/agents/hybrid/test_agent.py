"""The hybrid agent's pieces: the distribution's maths, the Dict <-> Box mapping, saving and reloading."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.hybrid.distribution import HybridDistribution
from agents.hybrid.layout import HybridBoxWrapper, HybridLayout
from agents.hybrid.policy import HybridActorCriticPolicy, load_policy, policy_kwargs_for, save_policy

TYPES = ["none", "click", "drag", "key"]
USED = {"none": [], "click": ["pointer"], "drag": ["pointer", "drag_end"], "key": ["keys"]}


def dict_space(k: int = 3) -> spaces.Dict:
    return spaces.Dict({
        "type": spaces.Discrete(len(TYPES)),
        "pointer": spaces.Box(-1, 1, (2,), np.float32),
        "drag_end": spaces.Box(-1, 1, (2,), np.float32),
        "keys": spaces.MultiBinary(k),
    })


def layout(k: int = 3) -> HybridLayout:
    return HybridLayout.from_space(dict_space(k), TYPES, USED)


def norm_lp(x: float, mu: float, sigma: float) -> float:
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def bern_lp(k: float, logit: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return math.log(p if k > 0.5 else 1 - p)


def bern_h(logit: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


LOGITS = [0.1, 1.2, -0.4, 0.3]  # types
MEANS = [0.2, -0.5, 0.7, 0.0]  # pointer x, y, drag_end x, y
KEYL = [0.5, -1.0, 2.0]  # keys
LOG_STD = [-0.3, 0.0, 0.4, -1.0]


def dist() -> HybridDistribution:
    d = HybridDistribution(layout())
    return d.proba_distribution(th.tensor([LOGITS + MEANS + KEYL], dtype=th.float64),
                                th.tensor(LOG_STD, dtype=th.float64))


def test_log_prob_counts_only_the_parameters_of_the_chosen_type() -> None:
    z = sum(math.exp(v) for v in LOGITS)
    lcat = [v - math.log(z) for v in LOGITS]
    sig = [math.exp(s) for s in LOG_STD]
    a = [0.3, -0.2, 0.9, 0.1]
    keys = [1.0, 0.0, 1.0]
    cases = {
        0: lcat[0],
        1: lcat[1] + norm_lp(a[0], MEANS[0], sig[0]) + norm_lp(a[1], MEANS[1], sig[1]),
        2: lcat[2] + sum(norm_lp(a[i], MEANS[i], sig[i]) for i in range(4)),
        3: lcat[3] + sum(bern_lp(keys[i], KEYL[i]) for i in range(3)),
    }
    d = dist()
    for t, expected in cases.items():
        act = th.tensor([[float(t)] + a + keys], dtype=th.float64)
        assert d.log_prob(act).item() == pytest.approx(expected, abs=1e-9), TYPES[t]


def test_entropy_is_type_entropy_plus_expected_entropy_of_used_parameters() -> None:
    z = sum(math.exp(v) for v in LOGITS)
    p = [math.exp(v) / z for v in LOGITS]
    h_cat = -sum(q * math.log(q) for q in p)
    h_n = [0.5 * math.log(2 * math.pi * math.e) + s for s in LOG_STD]
    h_b = sum(bern_h(v) for v in KEYL)
    expected = h_cat + p[1] * (h_n[0] + h_n[1]) + p[2] * sum(h_n) + p[3] * h_b
    assert dist().entropy().item() == pytest.approx(expected, abs=1e-9)


def test_samples_and_modes_are_valid_layout_vectors() -> None:
    d = dist()
    s = d.sample()
    assert s.shape == (1, 8) and float(s[0, 0]) in (0.0, 1.0, 2.0, 3.0)
    assert set(s[0, 5:].tolist()) <= {0.0, 1.0}
    m = d.mode()
    assert m[0, 0].item() == 1.0  # argmax of LOGITS
    assert m[0, 1:5].tolist() == pytest.approx(MEANS)
    assert m[0, 5:].tolist() == [1.0, 0.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(t=st.integers(0, 3),
       p=st.lists(st.floats(-1, 1, width=32), min_size=4, max_size=4),
       k=st.lists(st.integers(0, 1), min_size=3, max_size=3))
def test_dict_to_box_to_dict_round_trips_exactly(t: int, p: list[float], k: list[int]) -> None:
    lay = layout()
    a = {"type": t, "pointer": np.array(p[:2], np.float32), "drag_end": np.array(p[2:], np.float32),
         "keys": np.array(k, np.int8)}
    box = lay.to_box(a)
    assert lay.box_space().contains(box)
    back = lay.to_dict(box)
    assert back["type"] == t
    for key in ("pointer", "drag_end", "keys"):
        assert np.array_equal(back[key], a[key]) and back[key].dtype == a[key].dtype
    assert dict_space().contains(back)
    assert np.array_equal(lay.to_box(back), box)  # and the other way round


def test_box_actions_outside_the_bounds_map_to_the_nearest_valid_dict_action() -> None:
    lay = layout()
    back = lay.to_dict(np.array([7.4, 3.0, -2.0, 0.5, 0.5, 0.9, 0.2, -1.0], np.float32))
    assert back["type"] == 3 and back["pointer"].tolist() == [1.0, -1.0] and back["keys"].tolist() == [1, 0, 0]
    # a type between two indices is the nearest one, not the one below
    assert [lay.to_dict(np.array([t, 0, 0, 0, 0, 0, 0, 0], np.float32))["type"] for t in (0.4, 0.6, 1.7, -0.3)] == [0, 1, 2, 0]


def test_q_head_input_is_the_one_hot_type_and_only_the_parameters_it_uses() -> None:
    d = HybridDistribution(layout())
    act = th.tensor([[float(t), 0.3, -0.2, 0.9, 0.1, 1.0, 0.0, 1.0] for t in range(4)])
    enc = d.encode(act)
    pointer, drag_end, keys = [0.3, -0.2], [0.9, 0.1], [1.0, 0.0, 1.0]
    expected = [
        [1, 0, 0, 0] + [0, 0] + [0, 0] + [0, 0, 0],  # none: no parameters
        [0, 1, 0, 0] + pointer + [0, 0] + [0, 0, 0],  # click: the pointer only
        [0, 0, 1, 0] + pointer + drag_end + [0, 0, 0],  # drag: pointer and drag end
        [0, 0, 0, 1] + [0, 0] + [0, 0] + keys,  # key: the keys only
    ]
    np.testing.assert_allclose(enc.numpy(), expected, atol=1e-7)


def test_without_a_usage_table_type_0_is_none_and_every_other_type_uses_every_parameter() -> None:
    lay = HybridLayout.from_space(dict_space())
    np.testing.assert_array_equal(lay.cont_mask(), [[0] * 4] + [[1] * 4] * 3)
    np.testing.assert_array_equal(lay.bin_mask(), [[0] * 3] + [[1] * 3] * 3)


def test_layout_survives_json_and_discrete_spaces_are_the_degenerate_case() -> None:
    lay = layout()
    assert HybridLayout.from_json(lay.to_json()) == lay
    d = HybridLayout.from_space(spaces.Discrete(2))
    assert d.dim == 1 and d.to_dict(d.to_box(1)) == 1


class _DictEnv(gym.Env):
    """A tiny env with the screen env's Dict action space; image observations."""

    observation_space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = dict_space()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        assert self.action_space.contains(action)
        return self.observation_space.sample(), float(action["type"] == 1), False, False, {}


def test_wrapper_exposes_a_box_and_sends_dict_actions() -> None:
    env = HybridBoxWrapper(_DictEnv(), layout())
    assert isinstance(env.action_space, spaces.Box) and env.action_space.shape == (8,)
    env.reset(seed=0)
    _, r, *_ = env.step(np.array([1, 0, 0, 0, 0, 0, 0, 0], np.float32))
    assert r == 1.0


def test_wrapper_on_screengame_keeps_its_type_names_and_parameter_usage() -> None:
    from envs.games.fishing import FishingGame
    from envs.games.fishing_screen import FISHING_ACTIONS
    from envs.screen.capture import ReplayCapture

    env = HybridBoxWrapper(gym.make("ScreenGame-v0", action_space=FISHING_ACTIONS, input="dry-run", step_hz=None,
                                    capture=ReplayCapture([FishingGame(seed=1).frame()])))
    lay = env.layout
    assert lay.type_names == ("none", "click", "drag", "hold", "key")
    assert dict(lay.params_used) == {"none": (), "click": ("pointer",), "drag": ("pointer", "drag_end"),
                                     "hold": ("pointer",), "key": ("keys",)}
    env.reset(seed=0)
    key = lay.type_names.index("key")
    env.step(np.array([key, 0.9, 0.9, 0, 0, 1, 0], np.float32))  # keys: c set; the pointer is unused by key
    assert env.unwrapped._backend.events == [("key", "c", True)]
    env.close()


def test_a_saved_policy_keeps_uniform_bounds_as_one_number_and_loads_them_as_the_same_space(tmp_path) -> None:
    """A frame stack's bounds are tens of thousands of equal numbers: the policy file holds one of each, small enough
    to read, and the space it loads is the one it was trained on; bounds that differ stay a list."""
    import json

    from gymnasium import spaces

    from agents.hybrid.policy import _space_from_json, _space_to_json

    env = HybridBoxWrapper(_DictEnv(), layout())
    pol = HybridActorCriticPolicy(env.observation_space, env.action_space, lambda _: 1e-3,
                                  **policy_kwargs_for(env.observation_space, env.layout, small=True))
    save_policy(pol, tmp_path / "p")
    meta = json.loads((tmp_path / "p.json").read_text())
    assert (meta["observation_space"]["low"], meta["observation_space"]["high"]) == (0, 255)
    assert (tmp_path / "p.json").stat().st_size < 10_000
    assert load_policy(tmp_path / "p").observation_space == env.observation_space
    mixed = spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 2.0], np.float32))
    assert _space_to_json(mixed)["low"] == [-1.0, 0.0] and _space_from_json(_space_to_json(mixed)) == mixed


def test_saved_policy_reloads_and_acts_identically(tmp_path) -> None:
    th.manual_seed(0)
    env = HybridBoxWrapper(_DictEnv(), layout())
    pol = HybridActorCriticPolicy(env.observation_space, env.action_space, lambda _: 1e-3,
                                  **policy_kwargs_for(env.observation_space, env.layout, small=True))
    save_policy(pol, tmp_path / "p")
    again = load_policy(tmp_path / "p")
    obs = np.stack([env.observation_space.sample() for _ in range(5)])
    pol.set_training_mode(False)
    a1, _ = pol.predict(obs, deterministic=True)
    a2, _ = again.predict(obs, deterministic=True)
    assert np.array_equal(a1, a2)
    with th.no_grad():
        o = th.as_tensor(obs)
        act = th.as_tensor(a1)
        for x, y in zip(pol.evaluate_actions(o, act), again.evaluate_actions(o, act), strict=True):
            assert th.equal(x, y)
        assert th.equal(pol.q_values(o, act), again.q_values(o, act))


def test_ppo_entry_point_trains_with_scaled_rewards_and_saves_a_reloadable_policy(tmp_path, monkeypatch) -> None:
    import json
    import tempfile

    from agents.hybrid.policy import load_policy
    from agents.hybrid.train import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where SB3 puts a run it was given no log for
    out = tmp_path / "ppo_state"
    main(["ppo", "--env", "state", "--steps", "512", "--n-envs", "2", "--n-steps", "128", "--batch-size", "128",
          "--eval-every", "1000000", "--eval-episodes", "10", "--norm-reward", "--out", str(out)])
    # PPO's own per-update log is in the run, and nothing was left in the temporary directory
    header = (out / "log" / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss", "train/q_explained_variance", "time/total_timesteps"} <= set(header)
    assert not (tmp_path / "tmp").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["args"]["norm_reward"] is True and run["final"]["env_steps"] >= 512
    # one row per update (2 x 128 steps each), labelled with the steps of the rollout it was fitted on
    q_rows = (out / "q_head.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in q_rows[1:]] == [256, 512]
    policy = load_policy(out / "policy")
    obs = np.zeros((3, *policy.observation_space.shape), dtype=np.float32)
    acts, _ = policy.predict(obs, deterministic=True)
    assert acts.shape == (3, *policy.action_space.shape)


def test_ppo_trains_on_the_documented_env_seeds_so_training_seeds_play_different_fish(tmp_path, monkeypatch) -> None:
    """Env i of --seed s starts on seed s*1000 + i. SB3 re-seeded the envs with s itself (env i on s + i), so
    seeds 1 and 2 trained on 7 of the same 8 fish streams."""
    from agents.hybrid.train import main
    from envs.stardew.fishing_env import StardewFishingEnv

    seen: list = []
    reset = StardewFishingEnv.reset

    def spy(self, *, seed=None, options=None):
        seen.append(seed)
        return reset(self, seed=seed, options=options)

    monkeypatch.setattr(StardewFishingEnv, "reset", spy)
    main(["ppo", "--env", "state", "--steps", "64", "--n-envs", "2", "--n-steps", "32", "--batch-size", "64",
          "--eval-every", "1000000", "--eval-episodes", "1", "--seed", "3", "--out", str(tmp_path / "run")])
    assert [s for s in seen if s is not None and s < 900_000][-2:] == [3000, 3001]
    assert not {3, 4} & set(seen)


def test_the_critic_warm_up_leaves_the_cloned_policy_as_it_was_with_the_q_head_on(tmp_path) -> None:
    """In the warm-up only V and Q learn: the Q loss (a random Q head: BC does not train it) moved the shared
    features, and the policy with them, before PPO proper began."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.ppo import HybridPPO
    from agents.hybrid.train import _env_layout

    make, lay, obs_space = _env_layout("pixels")  # the CNN+LSTM is shared by the policy, V and Q
    model = HybridPPO(HybridActorCriticPolicy, DummyVecEnv([lambda: make(0)]), seed=0, q_coef=0.5, critic_warmup=1,
                      n_steps=32, batch_size=32, n_epochs=1,
                      policy_kwargs=policy_kwargs_for(obs_space, lay, small=True), verbose=0)
    critic = ("value_net.", "q_net.", "mlp_extractor.value_net.")
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(32)  # one update: the warm-up
    after = model.policy.state_dict()
    assert [k for k in before if not k.startswith(critic) and not th.equal(before[k], after[k])] == []
    assert not th.equal(before["q_net.0.weight"], after["q_net.0.weight"])  # while the Q head did learn


def test_a_policy_built_with_other_settings_reloads_with_them(tmp_path) -> None:
    th.manual_seed(0)
    env = HybridBoxWrapper(_DictEnv(), layout())
    kw = {**policy_kwargs_for(env.observation_space, env.layout, small=True), "activation_fn": th.nn.ReLU}
    pol = HybridActorCriticPolicy(env.observation_space, env.action_space, lambda _: 1e-3, **kw)
    save_policy(pol, tmp_path / "p")
    again = load_policy(tmp_path / "p")
    assert again.activation_fn is th.nn.ReLU
    obs = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(5)]))
    with th.no_grad():
        assert th.equal(pol.predict_values(obs), again.predict_values(obs))


def test_ppo_zip_does_not_carry_the_demonstrations(tmp_path) -> None:
    import zipfile

    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.ppo import HybridPPO
    from agents.hybrid.train import _env_layout

    make, lay, obs_space = _env_layout("state")
    demos = (np.zeros((50_000, *obs_space.shape), np.float32), np.zeros((50_000, lay.dim), np.float32))
    model = HybridPPO(HybridActorCriticPolicy, DummyVecEnv([lambda: make(0)]), seed=0, demos=demos, bc_coef=0.1,
                      n_steps=64, batch_size=64, policy_kwargs=policy_kwargs_for(obs_space, lay), verbose=0)
    model.save(tmp_path / "ppo.zip")
    data = zipfile.ZipFile(tmp_path / "ppo.zip").read("data").decode()
    assert '"demos"' not in data and '"_demo_rng"' not in data
    assert (tmp_path / "ppo.zip").stat().st_size < 1_000_000  # the demos alone are 1.6 MB


def test_a_misspelt_params_used_entry_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"params_used\['click'\]: \['pointr'\] not parameters of the space"):
        HybridLayout.from_space(dict_space(), ["none", "click", "drag", "key"], {"click": ["pointr"]})
    with pytest.raises(ValueError, match=r"params_used: 'clik' is not an action type"):
        HybridLayout.from_space(dict_space(), ["none", "click", "drag", "key"], {"clik": ["pointer"]})


@pytest.mark.parametrize("argv, says", [
    (["bc", "--eval-every", "0"], "argument --eval-every: must be >= 1, got 0"),
    (["ppo", "--eval-every", "-5"], "argument --eval-every: must be >= 1, got -5"),
    (["ppo", "--n-envs", "two"], "argument --n-envs: need an integer, got 'two'"),
    (["bc", "--lr", "0"], "argument --lr: must be > 0.0, got 0"),
])
def test_train_cli_refuses_bad_numbers_naming_the_option(argv: list[str], says: str, tmp_path, capsys) -> None:
    from agents.hybrid.train import main

    with pytest.raises(SystemExit) as ex:
        main([*argv, "--out", str(tmp_path / "run")])
    assert ex.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_eval_record_keeps_each_policys_result_in_one_json_and_refuses_a_broken_file(tmp_path, capsys) -> None:
    import json

    from agents.hybrid.train import EVAL_SEED, main

    record = tmp_path / "eval.json"
    record.write_text(json.dumps({"runs/hybrid/bc/policy": {"catch_rate": 0.5}}))
    main(["eval", "--policy", "scripted", "--episodes", "2", "--record", str(record)])
    printed = json.loads(capsys.readouterr().out)
    table = json.loads(record.read_text())
    assert table["runs/hybrid/bc/policy"] == {"catch_rate": 0.5}  # the other policy's entry is kept
    assert printed["episodes"] == 2 and "caught_per_seed" not in printed  # the printed line stays a summary
    assert table["scripted"] == dict(printed, first_seed=EVAL_SEED, caught_per_seed=table["scripted"]["caught_per_seed"])
    assert len(table["scripted"]["caught_per_seed"]) == 2 and sum(table["scripted"]["caught_per_seed"]) == printed["caught"]

    record.write_text('{"scripted": {"catch_rate": 0.41},\n  "bc": }\n')
    with pytest.raises(SystemExit) as ex:
        main(["eval", "--policy", "scripted", "--episodes", "1", "--record", str(record)])
    assert ex.value.code == 2 and f"--record: {record}: line 2: not JSON" in capsys.readouterr().err
    assert record.read_text() == '{"scripted": {"catch_rate": 0.41},\n  "bc": }\n'  # left as it was


def test_hybrid_plots_writes_the_learning_curves_of_the_runs_it_finds_with_the_demonstrator_line(tmp_path) -> None:
    from analysis.hybrid_plots import curves

    runs = tmp_path / "runs"
    for name, rows in (("bc", "epoch,catch_rate,ci_lo,ci_hi\n0,0.0,0.0,0.2\n2,0.3,0.2,0.4\n"),
                       ("bc_ppo", "env_steps,catch_rate,ci_lo,ci_hi\n0,0.3,0.2,0.4\n10000,0.5,0.4,0.6\n")):
        (runs / name).mkdir(parents=True)
        (runs / name / "curve.csv").write_text(rows)
    png = curves(runs, tmp_path / "docs", demonstrator_episodes=2)
    assert png == tmp_path / "docs" / "learning_curves.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- bad input: a clear error naming the option and the file, and nothing already recorded is lost ----------
def _save_state_policy(path) -> None:
    """A small untrained policy for the state env (Discrete(2) actions on an (8,) vector) saved at ``path``."""
    obs = spaces.Box(-5, 5, (8,), np.float32)
    lay = HybridLayout.from_space(spaces.Discrete(2), ["release", "hold"])
    save_policy(HybridActorCriticPolicy(obs, lay.box_space(), lambda _: 1e-3, **policy_kwargs_for(obs, lay)), path)


def _break_policy(base, case: str) -> tuple[str, str]:
    """A saved policy at ``base`` broken as ``case`` says -> (the path to give, what the error must say)."""
    _save_state_policy(base)
    json_path, pt_path = base.with_suffix(".json"), base.with_suffix(".pt")
    if case == "missing":
        return str(base.parent / "nothere"), f"{base.parent / 'nothere.json'}: no such file"
    if case == "truncated weights":
        pt_path.write_bytes(pt_path.read_bytes()[:300])
        return str(base), f"{pt_path}: not a readable torch state_dict (truncated or corrupt?)"
    if case == "corrupt json":
        json_path.write_text('{"format": "stardew-rl/hybrid-policy",\n "version": ')
        return str(base), f"{json_path}: line 2: not JSON"
    meta = json.loads(json_path.read_text())
    if case == "unknown extractor":
        meta["features_extractor_class"] = "Nope"
        says = f"{json_path}: field 'features_extractor_class': unknown extractor 'Nope'"
    else:  # "weights of another architecture": the .json describes wider layers than the .pt holds
        meta["net_arch"] = {"pi": [32], "vf": [32]}
        says = f"{pt_path}: the weights do not fit the policy policy.json describes"
    json_path.write_text(json.dumps(meta))
    return str(base), says


def _fake_runs(monkeypatch) -> list:
    """Stand-ins for everything that would play, record or evaluate: a test must stop before any of them."""
    from agents.hybrid import play, record, train
    from analysis import hybrid_plots as plots

    calls: list = []
    monkeypatch.setattr(play, "play_window", lambda *a, **k: calls.append("play") or {"episodes": 0})
    monkeypatch.setattr(record, "record", lambda *a, **k: calls.append("record") or [])
    monkeypatch.setattr(plots, "gif", lambda *a, **k: calls.append("gif") or {})
    monkeypatch.setattr(train, "evaluate_scripted", lambda *a, **k: calls.append("eval") or {})
    return calls


def _cli(name: str):
    import importlib

    return importlib.import_module("analysis.hybrid_plots" if name == "plots" else f"agents.hybrid.{name}").main


def test_a_missing_init_policy_leaves_the_run_log_untouched(tmp_path, capsys) -> None:
    from agents.hybrid.train import main

    run = tmp_path / "ppo4"
    (run / "log").mkdir(parents=True)
    recorded = {"log/progress.csv": "time/total_timesteps,train/loss\n512,0.3\n",
                "curve.csv": "env_steps,catch_rate\n0,0.1\n", "run.json": '{"final": {}}'}
    for name, text in recorded.items():
        (run / name).write_text(text)
    with pytest.raises(SystemExit) as ex:
        main(["ppo", "--env", "state", "--out", str(run), "--steps", "64", "--n-envs", "1",
              "--init", str(tmp_path / "nothere")])
    assert ex.value.code == 2 and f"--init: {tmp_path / 'nothere.json'}: no such file" in capsys.readouterr().err
    assert {name: (run / name).read_text() for name in recorded} == recorded
    assert sorted(p.name for p in run.rglob("*")) == ["curve.csv", "log", "progress.csv", "run.json"]


@pytest.mark.parametrize("case", ["missing", "truncated weights", "corrupt json", "unknown extractor",
                                  "weights of another architecture"])
@pytest.mark.parametrize("cli, argv", [("train", ["eval", "--episodes", "1", "--policy"]),
                                       ("play", ["--episodes", "1", "--policy"]),
                                       ("plots", ["gif", "--steps", "2", "--policy"])])
def test_a_bad_policy_file_is_a_usage_error_naming_the_option_and_the_file(
        cli: str, argv: list[str], case: str, tmp_path, monkeypatch, capsys) -> None:
    calls = _fake_runs(monkeypatch)
    path, says = _break_policy(tmp_path / "policy", case)
    with pytest.raises(SystemExit) as ex:
        _cli(cli)([*argv, path])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and f"error: --policy: {says}" in err and "Traceback" not in err
    assert calls == []


@pytest.mark.parametrize("cli, argv", [("play", ["--episodes", "1"]), ("plots", ["gif", "--steps", "2"])])
def test_play_and_gif_refuse_a_state_policy_before_the_game_starts(cli: str, argv: list[str], tmp_path,
                                                                   monkeypatch, capsys) -> None:
    calls = _fake_runs(monkeypatch)
    _save_state_policy(tmp_path / "policy")
    with pytest.raises(SystemExit) as ex:
        _cli(cli)([*argv, "--policy", str(tmp_path / "policy")])
    assert ex.value.code == 2 and f"--policy: {tmp_path / 'policy'}: a policy for env 'state'" in capsys.readouterr().err
    assert calls == []


def test_a_policy_for_the_other_env_or_architecture_given_as_init_is_refused_before_the_run(tmp_path, capsys) -> None:
    from agents.hybrid.train import _env_layout, main

    _save_state_policy(tmp_path / "ppo_state" / "policy")
    _, lay, obs = _env_layout("pixels")  # a pixel policy, but with the big CNN: not the one ppo builds for pixels
    save_policy(HybridActorCriticPolicy(obs, lay.box_space(), lambda _: 1e-3, **policy_kwargs_for(obs, lay)),
                tmp_path / "big" / "policy")
    for init, says in ((tmp_path / "ppo_state" / "policy", "a policy for env 'state', this run is on 'pixels'"),
                       (tmp_path / "big" / "policy", "its layers do not fit this run's policy (size mismatch")):
        with pytest.raises(SystemExit) as ex:
            main(["ppo", "--env", "pixels", "--n-envs", "1", "--steps", "64", "--init", str(init),
                  "--out", str(tmp_path / "run")])
        assert ex.value.code == 2 and f"--init: {init}: {says}" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", ["not JSON", "a JSON list", "a directory", "under a file"])
def test_eval_checks_the_record_file_before_evaluating(case: str, tmp_path, monkeypatch, capsys) -> None:
    from agents.hybrid.train import main

    calls = _fake_runs(monkeypatch)
    record = tmp_path / "rec.json"
    if case == "not JSON":
        record.write_text('{"a":')
        says = f"{record}: line 1: not JSON"
    elif case == "a JSON list":
        record.write_text("[1]\n")
        says = f"{record}: not a JSON object of results (a list)"
    elif case == "a directory":
        record.mkdir()
        says = f"{record}: a directory"
    else:
        (tmp_path / "notes").write_text("x")
        record = tmp_path / "notes" / "rec.json"
        says = f"{record}: {tmp_path / 'notes'} is not a directory"
    before = record.read_text() if record.is_file() else None
    with pytest.raises(SystemExit) as ex:
        main(["eval", "--policy", "scripted", "--episodes", "2", "--record", str(record)])
    assert ex.value.code == 2 and f"error: --record: {says}" in capsys.readouterr().err
    assert calls == []  # refused before the evaluation, not after it
    assert (record.read_text() if record.is_file() else None) == before


def test_a_record_file_broken_during_the_evaluation_loses_no_result(tmp_path, monkeypatch, capsys) -> None:
    from agents.hybrid import train

    record = tmp_path / "rec.json"
    record.write_text('{"bc": {"catch_rate": 0.5}}')
    result = {"episodes": 2, "caught": 1, "catch_rate": 0.5, "ci95": [0.1, 0.9], "caught_per_seed": [1, 0],
              "first_seed": train.EVAL_SEED}

    def evaluate(episodes: int) -> dict:
        record.write_text('{"bc": ')  # another process writing the record, interrupted, meanwhile
        return result

    monkeypatch.setattr(train, "evaluate_scripted", evaluate)
    with pytest.raises(SystemExit) as ex:
        train.main(["eval", "--policy", "scripted", "--episodes", "2", "--record", str(record)])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and f"--record: {record}: line 1: not JSON" in err and "printed above" in err
    assert json.loads(err.splitlines()[0]) == {"scripted": result}  # every seed's outcome, ready to add by hand
    assert record.read_text() == '{"bc": '  # and the file is not overwritten


@pytest.mark.parametrize("make_out, says", [(lambda d: d / "no" / "res.json", "its folder"),
                                            (lambda d: d, "a directory")])
def test_play_checks_its_out_file_before_playing(make_out, says: str, tmp_path, monkeypatch, capsys) -> None:
    from agents.hybrid.play import main

    calls = _fake_runs(monkeypatch)
    out = make_out(tmp_path)
    with pytest.raises(SystemExit) as ex:
        main(["--policy", "scripted", "--episodes", "1", "--out", str(out)])
    assert ex.value.code == 2 and f"--out: {out}: {says}" in capsys.readouterr().err
    assert calls == []


@pytest.mark.parametrize("cli, argv, says", [
    ("play", ["--policy", "scripted", "--episodes", "0"], "argument --episodes: must be >= 1, got 0"),
    ("play", ["--policy", "scripted", "--episodes", "-1"], "argument --episodes: must be >= 1, got -1"),
    ("play", ["--policy", "scripted", "--max-seconds", "-1"], "argument --max-seconds: must be > 0.0, got -1"),
    ("record", ["--episodes", "0"], "argument --episodes: must be >= 1, got 0"),
    ("record", ["--max-seconds", "-1"], "argument --max-seconds: must be > 0.0, got -1"),
    ("plots", ["gif", "--policy", "p", "--steps", "0"], "argument --steps: must be >= 1, got 0"),
    ("plots", ["gif", "--policy", "p", "--steps", "-5"], "argument --steps: must be >= 1, got -5"),
])
def test_play_record_and_gif_refuse_counts_and_times_that_are_not_positive(cli: str, argv: list[str], says: str,
                                                                           monkeypatch, capsys) -> None:
    calls = _fake_runs(monkeypatch)
    with pytest.raises(SystemExit) as ex:
        _cli(cli)(argv)
    assert ex.value.code == 2 and says in capsys.readouterr().err
    assert calls == []


def test_curves_refuse_a_runs_directory_that_is_missing_or_holds_no_runs(tmp_path, capsys) -> None:
    from analysis.hybrid_plots import main

    (tmp_path / "empty" / "unrelated").mkdir(parents=True)
    (tmp_path / "empty" / "bc").mkdir()  # a run folder without a curve yet
    for runs, says in ((tmp_path / "missing", "no such directory"), (tmp_path / "empty", "no runs in it")):
        with pytest.raises(SystemExit) as ex:
            main(["curves", "--runs", str(runs), "--out", str(tmp_path / "docs")])
        assert ex.value.code == 2 and f"--runs: {runs}: {says}" in capsys.readouterr().err
    assert not (tmp_path / "docs").exists()  # no empty figure
