"""The Python examples in README.md, mod/README.md and the docs pages run as a user would run them.

Each example is copied out of the Markdown (never retyped here), and runs in a fresh interpreter, so that
what it imports is all it has. The socket examples meet the reference game server (`python -m
envs.stardew.serve`, with the README's own options) on a free port in place of 8765; the ScreenGame-v0
examples meet a real 640x480 pygame window titled "My Game" on Xvfb. A line or two of checks is appended
to an example where its own last line shows nothing. An example shown on two pages is run from one and must
read the same on the other.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import pytest

from tests.envs.stardew.bridge.helpers import serve_process

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MOD_README = ROOT / "mod" / "README.md"
DOCS = ROOT / "docs"
GYMNASIUM_1 = int(gymnasium.__version__.split(".")[0]) >= 1

# one marker per example: the text that finds it (and only it) in its file; a new example needs a test here
EXAMPLES = {
    "quick start": (README, 'obs, reward, terminated, truncated, info = env.step(1)'),
    "vector env": (README, "StardewFishingVectorEnv(4096)"),
    "bridge": (README, 'backend="socket", port=8765, fish="Pufferfish"'),
    "screen probes": (README, 'gym.make("ScreenGame-v0"'),
    "mod": (MOD_README, 'version="1.6"'),
    "env options": (DOCS / "stardew-fishing.md", 'fish="Legend", level=(5, 10)'),
    "recording": (DOCS / "bridge.md", "RecordingWrapper("),
    "screen reward class": (DOCS / "screen-game.md", "class MyReward"),
}

# examples another test runs, where they need what this file does not start (a real game window, the agents'
# stack): (page, marker) -> the test that runs them
RUN_ELSEWHERE = {
    (DOCS / "own-game.md", "# my_games.py"): "tests/agents/hybrid/test_xjump_game.py (the module and its commands)",
    (DOCS / "own-game.md", "def reset_hook(env):"): "tests/agents/hybrid/test_xjump_game.py (xjump's reset hook)",
    (DOCS / "own-game.md", "from agents.hybrid.api import"): "tests/agents/hybrid/test_api.py",
    (DOCS / "hybrid-platform.md", "import gym_platform"): "tests/agents/hybrid/test_platform.py",
}

# examples shown again on another page: (page, name of the example it repeats word for word)
COPIES = [
    (DOCS / "stardew-fishing.md", "vector env"),
    (DOCS / "bridge.md", "bridge"),
    (DOCS / "bridge.md", "mod"),
    (DOCS / "screen-game.md", "screen probes"),
    (DOCS / "getting-started.md", "quick start"),
]
PAGES = [README, MOD_README, *sorted(DOCS.glob("*.md"))]

pytestmark = pytest.mark.timeout(240)


def fenced_blocks(md: Path, language: str) -> list[str]:
    """The bodies of the ```language blocks in ``md``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", md.read_text(encoding="utf-8"), flags=re.M | re.S)


def example(name: str, md: Path | None = None) -> str:
    """The ```python block of the example ``name`` in its own page (or in ``md``, a page that repeats it)."""
    own, marker = EXAMPLES[name]
    md = md or own
    found = [b for b in fenced_blocks(md, "python") if marker in b]
    assert len(found) == 1, f"{md.name}: {len(found)} ```python blocks contain {marker!r} (the {name!r} example)"
    return found[0]


def run_python(code: str, cwd: Path, timeout: float = 120.0) -> str:
    """Runs ``code`` in a fresh interpreter in ``cwd``; its stdout, or a failure that shows the code and stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    # its own process group, so that a timeout also ends whatever it started
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the example did not finish in {timeout:.0f} s:\n{code}\n--- stderr:\n{err[-4000:]}")
    assert proc.returncode == 0, f"the example failed:\n{code}\n--- stderr:\n{err[-4000:]}"
    return out


def on_port(code: str, port: int) -> str:
    assert "port=8765" in code, "the socket examples name the default port, so a test can move them to a free one"
    return code.replace("port=8765", f"port={port}")


def test_every_python_example_in_the_readmes_and_docs_is_one_this_file_runs() -> None:
    for md in PAGES:
        for block in fenced_blocks(md, "python"):
            names = [n for n, (f, marker) in EXAMPLES.items() if f == md and marker in block]
            names += [n for page, n in COPIES if page == md and EXAMPLES[n][1] in block]
            names += [test for (page, marker), test in RUN_ELSEWHERE.items() if page == md and marker in block]
            assert len(names) == 1, f"{md.relative_to(ROOT)}: no test runs this example (or two markers match):\n{block}"


@pytest.mark.parametrize(("page", "name"), COPIES, ids=[f"{p.name}:{n}" for p, n in COPIES])
def test_an_example_shown_on_two_pages_reads_the_same_on_both(page: Path, name: str) -> None:
    assert example(name, page) == example(name), (
        f"{page.relative_to(ROOT)}: the {name!r} example differs from {EXAMPLES[name][0].relative_to(ROOT)}'s")


@pytest.mark.skipif(GYMNASIUM_1, reason="Gymnasium 1 loads no plugins on import; the README says to import envs")
def test_the_quick_start_needs_no_import_but_gymnasium(tmp_path: Path) -> None:
    out = run_python(example("quick start") + "print(type(env.unwrapped).__name__, obs.shape, reward)\n", tmp_path)
    assert out.startswith("StardewFishingEnv (8,) ")


