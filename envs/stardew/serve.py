"""Run the reference game server: ``python -m envs.stardew.serve [options]``.

The simulator plays the game's side of the bridge protocol, so ``StardewFishing-v0`` with
``backend="socket"`` can be tried without Stardew Valley::

    python -m envs.stardew.serve --realtime --fish Pufferfish --level 5 &
    python -c "import gymnasium as gym; env = gym.make('StardewFishing-v0', backend='socket'); ..."
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys

import numpy as np

from envs.argtypes import float_above
from envs.stardew.bridge.protocol import DEFAULT_HOST, DEFAULT_PORT
from envs.stardew.bridge.server import GameServer
from envs.stardew.sim import FishingSim, GameConfig


def _fish(text: str | None) -> str | int | list | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def _level(text: str) -> int | tuple[int, int]:
    if "-" in text:
        lo, hi = text.split("-", 1)
        return int(lo), int(hi)
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m envs.stardew.serve", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free port, printed)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--realtime", dest="mode", action="store_const", const="realtime",
                      help="run at --hz ticks per second whether or not the agent answers (like the game)")
    mode.add_argument("--lockstep", dest="mode", action="store_const", const="lockstep",
                      help="run a tick per action, as fast as the agent answers (default)")
    ap.set_defaults(mode="lockstep")
    ap.add_argument("--hz", type=float_above(0.0), default=60.0, help="ticks per second in real time (default 60)")
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between minigames in real time (default 1)")
    ap.add_argument("--fish", default=None, help="fish name or id, or a comma list (default: all 60)")
    ap.add_argument("--level", type=_level, default=(0, 10), help="fishing level or range lo-hi (default 0-10)")
    ap.add_argument("--tackle", default="", help="comma list: cork, trap, lead, barbed, treasure_hunter")
    ap.add_argument("--treasure", type=float, default=0.0, help="probability of a treasure chest (0..1)")
    ap.add_argument("--version", default="1.5", choices=["1.5", "1.6"], help="game rules (default 1.5)")
    ap.add_argument("--game-version", default=None, help="game version announced in hello (default per rules)")
    ap.add_argument("--training-rod", action="store_true")
    ap.add_argument("--first-fish", action="store_true", help="the player never caught a fish before")
    ap.add_argument("--seed", type=int, default=None, help="seed of the minigame stream")
    ap.add_argument("--max-connections", type=int, default=None, help="exit after serving this many agents")
    ap.add_argument("--idle-timeout", type=float, default=30.0, help="drop an agent silent this long (s)")
    ap.add_argument("--stats", default=None, help="write round-trip statistics (JSON) here on exit")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = GameConfig(
        fish=_fish(args.fish), level=args.level, version=args.version, training_rod=args.training_rod,
        caught_before=not args.first_fish, treasure=args.treasure,
        tackle=[t.strip() for t in args.tackle.split(",") if t.strip()],
    )
    try:
        config.compile()
    except ValueError as e:  # e.g. "level: need 0 <= lo <= hi <= 20, got 30", as a usage error
        parser.error(str(e))
    # compile the simulator's kernels on a game of its own before the port opens: an agent that connected
    # while they compile (about 15 s on a cold cache) would wait for a hello that is not coming
    warm_up = FishingSim(1, config, features="seed")
    warm_up.step(np.zeros(1, dtype=np.int64), autoreset=False)
    warm_up.reset()
    server = GameServer(config, host=args.host, port=args.port, mode=args.mode, tick_hz=args.hz, gap=args.gap,
                        seed=args.seed, max_connections=args.max_connections, idle_timeout=args.idle_timeout,
                        game_version=args.game_version, verbose=not args.quiet)
    # then take everything alive out of the cyclic collector's reach: a full collection of numba's objects
    # takes tens of ms, more than a 16.7 ms tick
    gc.collect()
    gc.freeze()
    print(f"listening on {server.host}:{server.port} ({args.mode}, game {server.game_version})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server._stop.set())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if args.stats:
            with open(args.stats, "w") as f:
                json.dump(server.stats, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
