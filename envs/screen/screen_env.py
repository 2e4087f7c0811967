"""ScreenGame-v0: a live game on the screen as a Gymnasium env."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.options import flag_option, positive_int_option
from envs.screen.actions import HybridActionSpec
from envs.screen.capture import MssCapture, Region, ReplayCapture
from envs.screen.inputs import (
    DEFAULT_STOP_HOTKEY,
    DryRunInput,
    InputController,
    PynputInput,
    StopSwitch,
    check_backend,
    check_hotkey,
    check_hotkey_not_in_keys,
)
from envs.screen.options import check_methods, finite_number, is_real, positive_int_pair
from envs.screen.preprocess import COLOUR_ORDERS, FramePreprocessor, FrameStack, to_rgb

_DRY_RUN = ("dry-run", "dry_run", "dryrun")


class StopRequested(RuntimeError):
    """Raised by ``step`` after the stop switch was pressed (``on_stop="raise"``)."""


class ResetTimeout(RuntimeError):
    """Raised by ``reset`` when the episode's end condition still holds after ``reset_timeout_s``: the game did
    not start a new round, so there is no fresh episode to return."""


def _check_reward(reward: Any) -> None:
    """TypeError unless ``reward`` is None or has the hybrid-RL framework's ``calculate_reward`` (and its optional methods are
    callable): a wrong object fails when the env is made, not at its first step."""
    if reward is None:
        return
    if not callable(getattr(reward, "calculate_reward", None)):
        hint = " (a function was given: put it in an object's calculate_reward method)" if callable(reward) else ""
        raise TypeError(f"reward: {reward!r} has no calculate_reward(current_frame, previous_frames, action) "
                        f"method{hint}")
    for name in ("is_terminated", "is_truncated", "reset", "check_frame"):
        if hasattr(reward, name) and not callable(getattr(reward, name)):
            raise TypeError(f"reward.{name}: {getattr(reward, name)!r} is not callable")


def _reward_value(reward: Any, value: Any) -> float:
    """What ``reward.calculate_reward`` returned, as a float, or an error naming the method and the value: a
    finite real number (Python or numpy int or float); a bool, a string such as "1.5", None, an array or NaN is
    refused, not converted."""
    if not is_real(value):
        raise TypeError(f"reward.calculate_reward ({type(reward).__name__}) returned {value!r} "
                        f"({type(value).__name__}): need a finite real number (int, float or a numpy scalar; not a "
                        "bool, a string or an array)")
    if not np.isfinite(value):
        raise ValueError(f"reward.calculate_reward ({type(reward).__name__}) returned {value!r}: need a finite "
                         "number")
    return float(value)


def _check_capture(capture: Any) -> None:
    """TypeError / ValueError naming ``capture`` unless it is a capture object: ``grab()``, ``region()``,
    ``close()``, optionally ``rewind()`` and an ``order`` (its frames' channels; "rgb" without one) of
    :data:`~envs.screen.preprocess.COLOUR_ORDERS`."""
    check_methods(capture, "capture", ("grab", "region", "close"), optional=("rewind",),
                  what="'mss' or a capture object (grab/region/close, e.g. ReplayCapture)")
    order = getattr(capture, "order", "rgb")
    if order not in COLOUR_ORDERS:
        raise ValueError(f"capture.order: {order!r} not one of {COLOUR_ORDERS} (the channel order of its frames)")


class _CtrlC:
    """One handler of SIGINT, SIGTERM and SIGHUP for every open ScreenGameEnv: it releases what each of them holds
    (keys, buttons, and the keys' auto-repeat), then does what the handler it replaced did: by default
    KeyboardInterrupt for SIGINT, and for SIGTERM / SIGHUP the default action again (the process ends by that
    signal, as ``timeout``, ``kill`` or a closed terminal meant). An env that opens in the main thread (Python
    runs signal handlers there only) installs it unless it is in place; the last env to close puts the replaced
    handlers back, unless something else has replaced ours since. The interpreter's exit (an uncaught exception
    included) releases every env still open too. (One handler per env, each restoring its own predecessor, lost
    the other envs' release when they closed out of order.)"""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
    envs: weakref.WeakSet = weakref.WeakSet()
    previous: dict[int, Any] = {}
    busy = False
    at_exit = False

    @classmethod
    def release_everything(cls) -> None:
        for env in list(cls.envs):
            with contextlib.suppress(Exception):
                env.input.release_all()
            with contextlib.suppress(Exception):
                restore = getattr(env._backend, "restore", None)
                if restore is not None:
                    restore()

    @classmethod
    def handler(cls, signum: int, frame: Any) -> None:
        if cls.busy:  # the handler we replaced calls ours in turn: the release is done, let it go on
            return
        cls.busy = True
        try:
            cls.release_everything()
            old = cls.previous.get(signum)
            if old is signal.SIG_IGN:
                return
            if callable(old) and old is not signal.default_int_handler:
                old(signum, frame)
            elif signum == signal.SIGINT:
                raise KeyboardInterrupt
            else:  # SIG_DFL: end the process by the signal, as it would have without the env
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
        finally:
            cls.busy = False

    @classmethod
    def add(cls, env: ScreenGameEnv) -> None:
        cls.envs.add(env)
        if not cls.at_exit:
            atexit.register(cls.release_everything)
            cls.at_exit = True
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in cls.SIGNALS:
            if signal.getsignal(sig) != cls.handler:
                cls.previous[sig] = signal.getsignal(sig)
                signal.signal(sig, cls.handler)

    @classmethod
    def discard(cls, env: ScreenGameEnv) -> None:
        cls.envs.discard(env)
        if cls.envs or threading.current_thread() is not threading.main_thread():
            return
        for sig in cls.SIGNALS:
            if sig not in cls.previous:
                continue
            if signal.getsignal(sig) == cls.handler:  # else someone else's came after ours: keep it
                old = cls.previous[sig]
                signal.signal(sig, (signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
                              if old is None else old)
        cls.previous = {}


class ScreenGameEnv(gym.Env):
    """
    ## Description

    Any game visible on the screen as a Gymnasium env: the observation is the game's picture, the
    actions are mouse and keyboard input, and the reward is whatever the user reads from the picture.
    Frames are grabbed with mss (XShm on X11) from a screen rectangle or from an X11 window found by
    its class or title (the capture follows the window when it moves), converted to 84x84 grayscale
    with OpenCV and stacked 4 deep. Input goes through pynput (XTEST on X11). Keys go to the window with
    the keyboard focus: when the capture is a window, a step that presses or releases keys first gives it
    the focus if it lacks it (with a window manager, through ``_NET_ACTIVE_WINDOW``); with a ``region`` or
    ``monitor``, focus the game yourself. Steps run in real time at a fixed period.

    ## Action Space

    A ``Dict`` built from the hybrid-RL framework's ``action_space`` description by
    :class:`~envs.screen.actions.HybridActionSpec` (see that module for exactly what each type sends)::

        {"keys": ["w", "a", "s", "d", "space"],
         "mouse": {"min_pos": [0, 0], "max_pos": [640, 480], "actions": ["click", "drag"]}}

    | Key        | Space                         | Meaning                                                        |
    |------------|-------------------------------|----------------------------------------------------------------|
    | `type`     | `Discrete(n)`                 | index into `type_names`: none, (move), click, drag, (hold), key |
    | `pointer`  | `Box(-1, 1, (2,), float32)`   | x, y relative to the region; -1 = `min_pos`, +1 = `max_pos`     |
    | `drag_end` | `Box(-1, 1, (2,), float32)`   | where a drag ends (used by `drag` only)                         |
    | `keys`     | `MultiBinary(len(keys))`      | keys held during a `key` step (used by `key` only); size 1, unused, with no keys |

    ``env.action_spec`` is that :class:`~envs.screen.actions.HybridActionSpec` (``type_names``,
    ``params_used``, ``make``, ``noop``); the hybrid agent's ``HybridBoxWrapper`` reads it. Each type
    ignores the parameters it does not use. Keys set on consecutive ``key`` steps stay
    down (not re-tapped); any other type releases them. ``hold`` keeps the left button down over
    consecutive ``hold`` steps.

    ## Observation Space

    `Box(0, 255, (stack, 84, 84), uint8)`: the last `stack` frames (oldest first) of the region,
    grayscale, resized with `INTER_AREA` (`(stack, h, w, 3)` RGB with `grayscale=False`). The same
    :class:`~envs.screen.preprocess.FramePreprocessor` turns offscreen RGB frames into identical arrays.

    ## Rewards

    From ``reward``: any object with ``calculate_reward(current_frame, previous_frames, action)``
    (the hybrid-RL framework's signature; frames are full-resolution RGB arrays, ``previous_frames`` the last
    ``stack`` frames before it, oldest first, ``action`` the dict just applied), or a
    :class:`~envs.screen.rewards.ProbeReward` composed of pixel probes (``MeanColour``,
    ``TemplateMatch``, ``BarFill``). ``None``: reward 0. An object without ``calculate_reward`` is a
    ``TypeError`` at construction; a reward with ``check_frame(frame)`` (``ProbeReward``) is checked
    against the first frame of each ``reset`` (a probe rectangle outside the frame: ``ValueError``).
    ``calculate_reward`` must return a finite real number (Python or numpy int or float): a bool, a string,
    None, an array or NaN is an error naming it (``TypeError`` / ``ValueError``), not converted;
    ``is_terminated`` / ``is_truncated`` must return a bool (Python or numpy): ``"False"`` is not False.

    ## Episode End

    | Condition   | When                                                                              |
    |-------------|-----------------------------------------------------------------------------------|
    | terminated  | ``reward.is_terminated(current_frame, previous_frames)`` returns True               |
    | truncated | ``reward.is_truncated(...)`` returns True, or ``max_episode_steps`` steps were taken (the argument, else ``self.spec.max_episode_steps``) |
    | stop switch | the hotkey was pressed: input is released at once, and no more is sent. With ``on_stop="raise"`` the step it was pressed in, and every ``step`` or ``reset`` after it, raises `StopRequested` (``reset_hook`` does not run) until ``resume()``; with ``"truncate"`` that step returns ``truncated=True`` with ``info["stopped"]`` |

    Whatever ends an episode, everything held is released in that step. ``gym.make("ScreenGame-v0",
    max_episode_steps=N)`` keeps ``N`` for its own ``TimeLimit`` wrapper (the env never sees it), so the
    registration adds :class:`ReleaseInputOnEpisodeEnd` outside it: input is released on that truncation
    too. Wrapping the env in a ``TimeLimit`` yourself does not: pass ``max_episode_steps`` to the env instead.

    ``reset`` releases everything held, calls ``reset_hook(env)`` if given (e.g. to start a new round
    in the game), then waits up to ``reset_timeout_s`` while the termination or truncation check still
    holds. If it still holds then, ``reset`` raises :class:`ResetTimeout` rather than return an episode
    that has already ended (each following episode would end after one step and pay the end bonus
    again). ``reset(options={"wait": False})`` neither waits nor checks.

    ## Arguments

    | Argument            | Default          | Meaning                                                              |
    |---------------------|------------------|----------------------------------------------------------------------|
    | `action_space` | required | the hybrid-RL framework's dict, or a `HybridActionSpec`; `keys` a list, `mouse` a dict or absent, `min_pos`/`max_pos` two finite numbers each, 0 <= min_pos < max_pos, max_pos <= the region's size (at reset) |
    | `region`            | None             | `(left, top, width, height)` of the screen to capture                 |
    | `monitor`           | None             | an mss monitor index (1 = first screen); used when no region/window   |
    | `window_class`      | None             | capture the X11 window with this WM_CLASS (follows it when it moves)  |
    | `window_title`      | None             | ... or whose title contains this                                       |
    | `window_wait_s`     | 5.0              | how long to wait for the window to appear (a finite number >= 0)      |
    | `crop` | None | `(left, top, width, height)` inside the window / region / monitor, from its top-left corner: only that part is captured and the pointer range is relative to it (e.g. a browser page without its tab strip) |
    | `reward`            | None             | reward/termination object (see Rewards)                               |
    | `step_hz` | 15.0 | steps per second, a finite number > 0; `None`: no pacing (replay / tests) |
    | `frame_size`        | (84, 84)         | observation frame (height, width): two integers >= 1                  |
    | `grayscale`         | True             | gray or RGB frames (True or False)                                    |
    | `interpolation`     | "area"           | OpenCV resize: area, linear, nearest, cubic                           |
    | `stack`             | 4                | frames stacked (an integer >= 1)                                      |
    | `input`             | "pynput"         | "pynput", "dry-run", or a backend object (move/button/key/close)      |
    | `capture` | "mss" | "mss", or a capture object (grab/region/close, optionally rewind and `order` "rgb", "bgr", "bgra" or "rgba"; e.g. `ReplayCapture`) |
    | `stop_hotkey` | `"<ctrl>+<shift>+<f12>"` | pynput GlobalHotKeys string (`"<ctrl>+<alt>+q"`, `"<f12>"`); None disables it (off with dry-run input). Watched, not consumed: the game receives the keys too, so the default is a chord games do not use |
    | `on_stop`           | "raise"          | "raise" or "truncate"                                                 |
    | `max_episode_steps` | None             | truncate after this many steps                                        |
    | `reset_hook`        | None             | `callable(env)` run by reset                                          |
    | `reset_timeout_s` | 10.0 | reset waits at most this long (a finite number >= 0) for the end condition to clear, then raises `ResetTimeout` |
    | `drag_steps`        | 8                | pointer moves between a drag's start and end (an integer >= 1)        |
    | `preprocessor` | None | a `FramePreprocessor` to use (overrides the three frame options): pass the one used for training, so train and play match exactly |
    | `render_mode`       | None             | "rgb_array": ``render()`` returns the last full-resolution RGB frame  |

    ## Info

    ``step_time_s`` (start of the step to its frame), ``late_start_s`` (how far into its period the step
    began: the last frame's grab and the agent's time, which shorten this step so that the rate holds),
    ``overrun_s`` (how late the frame was taken against the fixed schedule, or how late the step began
    when it was more than a period late and the clock started again), ``overruns`` (steps this episode
    with an overrun), ``region``,
    ``action_type``, ``held_keys``, ``button_held``, ``stopped``, ``frame_time`` (monotonic seconds).

    ## Errors

    Settings are checked at construction: a key name that is neither one character nor a pynput
    ``Key`` name (whatever the input backend), an unknown entry in the action-space dict, a
    ``stop_hotkey`` not in pynput's syntax (``"<f12>"``, not ``"F12"``), a ``reward`` without
    ``calculate_reward``, an ``input``/``capture`` object without the methods above, a ``reset_hook``
    that is not callable, a number or flag of the wrong type or range (see Arguments; a bool is not a
    number, a float not an integer, ``"no"`` not False), a ``monitor`` the display does not have or a
    ``region`` not inside the screen: ``ValueError`` / ``TypeError`` naming the option. A probe rectangle
    outside the frame, or a ``max_pos`` beyond the captured region: ``ValueError`` from ``reset``.

    Each ``step`` checks its action against the action space before sending anything: not a dict, a
    missing or unknown key, a ``type`` that is not an integer of the space (``1.7``, ``-1``, ``99``), a
    ``pointer`` / ``drag_end`` not two finite numbers in [-1, 1], or ``keys`` not 0/1 of the right length
    is an error naming the key and the value (see :mod:`envs.screen.actions`); nothing is pressed for
    it, and what was held is released. A captured window moved partly off the screen keeps its size, the
    part off the screen black; moved entirely off: ``CaptureError``; closed: ``WindowNotFound`` (both from
    :mod:`envs.screen.capture`, raised by ``reset`` / ``step`` after releasing everything held).

    ## Safety

    Everything held is released on ``reset``, ``close``, an exception inside ``step``, Ctrl+C, SIGTERM and
    SIGHUP (a handler of the three is installed while the env is open, in the main thread; after the release
    SIGTERM and SIGHUP end the process as they would have), the interpreter's exit (an uncaught exception
    anywhere) and the stop switch. Only SIGKILL cannot release anything.

    Key auto-repeat: with ``input="pynput"`` on X11 a held key does not auto-repeat: the env turns the X server's
    repeat off for each key it holds and back on at ``close`` (and on the signals and exit above), so a key held
    over consecutive ``key`` steps is one long press, as the game would see a person's held key without repeat.

    ## Reset hooks

    ``reset_hook(env)`` drives the game between episodes with the env's public methods: ``env.tap_key("enter")``,
    ``env.press_key(name)`` / ``env.release_key(name)``, ``env.click(x, y)`` (region pixels),
    ``env.wait_until(condition, timeout_s)`` (a ``callable(frame) -> bool`` or a ``When`` probe condition; returns
    the frame, ``TimeoutError`` after the timeout) and ``env.grab_frame()`` (full-resolution RGB). What they hold
    is released like an action's.

    ``env.action_spec`` is the action space's description; on an env from ``gym.make`` (wrapped) read it with
    :func:`action_spec_of` (or ``env.unwrapped.action_spec``), which never warns.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        action_space: Mapping | HybridActionSpec,
        region: Region | tuple[int, int, int, int] | None = None,
        monitor: int | None = None,
        window_class: str | None = None,
        window_title: str | None = None,
        window_wait_s: float = 5.0,
        reward: Any = None,
        step_hz: float | None = 15.0,
        frame_size: tuple[int, int] = (84, 84),
        grayscale: bool = True,
        interpolation: str = "area",
        stack: int = 4,
        input: str | Any = "pynput",  # noqa: A002 - the natural name for the option
        capture: str | Any = "mss",
        stop_hotkey: str | None = DEFAULT_STOP_HOTKEY,
        on_stop: str = "raise",
        max_episode_steps: int | None = None,
        reset_hook: Callable[[ScreenGameEnv], None] | None = None,
        reset_timeout_s: float = 10.0,
        drag_steps: int = 8,
        preprocessor: FramePreprocessor | None = None,
        render_mode: str | None = None,
        crop: Region | tuple[int, int, int, int] | None = None,
    ):
        super().__init__()
        if on_stop not in ("raise", "truncate"):
            raise ValueError(f"on_stop: {on_stop!r} not 'raise' or 'truncate'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: {render_mode!r} not one of {self.metadata['render_modes']}")
        if step_hz is not None and not (is_real(step_hz) and np.isfinite(step_hz) and step_hz > 0):
            # NaN turned the pacing off silently, "fast" failed with a TypeError
            raise ValueError(f"step_hz: a finite number > 0 (steps per second) or None, got {step_hz!r}")
        if max_episode_steps is not None and (not isinstance(max_episode_steps, (int, np.integer))
                                              or isinstance(max_episode_steps, bool) or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps: need an integer >= 1 or None, got {max_episode_steps!r}")
        for name, value in (("window_class", window_class), ("window_title", window_title)):
            if value is not None and not isinstance(value, str):  # 5 matched no window, after window_wait_s
                raise ValueError(f"{name}: need a string or None, got {value!r}")
        reset_timeout_s = finite_number("reset_timeout_s", reset_timeout_s, minimum=0.0)
        window_wait_s = finite_number("window_wait_s", window_wait_s, minimum=0.0)
        stack = positive_int_option("stack", stack)
        drag_steps = positive_int_option("drag_steps", drag_steps)  # 0 or -3 silently became 1
        _check_reward(reward)
        if stop_hotkey is not None:  # checked even where it goes unused (dry-run input): a typo fails now
            check_hotkey(stop_hotkey, "stop_hotkey")
        # objects given for these are checked now, before anything is opened: a wrong one failed at the first
        # reset, or inside the cleanup of a failed construction, which hid the real error
        if not isinstance(capture, str):
            _check_capture(capture)
            if crop is not None:
                raise ValueError("crop: only with capture='mss' (crop a capture object's frames yourself)")
            for name, value in (("region", region), ("monitor", monitor)):
                if value is not None:  # it would be ignored without a word: the object captures what it captures
                    raise ValueError(f"{name}: {value!r} chooses what capture='mss' grabs; the capture object given "
                                     f"({type(capture).__name__}) grabs its own frames (its region()), so {name} "
                                     "would be ignored. Leave it out, or set it on the capture object")
        if not isinstance(input, str):
            check_backend(input, "input")
        if reset_hook is not None and not callable(reset_hook):
            raise TypeError(f"reset_hook: {reset_hook!r} is not callable (need a function of the env, or None)")
        if preprocessor is not None:
            check_methods(preprocessor, "preprocessor", ("__call__",), what="a FramePreprocessor")
            if not isinstance(getattr(preprocessor, "shape", None), tuple):
                raise TypeError(f"preprocessor: {preprocessor!r} is not a FramePreprocessor (no shape tuple)")
        self.action_spec = action_space if isinstance(action_space, HybridActionSpec) \
            else HybridActionSpec.from_seed_dict(action_space)
        self.action_space = self.action_spec.space
        self.type_names = self.action_spec.type_names
        if stop_hotkey is not None and not (isinstance(input, str) and input in _DRY_RUN):
            check_hotkey_not_in_keys(stop_hotkey, self.action_spec.keys)
        if preprocessor is None:
            frame_size = positive_int_pair("frame_size", frame_size)
            grayscale = flag_option("grayscale", grayscale)
        self.preprocess = preprocessor or FramePreprocessor(frame_size, grayscale, interpolation)
        self.frames = FrameStack(stack)
        self.observation_space = spaces.Box(0, 255, (stack, *self.preprocess.shape), np.uint8)
        self.reward_fn = reward
        self.period = None if step_hz is None else 1.0 / float(step_hz)
        self.max_episode_steps = max_episode_steps
        self.reset_hook = reset_hook
        self.reset_timeout_s = reset_timeout_s
        self.on_stop = on_stop
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": step_hz or 15}

        self._capture = None
        self._backend = None
        self._stop_switch = None
        try:
            if capture == "mss":
                self._capture = MssCapture(region, monitor, window_class, window_title, wait_s=window_wait_s,
                                           crop=crop)
            elif isinstance(capture, str):
                raise ValueError(f"capture: {capture!r} not 'mss' or a capture object")
            else:
                self._capture = capture
            if input == "pynput":
                self._backend = PynputInput()
            elif input in _DRY_RUN:
                self._backend = DryRunInput()
                stop_hotkey = None
            elif isinstance(input, str):
                raise ValueError(f"input: {input!r} not 'pynput', 'dry-run' or a backend object")
            else:
                self._backend = input
            self.input = InputController(self.action_spec, self._backend, drag_steps=drag_steps)
            self.stopped = threading.Event()
            if stop_hotkey:
                self._stop_switch = StopSwitch(stop_hotkey, self.stop)
            self._install_sigint()
        except BaseException:
            with contextlib.suppress(Exception):  # the cleanup must not hide why construction failed
                self.close()
            raise
        self._history: deque[np.ndarray] = deque(maxlen=max(1, stack))
        self._rgb: np.ndarray | None = None
        self._t_next: float | None = None
        self._steps = 0
        self._overruns = 0

    # -- safety --------------------------------------------------------------------------------------
    def stop(self) -> None:
        """The stop switch: disable input and release everything now (safe from any thread)."""
        self.stopped.set()
        self.input.enabled = False
        self.input.release_all()

    def resume(self) -> None:
        """Re-enable input after the stop switch."""
        self.stopped.clear()
        self.input.enabled = True

    @property
    def dry_run(self) -> bool:
        """True when the env sends no input (``input="dry-run"``: a person is being recorded); a reset hook then
        leaves starting the next round to the person."""
        return isinstance(self._backend, DryRunInput)

    def release_all(self) -> None:
        """Release every key and button the env holds (actions' and the hook methods' alike)."""
        self.input.release_all()

    def _install_sigint(self) -> None:
        _CtrlC.add(self)

    # -- for reset hooks (and scripts): direct input and frames --------------------------------------
    def press_key(self, name: str) -> None:
        """Hold key ``name`` down (a single character or a pynput ``Key`` name, any key, not only the action
        space's) until :meth:`release_key`, the next step that is not a ``key`` step, :meth:`release_all`,
        ``reset`` or ``close``; the captured window gets the keyboard focus first. Nothing is sent after the
        stop switch."""
        self._focus()
        self.input.press_key(name)

    def release_key(self, name: str) -> None:
        """Release a key :meth:`press_key` holds."""
        self.input.release_key(name)

    def tap_key(self, name: str, hold_s: float = 0.05) -> None:
        """Press ``name``, wait ``hold_s`` seconds, release it: one key press as the game sees it (a short
        ``hold_s`` never reaches the auto-repeat delay)."""
        hold_s = finite_number("hold_s", hold_s, minimum=0.0)
        self.press_key(name)
        try:
            time.sleep(hold_s)
        finally:
            self.release_key(name)

    def click(self, x: float, y: float, button: str = "left") -> None:
        """Click at pixel (x, y) of the captured region (0, 0 its top-left corner; the region follows the
        window), e.g. a game's "play again" button."""
        if button not in ("left", "right", "middle"):
            raise ValueError(f"button: {button!r} not 'left', 'right' or 'middle'")
        r = self._region()
        if not (0 <= x < r.width and 0 <= y < r.height):
            raise ValueError(f"click: ({x}, {y}) is outside the captured region ({r.width}x{r.height}, width x "
                             "height; pixels from its top-left corner)")
        self.input.click_at(r.left + int(x), r.top + int(y), button)

    def grab_frame(self) -> np.ndarray:
        """A frame of the captured region now: full-resolution RGB ``(H, W, 3)`` uint8, the array the reward
        sees (it does not enter the observation's frame stack)."""
        return self._grab()[1]

    def wait_until(self, condition: Any, timeout_s: float = 10.0, poll_s: float = 0.05) -> np.ndarray:
        """Grab frames until ``condition`` holds, and return that frame; ``TimeoutError`` after ``timeout_s``.
        ``condition`` is ``callable(frame) -> bool`` or a probe condition with ``holds(frame)`` (a
        :class:`~envs.screen.rewards.When`, e.g. ``When(MeanColour(...), ">", 200)``)."""
        check = getattr(condition, "holds", condition)
        if not callable(check):
            raise TypeError(f"condition: {condition!r} is neither callable(frame) -> bool nor has holds(frame)")
        timeout_s = finite_number("timeout_s", timeout_s, minimum=0.0)
        deadline = time.monotonic() + timeout_s
        while True:
            frame = self.grab_frame()
            if bool(check(frame)):
                return frame
            if time.monotonic() >= deadline:
                raise TimeoutError(f"wait_until: {condition!r} did not hold within {timeout_s} s")
            time.sleep(poll_s)

    # -- frames --------------------------------------------------------------------------------------
    def _grab(self) -> tuple[np.ndarray, np.ndarray]:
        raw = self._capture.grab()
        order = getattr(self._capture, "order", "rgb")
        return self.preprocess(raw, order=order), to_rgb(raw, order)

    def _end_flag(self, name: str, rgb: np.ndarray, prev: list[np.ndarray]) -> bool:
        f = self.reward_fn
        if f is None or not hasattr(f, name):
            return False
        value = getattr(f, name)(rgb, prev)
        if not isinstance(value, (bool, np.bool_)):  # "False" counted as True
            raise TypeError(f"reward.{name} ({type(f).__name__}) returned {value!r} ({type(value).__name__}): need "
                            "True or False (a bool)")
        return bool(value)

    def _check_end(self, rgb: np.ndarray) -> tuple[bool, bool]:
        prev = list(self._history)
        return self._end_flag("is_terminated", rgb, prev), self._end_flag("is_truncated", rgb, prev)

    def _region(self) -> Region:
        return self._capture.region()

    def _focus(self) -> None:
        focus = getattr(self._capture, "focus", None)  # MssCapture of a window; a region has none to focus
        if focus is not None and self.input.enabled:
            focus()

    # -- gymnasium API -------------------------------------------------------------------------------
    def _step_limit(self) -> int | None:
        """The steps after which an episode is truncated: the ``max_episode_steps`` argument, else the spec's
        (``gym.make(..., max_episode_steps=N)``); ValueError for a spec's limit below 1, which truncated every
        step."""
        if self.max_episode_steps is not None:
            return self.max_episode_steps
        limit = None if self.spec is None else self.spec.max_episode_steps
        if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"max_episode_steps: need an integer >= 1 or None, got {limit!r} (gym.make's "
                             "max_episode_steps)")
        return limit

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._step_limit()  # a bad limit fails here, before any input is touched
        super().reset(seed=seed)
        self._t_next = None  # until this reset succeeds, step has no episode to go on with
        if self.stopped.is_set() and self.on_stop == "raise":
            # not even reset_hook runs: it may drive the game (click "play again") after the person said stop
            self.input.release_all()
            raise StopRequested("the stop switch was pressed; call env.resume() to go on")
        try:
            self.input.release_all()
            if hasattr(self._capture, "rewind"):
                self._capture.rewind()
            if self.reward_fn is not None and hasattr(self.reward_fn, "reset"):
                self.reward_fn.reset()
            if self.reset_hook is not None:
                self.reset_hook(self)
            self._history.clear()
            obs_frame, rgb = self._grab()
            # a max_pos beyond the region (known now) would send the pointer outside the captured window
            self.action_spec.check_region(self._region().size)
            if self.reward_fn is not None and hasattr(self.reward_fn, "check_frame"):
                try:  # e.g. a probe rectangle outside the frame: it would read nothing
                    self.reward_fn.check_frame(rgb)
                except ValueError as e:
                    raise ValueError(f"reward: {e}") from None
            deadline = time.monotonic() + self.reset_timeout_s
            wait = (options or {}).get("wait", True)
            ended = self._check_end(rgb) if wait else (False, False)
            while any(ended) and time.monotonic() < deadline:
                time.sleep(self.period or 0.01)
                obs_frame, rgb = self._grab()
                ended = self._check_end(rgb)
            if any(ended):
                which = "is_terminated" if ended[0] else "is_truncated"
                raise ResetTimeout(
                    f"reset: the reward's {which} still held after reset_timeout_s={self.reset_timeout_s} s, so "
                    "the game began no new episode; start the next round in reset_hook, raise reset_timeout_s, "
                    "or reset(options={'wait': False}) to begin anyway")
            self._rgb = rgb
            self._history.append(rgb)
            obs = self.frames.reset(obs_frame)
        except BaseException:
            self.input.release_all()
            raise
        self._steps = 0
        self._overruns = 0
        self._t_next = time.monotonic()
        return obs, {"region": tuple(self._region().__dict__.values()), "stopped": self.stopped.is_set()}

    def step(self, action):
        if self._t_next is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self.stopped.is_set() and self.on_stop == "raise":
            raise StopRequested("the stop switch was pressed; call env.resume() to go on")
        try:
            # before anything is sent: an action outside the space is an error naming the key, never another action
            checked = self.action_spec.check_action(action)
            t0 = time.monotonic()
            overrun = 0.0
            late_start = 0.0
            if self.period is not None:
                # Steps keep to a fixed clock: step k's frame is due at slot_k + period = slot_(k+1). Grabbing
                # the frame and the agent's own time come out of the next step, not on top of the period (which
                # ran a 30 Hz window at 28.7 steps/s). A step more than a whole period late starts a new clock.
                slot = self._t_next
                late_start = max(0.0, t0 - slot)
                if late_start > self.period:
                    overrun += late_start
                    slot = t0
                start = max(t0, slot)
                if start > t0:
                    time.sleep(start - t0)
            else:
                start = t0
            region = self._region()
            if self.type_names[checked["type"]] == "key" or self.input.held_keys:
                self._focus()  # key presses and releases go to the focused window: make it the game's
            self.input.apply(checked, region)
            if self.period is not None:
                end_due = slot + self.period
                now = time.monotonic()
                if now < end_due:
                    time.sleep(end_due - now)
            t_grab = time.monotonic()  # the picture is taken as the grab starts; converting it takes a while more
            obs_frame, rgb = self._grab()
            t_frame = time.monotonic()
            if self.period is not None:
                late_frame = t_grab - end_due
                if late_frame > 0.002:
                    overrun += late_frame
                self._t_next = end_due
            else:
                self._t_next = t_frame
            if overrun > 0:
                self._overruns += 1
            obs = self.frames.push(obs_frame)
            prev = list(self._history)
            reward = 0.0
            if self.reward_fn is not None:
                reward = _reward_value(self.reward_fn, self.reward_fn.calculate_reward(rgb, prev, action))
            terminated, truncated = self._check_end(rgb)
            self._history.append(rgb)
            self._rgb = rgb
            self._steps += 1
            limit = self._step_limit()
            if limit is not None and self._steps >= limit:
                truncated = True
            stopped = self.stopped.is_set()
            if stopped:
                truncated = True
            if terminated or truncated:
                self.input.release_all()
        except BaseException:
            self.input.release_all()
            raise
        if stopped and self.on_stop == "raise":  # pressed during this step: it ends here, as the next would
            raise StopRequested("the stop switch was pressed during this step; everything held is released; call "
                                "env.resume() to go on")
        info = {
            "step_time_s": t_frame - start,
            "overrun_s": overrun,
            "late_start_s": late_start,
            "overruns": self._overruns,
            "region": (region.left, region.top, region.width, region.height),
            "action_type": self.type_names[checked["type"]],
            "held_keys": tuple(self.input.held_keys),
            "button_held": self.input.button_held,
            "stopped": stopped,
            "frame_time": t_frame,
        }
        return obs, reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return None if self._rgb is None else self._rgb.copy()
        return None

    def close(self) -> None:
        inp = getattr(self, "input", None)
        if inp is not None:
            with contextlib.suppress(Exception):
                inp.release_all()
        if getattr(self, "_stop_switch", None) is not None:
            self._stop_switch.stop()
            self._stop_switch = None
        _CtrlC.discard(self)
        if getattr(self, "_capture", None) is not None:
            self._capture.close()
            self._capture = None
        if getattr(self, "_backend", None) is not None:
            self._backend.close()
            self._backend = None
        super().close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()


class ReleaseInputOnEpisodeEnd(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Releases every held key and button of the ScreenGameEnv inside when a step of the wrappers below it
    ends the episode (terminated or truncated), e.g. the ``TimeLimit`` that ``gym.make(..., max_episode_steps=N)``
    adds and the env never sees. ``gym.make("ScreenGame-v0")`` puts it outermost."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        inner = env
        while isinstance(inner, gym.Wrapper):  # gym.make(..., max_episode_steps=0) truncated every step
            limit = getattr(inner, "_max_episode_steps", None) if isinstance(inner, gym.wrappers.TimeLimit) else None
            if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool)
                                      or limit < 1):
                env.close()  # made already: let go of its capture and input before refusing
                raise ValueError(f"max_episode_steps: need an integer >= 1 or None, got {limit!r} (gym.make's "
                                 "max_episode_steps)")
            inner = inner.env

    @property
    def action_spec(self) -> HybridActionSpec:
        """The env's :class:`~envs.screen.actions.HybridActionSpec` (``gym.make``'s env reaches it here without
        Gymnasium's warning about attributes of wrapped envs)."""
        return self.env.unwrapped.action_spec

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            self.env.unwrapped.release_all()
            if "held_keys" in info:
                info = {**info, "held_keys": (), "button_held": False}
        return obs, reward, terminated, truncated, info


def action_spec_of(env: gym.Env) -> HybridActionSpec | None:
    """The ``HybridActionSpec`` of a ScreenGame-v0 / FishingPixels-v0 env however it is wrapped (``gym.make``'s
    result included), read from ``env.unwrapped``: ``env.action_spec`` through a wrapper other than
    ``gym.make``'s outermost one goes through Gymnasium's deprecated attribute forwarding, with its warning.
    None for an env without one."""
    return getattr(env.unwrapped, "action_spec", None)


__all__ = ["ScreenGameEnv", "action_spec_of", "StopRequested", "ResetTimeout", "ReleaseInputOnEpisodeEnd", "ReplayCapture", "Region"]