def test_the_env_options_example_makes_a_legend_at_a_level_of_the_range(tmp_path: Path) -> None:
    out = run_python(example("env options") + "print(info['fish'], 5 <= info['fishing_level'] <= 10, obs.shape)\n",
                     tmp_path)
    assert out.strip() == "Legend True (8,)"


def test_the_vector_env_example_steps_4096_games(tmp_path: Path) -> None:
    out = run_python(example("vector env") + "print(obs.shape, rewards.shape, terminated.any())\n", tmp_path)
    assert out.strip() == "(4096, 8) (4096,) False"


def readme_serve_options() -> list[str]:
    """The options of the README's `python -m envs.stardew.serve ...` command, as a user types them."""
    for block in fenced_blocks(README, "sh"):
        for line in block.splitlines():
            if line.startswith("python -m envs.stardew.serve"):
                return shlex.split(line.split("#")[0])[3:]
    raise AssertionError("README.md: no `python -m envs.stardew.serve` command to try the bridge with")


def test_the_bridge_example_plays_a_real_time_minigame_through_the_reference_server(tmp_path: Path) -> None:
    options = readme_serve_options()
    assert "--realtime" in options
    with serve_process(*options) as (_, port):
        out = run_python(on_port(example("bridge"), port), tmp_path)
    caught, late, missed = out.split()
    assert caught in ("True", "False") and late in ("True", "False") and int(missed) >= 0


def test_the_recording_example_writes_the_seed_csv_and_one_jsonl_line_per_episode(tmp_path: Path) -> None:
    play = ("obs, info = env.reset(seed=3)\nsteps, done = 0, False\nwhile not done:\n"
            "    obs, reward, terminated, truncated, info = env.step(int(obs[5] < 0))\n"
            "    steps, done = steps + 1, terminated or truncated\nenv.close()\nprint(steps)\n")
    with serve_process() as (_, port):
        steps = int(run_python(on_port(example("recording"), port) + play, tmp_path))
    rows = (tmp_path / "data" / "replayMemory.csv").read_text().splitlines()
    assert len(rows) == steps and all(len(r.split(",")) == 8 for r in rows)
    episodes = (tmp_path / "data" / "episodes.jsonl").read_text().splitlines()
    assert len(episodes) == 1 and json.loads(episodes[0])["format"] == "stardew-rl-episode"


def test_the_mods_example_meets_a_game_on_the_1_6_rules_at_its_first_playing_tick(tmp_path: Path) -> None:
    with serve_process("--version", "1.6") as (_, port):
        out = run_python(on_port(example("mod"), port) + "print(obs.shape, info['caught'], info['escaped'])\n",
                         tmp_path)
    assert out.strip() == "(8,) False False"


# a window for the screen examples: a static 640x480 picture with what their probes read (a health bar three
# quarters full where `BarFill` looks, a green square where `MyReward` looks)
MY_GAME = """
import time, pygame
pygame.init()
screen = pygame.display.set_mode((640, 480))
pygame.display.set_caption("My Game")
clock, end = pygame.time.Clock(), time.monotonic() + 200
while time.monotonic() < end:
    if any(e.type == pygame.QUIT for e in pygame.event.get()):
        break
    screen.fill((30, 30, 60))
    screen.fill((0, 200, 0), (10, 10, 10, 10))
    screen.fill((40, 40, 40), (20, 450, 200, 12))
    screen.fill((200, 30, 30), (20, 450, 150, 12))
    pygame.display.flip()
    clock.tick(30)
"""


@pytest.fixture(scope="module")
def my_game(xvfb) -> Iterator[None]:  # noqa: F811
    pytest.importorskip("pygame")
    from envs.screen.capture import WindowNotFound, X11Windows

    env = {**os.environ, "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    env.pop("SDL_VIDEODRIVER", None)
    proc = subprocess.Popen([sys.executable, "-c", MY_GAME], env=env, stderr=subprocess.PIPE)
    windows = X11Windows()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                windows.find(title="My Game")
                break
            except WindowNotFound:
                assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
                assert time.monotonic() < deadline, "the 'My Game' window did not appear"
                time.sleep(0.1)
        yield
    finally:
        windows.close()
        proc.kill()
        proc.wait()


def test_the_screen_example_wraps_a_window_by_its_title_with_probe_rewards(my_game, tmp_path: Path) -> None:
    code = example("screen probes").replace("env.close()\n", "")
    out = run_python(code + "print(obs.shape, info['region'][2:], r, terminated)\nenv.close()\n", tmp_path)
    # the bar stays three quarters full: no change, so no reward, and not "dead"
    assert out.strip() == "(4, 84, 84) (640, 480) 0.0 False"


def test_a_reward_class_like_the_readmes_is_called_with_the_windows_frames(my_game, tmp_path: Path) -> None:
    screen = example("screen probes")
    setup = screen[: screen.index("health = ")]  # the imports and the action space dict
    code = (setup + example("screen reward class")
            + 'env = gym.make("ScreenGame-v0", action_space=action_space, window_title="My Game", reward=MyReward(),'
            " stop_hotkey=None)\nobs, info = env.reset()\nobs, r, terminated, truncated, info = env.step("
            "env.action_space.sample())\nenv.close()\nprint(r, terminated)\n")
    assert run_python(code, tmp_path).strip() == "1.0 False"

