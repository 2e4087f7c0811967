"""Run the reference game server: ``python -m envs.stardew.serve [options]``.

The simulator plays the game's side of the bridge protocol, so ``StardewFishing-v0`` with
``backend="socket"`` can be tried without Stardew Valley::

    python -m envs.stardew.serve --realtime --fish Pufferfish --level 5 &
    python -c "import gymnasium as gym; env = gym.make('StardewFishing-v0', backend='socket'); ..."
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import math
import re
import signal
import socket
import sys

from envs.cli.argtypes import float_above, int_at_least, int_between, output_file
from envs.stardew.bridge.protocol import DEFAULT_HOST, DEFAULT_PORT
from envs.stardew.bridge.server import GameServer
from envs.stardew.sim import GameConfig


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
    ap.add_argument("--port", type=int_between(0, 65535), default=DEFAULT_PORT,
                    help="TCP port 0..65535 (0: any free port, printed)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--realtime", dest="mode", action="store_const", const="realtime",
                      help="run at --hz ticks per second whether or not the agent answers (like the game)")
    mode.add_argument("--lockstep", dest="mode", action="store_const", const="lockstep",
                      help="run a tick per action, as fast as the agent answers (default)")
    ap.set_defaults(mode="lockstep")
    ap.add_argument("--hz", type=float_above(0.0), default=60.0, help="ticks per second in real time (default 60)")
    ap.add_argument("--gap", type=float_above(0.0, inclusive=True), default=1.0,
                    help="seconds >= 0 between minigames in real time (default 1)")
    ap.add_argument("--fish", default=None, help="fish name or id, or a comma list (default: all 60)")
    ap.add_argument("--level", type=_level, default=(0, 10), help="fishing level or range lo-hi (default 0-10)")
    ap.add_argument("--tackle", default="", help="comma list: cork, trap, lead, barbed, treasure_hunter")
    ap.add_argument("--treasure", type=float, default=0.0, help="probability of a treasure chest (0..1)")
    ap.add_argument("--version", default="1.5", choices=["1.5", "1.6"], help="game rules (default 1.5)")
    ap.add_argument("--game-version", default=None,
                    help="game version announced in hello, e.g. 1.6.15; its major.minor must be --version's "
                         "(default per rules: 1.5.4 or 1.6.15)")
    ap.add_argument("--training-rod", action="store_true")
    ap.add_argument("--first-fish", action="store_true", help="the player never caught a fish before")
    ap.add_argument("--seed", type=int_between(0, 2**64 - 1), default=None,
                    help="seed of the minigame stream (0..2**64-1)")
    ap.add_argument("--max-connections", type=int_at_least(1), default=None,
                    help="exit after serving this many agents (>= 1)")
    ap.add_argument("--idle-timeout", type=float_above(0.0), default=30.0,
                    help="drop an agent silent this long (s, > 0; default 30)")
    ap.add_argument("--hello-timeout", type=float_above(0.0), default=3.0,
                    help="drop a connection that has not answered the hello in this time (s, > 0; default 3)")
    ap.add_argument("--stats", type=output_file, default=None,
                    help="write round-trip statistics (JSON) here on exit (checked at start; if it cannot be "
                         "written at exit, the JSON goes to stdout)")
    ap.add_argument("--quiet", action="store_true")
    return ap


def _check_game_version(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The server announces the rules from the game version's major.minor (``GameServer``): a --game-version
    of other rules than the simulator plays (--version) would tell the agent rules it does not get."""
    gv = args.game_version
    if gv is None:
        return
    if not re.fullmatch(r"\d+\.\d+(\.\d+)*", gv):
        parser.error(f"argument --game-version: need a version like 1.5.4 or 1.6.15, got {gv!r}")
    major_minor = ".".join(gv.split(".")[:2])
    if major_minor != args.version:
        hint = f"; for {major_minor} rules pass --version {major_minor}" if major_minor in ("1.5", "1.6") else ""
        parser.error(f"argument --game-version: {gv!r} is not a version of the rules served (--version "
                     f"{args.version}: {args.version}.x){hint}")


def _check_address(parser: argparse.ArgumentParser, host: str, port: int) -> None:
    """Bind (host, port) once and let go at once, as GameServer will bind it after the warm-up, so that an
    address that cannot be served is a usage error now rather than a traceback after the kernels compiled. The
    socket never listens: an agent that connects meanwhile is refused, not left waiting for a hello."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except socket.gaierror as e:
        parser.error(f"argument --host: cannot resolve {host!r} to an IPv4 address ({e.strerror})")
    except (ValueError, TypeError) as e:  # e.g. a name too long to encode
        parser.error(f"argument --host: not a host name or IPv4 address: {host!r} ({e})")
    except OSError as e:
        if e.errno == errno.EADDRNOTAVAIL:
            parser.error(f"argument --host: {host!r} is not an address of this machine ({e.strerror})")
        if e.errno == errno.EADDRINUSE:
            parser.error(f"argument --port: {host}:{port} is in use by another program ({e.strerror})")
        if e.errno == errno.EACCES:
            parser.error(f"argument --port: no permission to bind {host}:{port} ({e.strerror})")
        parser.error(f"argument --host/--port: cannot bind {host}:{port} ({e})")
    finally:
        sock.close()


def _write_stats(path: str, stats: dict) -> None:
    """Write the statistics to ``path``; if that fails (the folder went away...), print them on stdout instead
    of losing a whole run's measurements."""
    text = json.dumps(stats)
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        print(f"serve: cannot write --stats {path!r} ({e}); the statistics follow on stdout", file=sys.stderr,
              flush=True)
        print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # everything the command line decides is checked here, before the warm-up (seconds) and before the port opens
    _check_game_version(parser, args)
    if round(args.hz) < 1:  # the real-time loop sends a heartbeat every round(hz) ticks while waiting
        parser.error(f"argument --hz: must be >= 0.5, got {args.hz}")
    if not math.isfinite(args.gap * args.hz):
        parser.error(f"argument --gap: too long ({args.gap} s at {args.hz} ticks per second)")
    config = GameConfig(
        fish=_fish(args.fish), level=args.level, version=args.version, training_rod=args.training_rod,
        caught_before=not args.first_fish, treasure=args.treasure,
        tackle=[t.strip() for t in args.tackle.split(",") if t.strip()],
    )
    try:
        config.compile()
    except ValueError as e:  # e.g. "level: need 0 <= lo <= hi <= 20, got 30", as a usage error
        parser.error(str(e))
    _check_address(parser, args.host, args.port)
    try:  # GameServer compiles the simulator's kernels before its port opens (seconds on a cold cache)
        server = GameServer(config, host=args.host, port=args.port, mode=args.mode, tick_hz=args.hz,
                            gap=args.gap, seed=args.seed, max_connections=args.max_connections,
                            idle_timeout=args.idle_timeout, hello_timeout=args.hello_timeout, game_version=args.game_version, verbose=not args.quiet)
    except OSError as e:  # the address was free a moment ago, taken during the warm-up
        parser.error(f"argument --host/--port: cannot bind {args.host}:{args.port} ({e})")
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
        if args.stats is not None:
            _write_stats(args.stats, server.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
