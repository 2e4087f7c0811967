"""The state teacher in the pixel env, DAgger with it, and its demonstrations (tiny budgets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.hybrid.layout import HybridBoxWrapper

EASY = {"fish": "Carp", "level": 0}  # the easiest fish; on seeds 12 and 13 never reeling and always reeling lose it


def test_the_teacher_catches_easy_fish_in_the_pixel_env_where_never_reeling_loses_them() -> None:
    from agents.hybrid.teacher import StateTeacher, evaluate_teacher, teacher_action
    from envs.games.fishing_pixels import FishingPixelsEnv

    res = evaluate_teacher([12, 13], **EASY)
    assert res["caught_per_seed"] == [1, 1] and res["catch_rate"] == 1.0

    env = FishingPixelsEnv(**EASY)  # the same fish without reeling escape: the catches are the teacher's doing
    teacher = StateTeacher()
    env.reset(seed=12)
    types = set()
    while True:
        types.add(env.action_spec.type_names[int(teacher_action(teacher, env)["type"])])
        _, _, term, trunc, info = env.step({"type": 0, "pointer": np.zeros(2, np.float32),
                                            "drag_end": np.zeros(2, np.float32), "keys": np.zeros(2, np.int8)})
        if term or trunc:
            break
    assert info["escaped"] and types == {"hold", "none"}  # it answers the env's own hold / none actions


def test_the_teacher_policy_answers_each_env_of_its_vector_from_that_envs_own_game() -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.teacher import StateTeacher, TeacherPolicy
    from envs.games.fishing_pixels import FishingPixelsEnv

    venv = DummyVecEnv([lambda: HybridBoxWrapper(FishingPixelsEnv()) for _ in range(3)])
    venv.seed(40)
    obs = venv.reset()
    layout = venv.envs[0].layout
    policy = TeacherPolicy(venv.observation_space, venv.action_space, venv.envs, layout)
    alone = [StateTeacher() for _ in range(3)]  # one teacher per game, reading the game directly
    for _ in range(60):
        acts, _ = policy.predict(obs)
        want = [bool(t.hold([e.unwrapped.game.sim])[0]) for t, e in zip(alone, venv.envs, strict=True)]
        assert [layout.type_names[layout.type_of(a)] for a in acts] == ["hold" if w else "none" for w in want]
        obs, *_ = venv.step(acts)
    with pytest.raises(ValueError, match="2 observations for 3 envs"):
        policy.predict(obs[:2])


def test_the_teacher_refuses_an_env_without_a_fishing_game_naming_it() -> None:
    import gymnasium as gym

    from agents.hybrid.teacher import TeacherPolicy
    from envs.games.fishing_pixels import FishingPixelsEnv

    good = HybridBoxWrapper(FishingPixelsEnv())
    other = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match=r"envs\[1\]: CartPoleEnv has no fishing game"):
        TeacherPolicy(good.observation_space, good.action_space, [good, other], good.layout)


def test_a_tiny_dagger_run_writes_its_files_and_its_policy_loads_and_acts(tmp_path, capsys) -> None:
    from agents.hybrid import load_policy
    from agents.hybrid.demos import episode_files, load_trajectories, read_episode
    from agents.hybrid.train import main
    from envs.games.fishing_pixels import FishingPixelsEnv

    out = tmp_path / "dagger"
    main(["dagger", "--rounds", "2", "--round-steps", "40", "--batches-per-round", "2", "--batch-size", "16",
          "--n-envs", "2", "--eval-episodes", "1", "--seed", "3", "--out", str(out)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["round"] for r in rows] == [1, 2] and rows[0]["beta"] == 1.0 and rows[1]["beta"] < 1.0
    assert rows[1]["expert_labels"] > rows[0]["expert_labels"] > 0  # the second round's labels are added
    curve = (out / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("round,beta,expert_labels,episodes,env_steps,catch_rate") and len(curve) == 3
    run = json.loads((out / "run.json").read_text())
    assert run["train_seeds"] == [3000, 3001] and run["final"] == rows[-1]
    files = episode_files(out / "rounds" / "demos")
    assert files and all(read_episode(p)[0]["source"] == "teacher" for p in files)
    assert {read_episode(p)[0]["dagger_round"] for p in files} == {0, 1}
    assert sum(len(t.acts) for t in load_trajectories(out / "rounds" / "demos")) == rows[-1]["expert_labels"]

    policy = load_policy(out / "policy")
    env = FishingPixelsEnv()
    obs, _ = env.reset(seed=5)
    action, _ = policy.predict(obs, deterministic=True)
    assert env.action_space.contains(action)
    env.step(action)

    with pytest.raises(SystemExit) as ex:  # a second run into the same folder would mix its rounds with these
        main(["dagger", "--rounds", "1", "--out", str(out)])
    assert ex.value.code == 2 and "holds an earlier DAgger run's rounds" in capsys.readouterr().err


def test_teacher_demos_carry_source_teacher_load_with_the_demo_loader_and_are_not_recorded_twice(tmp_path,
                                                                                                capsys) -> None:
    from agents.hybrid.demos import episode_files, load_trajectories, read_episode, summarize
    from agents.hybrid.train import TEACHER_DEMO_SEED, main

    out = tmp_path / "teacher"
    main(["demos-teacher", "--episodes", "2", "--out", str(out)])
    headers = [read_episode(p)[0] for p in episode_files(out)]
    assert [h["source"] for h in headers] == ["teacher", "teacher"]
    assert [h["seed"] for h in headers] == [TEACHER_DEMO_SEED, TEACHER_DEMO_SEED + 1]
    trajs = load_trajectories(out)
    assert len(trajs) == 2 and trajs[0].obs.shape[1:] == (4, 84, 84, 3)
    assert set(np.rint(np.concatenate([t.acts[:, 0] for t in trajs])).astype(int)) == {0, 3}  # none, hold
    assert summarize(out)["sources"] == ["teacher"]
    capsys.readouterr()
    main(["demos-teacher", "--episodes", "3", "--out", str(out)])
    assert "2 of the 3 episodes are already there" in capsys.readouterr().err and len(episode_files(out)) == 3


def test_dagger_trains_on_the_same_stacks_the_demo_loader_builds(tmp_path) -> None:
    from agents.hybrid.dagger import FrameStackDataset, episodes_of
    from agents.hybrid.demos import load_trajectories
    from agents.hybrid.train import main

    main(["demos-teacher", "--episodes", "1", "--out", str(tmp_path / "t")])
    layout = HybridBoxWrapper(__import__("envs.games.fishing_pixels", fromlist=["x"]).FishingPixelsEnv()).layout
    traj = load_trajectories(tmp_path / "t", layout)[0]
    data = FrameStackDataset(4)
    for frames, acts in episodes_of(tmp_path / "t", layout) * 2:
        data.add(frames, acts)
    data.freeze()
    n = len(traj.acts)
    assert len(data) == 2 * n
    for i in (0, 1, 2, 3, n - 1):
        for j in (i, n + i):  # the second copy indexes its own frames
            assert np.array_equal(data[j]["obs"], traj.obs[i]) and np.array_equal(data[j]["acts"], traj.acts[i])
    with pytest.raises(ValueError, match="3 frames for 3 actions"):
        data.add(np.zeros((3, 84, 84, 3), np.uint8), np.zeros((3, 8), np.float32))


@pytest.mark.parametrize("argv, says", [
    (["dagger", "--seed", "900"], "--seed: 900 with --n-envs 8 would use seeds 900000..900007"),
    (["demos-teacher", "--seed", "700", "--episodes", "5"], "--seed: 700 with --episodes 5 would use seeds"),
    (["dagger", "--teacher", "no/such.onnx"], "--teacher: no/such.onnx: no such file"),
    (["demos-teacher", "--teacher", "no/such.onnx"], "--teacher: no/such.onnx: no such file"),
    (["eval", "--policy", "teacher", "--teacher", "no/such.onnx"], "--teacher: no/such.onnx: no such file"),
    (["dagger", "--demos", "no/such/demos"], "--demos: "),
    (["dagger", "--rounds", "0"], "argument --rounds: must be >= 1, got 0"),
])
def test_bad_teacher_and_dagger_input_is_a_usage_error_naming_the_option(argv: list[str], says: str, tmp_path,
                                                                         capsys) -> None:
    from agents.hybrid.train import main

    out = [] if argv[0] == "eval" else ["--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as ex:
        main([*argv, *out])
    assert ex.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_shipped_pixel_policy_loads_catches_easy_fish_in_the_envs_own_actions_and_its_figures_add_up() -> None:
    from pathlib import Path

    from agents.hybrid import load_policy
    from agents.hybrid.train import EVAL_SEED
    from envs.games.fishing_pixels import FishingPixelsEnv

    shipped = Path(__file__).resolve().parents[3] / "exported" / "hybrid_pixels"
    policy = load_policy(shipped / "policy")
    env = FishingPixelsEnv(**EASY)
    for seed in (12, 13):  # never reeling and always reeling both lose these two
        obs, _ = env.reset(seed=seed)
        while True:
            action, _ = policy.predict(obs, deterministic=True)
            assert env.action_space.contains(action)
            obs, _, term, trunc, info = env.step(action)
            if term or trunc:
                break
        assert info["caught"]
    results = json.loads((shipped / "results.json").read_text())
    assert {"teacher", "exported/hybrid_pixels/policy"} <= set(results)
    for res in results.values():
        per_seed = res["caught_per_seed"]
        assert res["first_seed"] == EVAL_SEED and res["episodes"] == len(per_seed)
        assert res["caught"] == sum(per_seed) and res["catch_rate"] == res["caught"] / res["episodes"]
