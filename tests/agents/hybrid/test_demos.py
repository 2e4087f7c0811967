"""Demonstrations and the offscreen pixel game: the file format reproduces what the agent saw and did."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.hybrid.demos import DemoFormatError, DemoWriter, episode_files, load_trajectories, read_episode
from agents.hybrid.layout import HybridLayout
from envs.games.fishing_pixels import FishingPixelsEnv
from envs.games.fishing_screen import scripted_action


def test_offscreen_frames_are_the_windows_pygame_frames_through_the_same_preprocessing() -> None:
    env = FishingPixelsEnv()
    obs, _ = env.reset(seed=3)
    for t in range(120):  # the bar, the fish, the meter and the lamp move; the window's picture is pygame's
        window = env.game._draw()
        import pygame

        picture = np.frombuffer(pygame.image.tobytes(window, "RGB"), np.uint8).reshape(env.frame().shape)
        assert np.array_equal(env.frame(), picture), t
        assert np.array_equal(obs[-1], env.pre(picture))
        assert env.observation_space.contains(obs)
        obs, *_ = env.step(env.action_spec.make("key", keys=["c"]) if t % 7 < 4 else env.action_spec.noop())


def test_reset_after_a_truncation_starts_a_new_minigame() -> None:
    env = FishingPixelsEnv(max_steps=5)
    _, start = env.reset(seed=1)
    for _ in range(5):
        *_, trunc, info = env.step(env.action_spec.make("key", keys=["c"]))
    assert trunc and info["tick"] > start["tick"]
    _, again = env.reset()
    assert again["tick"] == start["tick"] and again["distanceFromCatching"] == start["distanceFromCatching"]


def test_only_hold_and_reel_keys_press_the_button() -> None:
    env = FishingPixelsEnv()
    spec = env.action_spec
    assert env.pressed(spec.make("hold")) and env.pressed(spec.make("key", keys=["c"]))
    assert env.pressed(spec.make("key", keys=["space"]))
    assert not env.pressed(spec.noop()) and not env.pressed(spec.make("key", keys=[0, 0]))
    assert not env.pressed(spec.make("click")) and not env.pressed(spec.make("drag"))


def test_demo_files_reload_as_the_observations_and_actions_recorded(tmp_path) -> None:
    env = FishingPixelsEnv(max_steps=40)
    spec = env.action_spec
    layout = HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used)
    w = DemoWriter(tmp_path, {"source": "scripted", "layout": layout.to_json(), "keys": list(spec.keys),
                              "frame_stack": 4})
    obs, _ = env.reset(seed=11)
    w.start(obs)
    seen, acts = [obs], []
    rng = np.random.default_rng(0)
    while True:
        a = scripted_action(spec, env.render())
        if a["type"] != 0:  # a person's pointer is somewhere: put it anywhere, it must survive the file
            a = spec.make("hold", pointer=rng.uniform(-1, 1, 2))
        obs, r, term, trunc, _ = env.step(a)
        w.add(a, r, obs)
        seen.append(obs)
        acts.append(a)
        if term or trunc:
            break
    path = w.end(terminal=term, outcome="x")
    header, arrays = read_episode(path)  # allow_pickle=False inside
    assert header["format"] == "stardew-rl/demos" and header["version"] == 1 and header["source"] == "scripted"
    (traj,) = load_trajectories(tmp_path)
    assert np.array_equal(traj.obs, np.stack(seen))
    assert len(traj.acts) == len(acts) == len(traj.obs) - 1
    for box, a in zip(traj.acts, acts, strict=True):
        back = layout.to_dict(box)
        assert back["type"] == a["type"] and np.array_equal(back["pointer"], a["pointer"])
    assert (arrays["type"] == 0).any()  # no-op steps are recorded too


def test_hybrid_ppo_updates_offscreen_with_q_and_demo_losses(tmp_path) -> None:
    import torch as th
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.hybrid.layout import HybridBoxWrapper
    from agents.hybrid.policy import HybridActorCriticPolicy, policy_kwargs_for
    from agents.hybrid.ppo import HybridPPO

    th.set_num_threads(1)
    env = HybridBoxWrapper(FishingPixelsEnv())
    demo_obs = np.stack([env.reset(seed=1)[0]] * 8)
    demo_acts = np.stack([env.layout.to_box(env.unwrapped.action_spec.make("key", keys=["c"]))] * 8)
    model = HybridPPO(HybridActorCriticPolicy, DummyVecEnv([lambda: env]), n_steps=16, batch_size=8, n_epochs=1,
                      critic_warmup=1, q_coef=0.5, demos=(demo_obs, demo_acts), bc_coef=1.0, bc_batches=2,
                      policy_kwargs=policy_kwargs_for(env.observation_space, env.layout, small=True), seed=0)
    model.set_logger(configure(str(tmp_path / "log"), []))
    model.learn(total_timesteps=32)
    logs = model.logger.name_to_value
    assert {"train/q_loss", "train/bc_neglogp"} <= set(logs)


def _write_episodes(directory, n: int, steps: int = 6, frame=(84, 84, 3)) -> tuple[HybridLayout, list]:
    env = FishingPixelsEnv()
    spec = env.action_spec
    layout = HybridLayout.from_space(env.action_space, spec.type_names, spec.params_used)
    w = DemoWriter(directory, {"source": "scripted", "layout": layout.to_json(), "keys": list(spec.keys),
                               "type_names": list(spec.type_names), "frame_stack": 4})
    rng = np.random.default_rng(0)
    paths = []
    for _ in range(n):
        w.start(rng.integers(0, 256, (4, *frame), dtype=np.uint8))
        for i in range(steps):
            a = spec.make("hold", pointer=rng.uniform(-1, 1, 2)) if i % 2 else spec.make("key", keys=["c"])
            w.add(a, 0.5, rng.integers(0, 256, (4, *frame), dtype=np.uint8))
        paths.append(w.end(terminal=True, outcome="caught"))
    return layout, paths


def test_a_leftover_tmp_file_of_an_interrupted_save_neither_stops_the_writer_nor_loads(tmp_path) -> None:
    _write_episodes(tmp_path, 3)
    leftover = tmp_path / "episode_00003.tmp.npz"
    leftover.write_bytes(b"PK\x03\x04 half an episode")
    (tmp_path / "episode_notes.npz").write_bytes(b"not an episode name either")
    _, (path,) = _write_episodes(tmp_path, 1)  # a new writer (a new recording) in the same directory
    assert path.name == "episode_00003.npz"
    assert leftover.read_bytes() == b"PK\x03\x04 half an episode"  # nothing recorded is deleted
    assert [p.name for p in episode_files(tmp_path)] == [f"episode_{i:05d}.npz" for i in range(4)]
    assert len(load_trajectories(tmp_path)) == 4


def _corrupt(arrays: dict, header: dict, case: str) -> None:
    if case == "missing array":
        del arrays["pointer"]
    elif case == "bad JSON header":
        arrays["header"] = np.array("{'format': not json")
    elif case == "frames and actions disagree":
        arrays["frames"] = arrays["frames"][:-1]
    elif case == "NaN pointer":
        arrays["pointer"][3, 1] = np.nan
    elif case == "type out of range":
        arrays["type"][2] = 9
    elif case == "wrong frame shape":
        arrays["frames"] = arrays["frames"][..., 0]
    elif case == "type names differ from the layout":
        header["type_names"] = ["none", "click", "drag", "key", "hold"]


BAD_FILES = {  # case -> (field named in the error, what the message says)
    "truncated zip": (None, "not a readable .npz file"),
    "missing array": ("pointer", "missing array"),
    "bad JSON header": ("header", "not JSON"),
    "frames and actions disagree": ("frames", "6 frames for 6 actions"),
    "NaN pointer": ("pointer", "not finite .* at step 3"),
    "type out of range": ("type", "value 9 at step 2 outside 0..4"),
    "wrong frame shape": ("frames", r"frame shape \(84, 84\), expected \(84, 84, 3\)"),
    "type names differ from the layout": ("type_names", "!= the layout's"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_demo_file_is_refused_naming_the_file_and_the_field(tmp_path, case: str) -> None:
    layout, (path,) = _write_episodes(tmp_path, 1)
    if case == "truncated zip":
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    else:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(str(arrays["header"]))
        _corrupt(arrays, header, case)
        if case != "bad JSON header":
            arrays["header"] = np.array(json.dumps(header))
        np.savez_compressed(path, **arrays)
    field, says = BAD_FILES[case]
    with pytest.raises(DemoFormatError, match=says) as err:
        load_trajectories(tmp_path, layout, frame_shape=(84, 84, 3))
    assert str(err.value).startswith(f"{path}: ") and err.value.field == field
    if field is not None:
        assert f"field {field!r}" in str(err.value)


def test_a_missing_or_empty_demo_directory_fails_before_training_with_a_clear_message(tmp_path, capsys) -> None:
    from agents.hybrid.train import main

    with pytest.raises(FileNotFoundError, match="no such demo directory"):
        load_trajectories(tmp_path / "demos" / "scriptd")
    with pytest.raises(ValueError, match="no demo episodes"):
        load_trajectories(tmp_path)
    for demos, says in ((tmp_path / "scriptd", "no such demo directory"), (tmp_path, "no demo episodes")):
        with pytest.raises(SystemExit) as ex:
            main(["bc", "--demos", str(demos), "--out", str(tmp_path / "run")])
        assert ex.value.code == 2 and f"--demos: {demos}: {says}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # stopped before anything was built


def test_recording_the_scripted_demos_again_completes_the_set_instead_of_doubling_it(tmp_path, capsys) -> None:
    from agents.hybrid.train import DEMO_SEED, main

    out = tmp_path / "scripted"
    main(["demos-scripted", "--out", str(out), "--episodes", "2"])
    first = {p.name: read_episode(p)[1]["type"] for p in episode_files(out)}
    assert sorted(read_episode(p)[0]["seed"] for p in episode_files(out)) == [DEMO_SEED, DEMO_SEED + 1]
    capsys.readouterr()

    main(["demos-scripted", "--out", str(out), "--episodes", "2"])  # nothing missing: nothing recorded
    assert "2 of the 2 episodes are already there; recording the other 0" in capsys.readouterr().err
    assert [p.name for p in episode_files(out)] == sorted(first)

    main(["demos-scripted", "--out", str(out), "--episodes", "3"])  # one missing: only it is recorded
    files = episode_files(out)
    assert [read_episode(p)[0]["seed"] for p in files] == [DEMO_SEED, DEMO_SEED + 1, DEMO_SEED + 2]
    assert all(np.array_equal(read_episode(out / name)[1]["type"], t) for name, t in first.items())

    # another source's episode of the same seed (a person's) is not the script's: it is kept and recorded beside
    header, arrays = read_episode(files[0])
    np.savez_compressed(out / "episode_00007.npz", header=np.array(json.dumps(dict(header, source="human"))),
                        **arrays)
    (files[0]).unlink()
    main(["demos-scripted", "--out", str(out), "--episodes", "3"])
    seeds = sorted((read_episode(p)[0]["source"], read_episode(p)[0]["seed"]) for p in episode_files(out))
    assert seeds == [("human", DEMO_SEED), ("scripted", DEMO_SEED), ("scripted", DEMO_SEED + 1),
                     ("scripted", DEMO_SEED + 2)]


def test_bc_entry_point_keeps_its_training_log_in_the_run_not_under_tmp(tmp_path, monkeypatch) -> None:
    import tempfile

    from agents.hybrid.train import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where imitation puts a log it was given no home
    _write_episodes(tmp_path / "demos", 2, steps=40)
    out = tmp_path / "bc"
    main(["bc", "--demos", str(tmp_path / "demos"), "--out", str(out), "--epochs", "1", "--eval-episodes", "1",
          "--batch-size", "16"])
    header = (out / "log" / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"bc/loss", "bc/neglogp", "bc/entropy"} <= set(header)
    assert "prob_true_act" in (out / "log" / "log.txt").read_text()
    # imitation names its fallback log folder imitation-<time>; torch may put its inductor cache there too when
    # this test is the first to import torch._inductor, which is no log of ours
    assert (out / "policy.pt").is_file() and not list((tmp_path / "tmp").glob("imitation-*"))


# ---- bad input: a clear error naming the option and the file, and nothing already recorded is lost ----------
def test_demos_scripted_names_out_for_a_bad_episode_already_in_it(tmp_path, capsys) -> None:
    from agents.hybrid.train import main

    out = tmp_path / "dtrunc"
    _, (good, bad) = _write_episodes(out, 2)
    bad.write_bytes(bad.read_bytes()[:2000])
    before = {p: p.read_bytes() for p in (good, bad)}
    with pytest.raises(SystemExit) as ex:
        main(["demos-scripted", "--out", str(out), "--episodes", "1"])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and f"error: --out: {bad}: not a readable .npz file" in err and "--demos" not in err
    assert {p: p.read_bytes() for p in out.iterdir()} == before  # nothing recorded, nothing replaced


@pytest.mark.parametrize("argv, says", [
    (["demos-scripted", "--seed", "800", "--episodes", "1"], "800 with --episodes 1 would use seeds 900000..900000"),
    (["demos-scripted", "--seed", "799", "--episodes", "1001"], "use --seed 798 or lower"),
    (["ppo", "--env", "state", "--seed", "900", "--n-envs", "1", "--steps", "64", "--n-steps", "64",
      "--batch-size", "64", "--eval-episodes", "1"], "900 with --n-envs 1 would use seeds 900000..900000"),
    (["ppo", "--env", "state", "--seed", "899", "--n-envs", "1001", "--steps", "64", "--n-steps", "64",
      "--batch-size", "64", "--eval-episodes", "1"], "use --seed 898 or lower"),
])
def test_training_and_demo_seeds_may_not_reach_the_evaluation_seeds(argv: list[str], says: str, tmp_path,
                                                                    capsys) -> None:
    from agents.hybrid.train import main

    with pytest.raises(SystemExit) as ex:
        main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and "error: --seed: " in err and says in err and "reserved for evaluation" in err
    assert not (tmp_path / "run").exists()


def test_the_seed_check_allows_every_seed_below_the_evaluation_range_and_no_negative_one(capsys) -> None:
    from agents.hybrid.train import DEMO_SEED, EVAL_SEED, InputError, check_seed_range, main

    check_seed_range(799, DEMO_SEED, 1000, "")  # demo seeds up to 899_999: the last below the evaluation seeds
    check_seed_range(899, 0, 1000, "")
    with pytest.raises(InputError, match=f"seeds {EVAL_SEED - 1000}..{EVAL_SEED}; seeds from {EVAL_SEED} up"):
        check_seed_range(899, 0, 1000 + 1, "")
    with pytest.raises(SystemExit) as ex:
        main(["ppo", "--seed", "-1"])
    assert ex.value.code == 2 and "argument --seed: must be >= 0, got -1" in capsys.readouterr().err


def test_bc_refuses_an_init_policy_for_the_state_env_and_leaves_the_run_untouched(tmp_path, capsys) -> None:
    from gymnasium import spaces

    from agents.hybrid.policy import HybridActorCriticPolicy, policy_kwargs_for, save_policy
    from agents.hybrid.train import main

    obs = spaces.Box(-5, 5, (8,), np.float32)
    lay = HybridLayout.from_space(spaces.Discrete(2), ["release", "hold"])
    init = tmp_path / "ppo_state" / "policy"
    save_policy(HybridActorCriticPolicy(obs, lay.box_space(), lambda _: 1e-3, **policy_kwargs_for(obs, lay)), init)
    _write_episodes(tmp_path / "demos", 1)
    run = tmp_path / "bc"
    (run / "log").mkdir(parents=True)
    (run / "log" / "progress.csv").write_text("bc/loss\n0.5\n")
    with pytest.raises(SystemExit) as ex:
        main(["bc", "--demos", str(tmp_path / "demos"), "--init", str(init), "--out", str(run), "--epochs", "1"])
    assert ex.value.code == 2 and f"--init: {init}: a policy for env 'state', this run is on 'pixels'" in \
        capsys.readouterr().err
    assert sorted(p.name for p in run.rglob("*")) == ["log", "progress.csv"]
    assert (run / "log" / "progress.csv").read_text() == "bc/loss\n0.5\n"
