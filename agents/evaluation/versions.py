"""The shipped DQN models on the rules of each game version: the population protocol under 1.5.4 and 1.6 rules.

    python -m agents.evaluation.versions [--episodes 5000] [--out reports/evaluation_versions.json]

The published evaluation (``make evaluate``) plays 1.5.4's rules, the ones the models were trained on. The mod
needs SMAPI 4, which runs on game 1.6 only, so a player's games run 1.6's rules: tackle stacking, trap and lead
bobber factors, the treasure guards, and the fish 1.6 added (``envs/stardew/data/fish_added_1.6.csv``). This
plays both DQNs (``dqn_seed``: ``exported/autofisher_dqn.onnx``, the seed mod's contract; ``dqn_best``:
``exported/autofisher_dqn_rich.onnx``) and the ``lead`` controller as a reference on the same 5,000 held-out seeds
under each version's rules, everything else as the protocol sets it (any rod fish of that version's table, level
0..10, no tackle, no treasure). Writes a JSON file of the overall figures and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from agents.evaluation.protocol import TEST_SEED0, dumps, paired, protocol_config, run_episodes, summarize
from envs.cli.argtypes import int_at_least
from envs.stardew.controllers import make_controller
from envs.stardew.fish import fish_table

MODELS = {"dqn_seed": "exported/autofisher_dqn.onnx", "dqn_best": "exported/autofisher_dqn_rich.onnx"}
VERSIONS = ("1.5", "1.6")
OUT = "reports/evaluation_versions.json"


def evaluate_versions(episodes: int = 5000, seed0: int = TEST_SEED0,
                      models: dict[str, str] | None = None) -> dict:
    """Each model in ``models`` (default ``MODELS``) and ``lead`` on ``episodes`` held-out seeds under each of
    ``VERSIONS``' rules: ``{"protocol": ..., "results": {version: {policy: summary}}, "paired": ...}``.

    ``paired`` compares each policy's 1.6 games with its 1.5 games seed by seed. A seed does not replay the same
    game under both: the fish is drawn from 61 fish under 1.6 and 60 under 1.5, so the counts compare the two
    populations on shared seeds, and the overall rates are the figures to quote."""
    from agents.dqn.onnx_io import OnnxPolicy

    policies = {"lead": lambda: make_controller("lead")}
    for name, path in (MODELS if models is None else models).items():
        if not Path(path).exists():
            raise SystemExit(f"evaluate: {name}: {path} not found (run `make train-dqn export-onnx`)")
        policies[name] = lambda path=path: OnnxPolicy(path)
    res: dict = {"protocol": {"episodes": episodes, "seeds": [seed0, seed0 + episodes - 1],
                              "config": {k: v for k, v in vars(protocol_config()).items()
                                         if k not in ("reward_weights", "version")},
                              "fish": {v: len(fish_table(v)) for v in VERSIONS}},
                 "results": {v: {} for v in VERSIONS}, "paired": {}}
    runs: dict = {}
    for version in VERSIONS:
        cfg = protocol_config(version=version)
        for name, make in policies.items():
            ep = run_episodes(make(), n=episodes, seed0=seed0, config=cfg)
            runs[version, name] = ep
            res["results"][version][name] = summarize(ep)
            added = ep.fish >= len(fish_table("1.5"))
            if added.any():
                res["results"][version][name]["added_in_1.6"] = summarize(ep, added)
    for name in policies:
        res["paired"][f"{name}: 1.6 vs 1.5"] = paired(runs["1.5", name], runs["1.6", name])
    return res


def markdown(res: dict) -> str:
    """The overall figures as a Markdown table, one row per policy and version."""
    lines = ["| policy | rules | fish | catch % | hard catch % | perfect % | mean ticks to catch |",
             "|---|---|---|---|---|---|---|"]
    for version, by_policy in res["results"].items():
        for name, s in by_policy.items():
            lines.append(f"| {name} | {version} | {res['protocol']['fish'][version]} | {100 * s['catch']:.1f} | "
                         f"{100 * s['hard_catch']:.1f} | {100 * s['perfect']:.1f} | {s['mean_ticks_to_catch']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: evaluate, write ``--out``, print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int_at_least(1), default=5000)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    res = evaluate_versions(args.episodes)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(dumps(res))
    print(markdown(res))
    for k, v in res["paired"].items():
        print(k, {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()
                  if not isinstance(vv, (dict, list, np.ndarray))})
    print("wrote", args.out)


if __name__ == "__main__":
    main()
