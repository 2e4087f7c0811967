"""A private X server and a live game window, for tests and benchmarks (no mocks: real Xvfb, real
window, real XTEST input).

    with Xvfb() as x:                      # picks a free display with -displayfd, sets xset r off
        with GameWindow(x.display) as game:  # python -m envs.games.fishing --state-file ...
            game.state()                   # the game's latest state, read back from its process

The project's own tests wrap these in pytest fixtures (``tests/conftest.py``); a test suite of your own can do
the same in a few lines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _terminate(proc: subprocess.Popen | None) -> None:
    """Stop a child process: terminate, then kill if it has not exited within 5 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Xvfb:
    """Starts ``Xvfb -displayfd`` (a free display), runs ``xset r off``; stops it on exit.

    ``set_env=True`` points this process's ``DISPLAY`` at it (and restores it afterwards).
    """

    def __init__(self, size: tuple[int, int] = (1024, 768), depth: int = 24, set_env: bool = True,
                 timeout_s: float = 10.0):
        self.size, self.depth, self.set_env, self.timeout_s = size, depth, set_env, timeout_s
        self.proc: subprocess.Popen | None = None
        self.display: str | None = None
        self._old_display: str | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("Xvfb") is not None

    def start(self) -> Xvfb:
        r, w = os.pipe()
        w_, h_ = self.size
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{w_}x{h_}x{self.depth}", "-nolisten", "tcp",
             "-noreset"], pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        buf = b""
        deadline = time.monotonic() + self.timeout_s
        with os.fdopen(r, "rb", buffering=0) as f:
            while not buf.endswith(b"\n"):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("Xvfb did not start")
                c = f.read(1)
                if not c:
                    break
                buf += c
        self.display = ":" + buf.decode().strip()
        env = {**os.environ, "DISPLAY": self.display}
        if shutil.which("xset"):
            subprocess.run(["xset", "r", "off"], env=env, check=False, timeout=10)
        if self.set_env:
            self._old_display = os.environ.get("DISPLAY")
            os.environ["DISPLAY"] = self.display
        return self

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None
        if self.set_env and self.display is not None:
            if self._old_display is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = self._old_display

    def __enter__(self) -> Xvfb:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class GameWindow:
    """Runs ``python -m envs.games.fishing`` on ``display`` with a state file; stops it on exit.

    ``timeout_s`` bounds the start: a cold numba cache compiles the game's kernels first (about 15 s
    on a loaded 2-core machine). :meth:`state` returns the latest JSON state line (the game's raw values, counters, the input it
    holds); :meth:`events` returns every input event the window has received since ``since``.
    """

    def __init__(self, display: str, args: tuple[str, ...] = (), max_seconds: float = 300.0,
                 timeout_s: float = 90.0):
        self.display = display
        self.args = tuple(args)
        self.max_seconds = max_seconds
        self.timeout_s = timeout_s
        self._dir = tempfile.TemporaryDirectory(prefix="fishing-window-")
        self.state_file = Path(self._dir.name) / "state.jsonl"
        self.proc: subprocess.Popen | None = None
        self._pos = 0
        self._lines: list[dict] = []

    def start(self) -> GameWindow:
        env = {**os.environ, "DISPLAY": self.display, "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
        env.pop("SDL_VIDEODRIVER", None)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self._log = open(Path(self._dir.name) / "stderr.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "envs.games.fishing", "--state-file", str(self.state_file),
             "--max-seconds", str(self.max_seconds), *self.args],
            env=env, stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (Path(self._dir.name) / "stderr.log").read_text(errors="replace")
                raise RuntimeError(f"the game window exited: {err[-2000:]}")
            if self._read():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the game window did not start")

    def _read(self) -> int:
        if not self.state_file.exists():
            return 0
        with open(self.state_file, "rb") as f:
            f.seek(self._pos)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return 0
        chunk = data[:end + 1]
        self._pos += len(chunk)
        new = [json.loads(line) for line in chunk.splitlines() if line.strip()]
        self._lines.extend(new)
        if len(self._lines) > 20000:
            self._lines = self._lines[-20000:]
        return len(new)

    def state(self) -> dict:
        self._read()
        if not self._lines:
            raise RuntimeError("no state yet")
        return self._lines[-1]

    def history(self) -> list[dict]:
        self._read()
        return list(self._lines)

    def events(self, since: float = 0.0) -> list[dict]:
        """Input events received by the window in ticks at or after monotonic time ``since``."""
        self._read()
        return [e for st in self._lines if st["t"] >= since for e in st["events"]]

    def wait_for(self, pred, timeout_s: float = 5.0) -> dict | None:
        """Poll the state until ``pred(state)`` is true; returns that state or None on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.state()
            if pred(st):
                return st
            time.sleep(0.02)
        return None

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        self._dir.cleanup()

    def __enter__(self) -> GameWindow:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
