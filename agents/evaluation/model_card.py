"""exported/README.md: the model card, written from the export and evaluation reports."""

from __future__ import annotations

import json
from pathlib import Path

from agents.evaluation.report import pct, safety_cap_lines, ticks
from envs.stardew.features import resolve

EXPORTED = Path("exported")


def _row(name: str, o: dict) -> str:
    lo, hi = o["catch_ci95"]
    return (f"| {name} | {pct(o['catch'])} ({pct(lo)}-{pct(hi)}) | {pct(o['hard_catch'])} | "
            f"{pct(o['perfect'])} | {ticks(o['mean_ticks_to_catch'])} |")


def _dev(o: dict) -> str:
    return (f"dev catch {100 * o['catch']:.1f}%, difficulty>=90 {100 * o['hard_catch']:.1f}%, perfect "
            f"{100 * o['perfect']:.1f}% on {o['episodes']:,} episodes")


def _rich_form(rep: dict) -> str:
    """How the best policy's network came about: one run, an ensemble graph, or a distilled ensemble."""
    training = rep.get("autofisher_dqn_rich.onnx", {}).get("training", {})
    members = training.get("members") or []
    if training.get("config", {}).get("distilled"):
        improved = (" and then improved by simulator rollouts (its action gaps measured by playing both actions "
                    "from the same states)") if training["config"].get("improved") else ""
        return (f"The best policy is one network distilled from the mean Q-values of {len(members)} networks "
                f"trained from different seeds{improved}. ")
    if members:
        return (f"The best policy is the mean Q-values of {len(members)} networks trained from different seeds, "
                "one branch each in one graph, joined by a Sum node. ")
    return ""


def write_model_card(evaluation: dict, out: Path = EXPORTED, path: Path | None = None,
                     report: str = "reports/evaluation.md") -> Path | None:
    """The model card of the models in ``out`` (from its ``export_report.json``) with the ``evaluation``'s figures,
    written to ``path`` (default ``out/README.md``); None when ``out`` has no export report. ``report`` is where
    the same evaluation's per-level, per-fish and paired tables are."""
    rep_path = out / "export_report.json"
    if not rep_path.exists():
        return None
    rep = json.loads(rep_path.read_text())
    pol = evaluation["policies"]
    n = evaluation["protocol"]["episodes"]
    lines = ["# Exported DQN policies (model card)", "",
             "Q-networks trained with `make train-dqn` (CleanRL-style DQN on the embedded simulator, see "
             f"docs/dqn.md) and exported with `make export-onnx`. {_rich_form(rep)}Both are plain "
             "float64 MLPs (MatMul/Add/Relu), opset 13, IR version 8, one file each, no external data.", ""]
    for fname, title in (("autofisher_dqn.onnx", "Seed-contract model (drop-in for AutoFisher-SV)"),
                         ("autofisher_dqn_rich.onnx", "Best policy on the richer visible observation")):
        r = rep.get(fname)
        if not r:
            continue
        cfg = r["training"]["config"]
        summ = r["training"].get("summary") or {}
        members = r["training"].get("members") or []
        distilled = cfg.get("distilled")
        if members:  # the recipe's figures are the members' (the first one's here, each one's below)
            summ = members[0]["summary"] or {}
        low = cfg.get("low_levels", [0, 3])
        lines += [f"## `{fname}`: {title}", "",
                  f"- input: {r['contract']['inputs']}; output: {r['contract']['outputs']} "
                  "(Q(release), Q(hold); act = argmax, 1 = hold the button)",
                  f"- features: `{cfg['features']}`, fishing levels {cfg['level'][0]}..{cfg['level'][1]}, "
                  f"decisions every game tick (frame_skip {cfg['frame_skip']})",
                  f"- training{' (each member)' if members else ''}: {summ.get('env_steps', cfg['total_steps']):,} "
                  f"env steps ({cfg['num_games']} games at once), "
                  f"{summ.get('wall_seconds', float('nan')) / 60:.1f} min wall on {summ.get('cpu_cores', '?')} CPU "
                  f"cores, {summ.get('updates', 0):,} updates; "
                  f"double={cfg['double']}, dueling={cfg['dueling']}, n_step={cfg['n_step']}, gamma={cfg['gamma']}, "
                  f"hidden={cfg['hidden']}, reward weights {cfg['reward_weights']}, perfect-loss penalty "
                  f"{cfg.get('perfect_loss_penalty', 0)}, {100 * cfg.get('hard_fraction', 0):.0f}% of games on fish of "
                  f"difficulty >= {cfg.get('hard_min_difficulty', 85)}, "
                  f"{100 * cfg.get('low_level_fraction', 0):.0f}% of games at levels "
                  f"{low[0]}..{low[1]}, "
                  f"frames stacked: {cfg.get('stack', 1)}, "
                  f"demonstrator: {cfg.get('demo_controller') or 'none'} "
                  f"({100 * cfg.get('demo_fraction', 0):.0f}% of games, margin weight {cfg.get('margin_weight', 0)})"]
        if members:
            lines += [f"- member `{m['run']}` (training seed {m['config']['seed']}): "
                      f"{(m['summary'] or {}).get('wall_seconds', float('nan')) / 60:.1f} min wall, checkpoint chosen "
                      f"on the dev seeds at step {m['step']:,} ({_dev(m['best_dev'])})" for m in members]
            if "ensemble_dev" in r:
                lines += [f"- the ensemble on the same dev seeds: {_dev(r['ensemble_dev'])}"]
        improved = cfg.get("improved")
        if distilled:
            ds = r["training"]["summary"]
            if improved:  # the improvement's record holds the distillation's
                ds = ds.get("start_summary") or {}
            distilled_run = improved["start"] if improved else r["training"]["run"]
            lines += [f"- distilled into one network of the members' size ({', '.join(distilled['teachers'])} -> "
                      f"`{distilled_run}`, `python -m agents.dqn.distill`): {distilled['rounds']} rounds of "
                      f"{distilled['states_per_round']:,} states labelled with the members' mean Q-values (round 0 "
                      f"played by the ensemble, then by the student), {distilled['updates_per_round']:,} updates per "
                      f"round, {ds.get('wall_seconds', float('nan')) / 60:.1f} min wall",
                      f"- on the dev seeds: the distilled network {_dev(ds['best_dev'])}"
                      + (f"; the ensemble it learned from {_dev(ds['teacher_dev'])}" if ds.get("teacher_dev") else "")]
        if improved:
            imp = r["training"]["summary"]
            lines += [f"- improved by simulator rollouts (`{improved['start']}` -> `{r['training']['run']}`, "
                      f"`python -m agents.dqn.improve`): {improved['rounds']} rounds; in each the policy plays "
                      f"{improved['states_per_round']:,} kept states, each state is played on with both actions "
                      f"over {improved['rollouts']} shared random futures of {improved['horizon']} ticks, and the "
                      f"network is fitted to the measured gap ({improved['updates_per_round']:,} updates), "
                      f"{imp.get('wall_seconds', float('nan')) / 60:.1f} min wall",
                      f"- on the same dev seeds: the improved network {_dev(imp['best_dev'])}"]
        if not (distilled or improved or members):
            lines += [f"- checkpoint chosen on the dev seeds at step {r['training']['best_dev'].get('step', '?'):,}"]
        lines += [f"- export check: onnxruntime vs torch on {r['states']:,} states, max |diff| "
                  f"{r['max_abs_diff']:.1e}, argmax agreement {100 * r['argmax_agreement']:.0f}%; "
                  f"onnxruntime policy on {r['onnxruntime_short_eval']['episodes']} dev episodes: catch "
                  f"{100 * r['onnxruntime_short_eval']['catch']:.1f}%", ""]
        if fname == "autofisher_dqn_rich.onnx":
            lines += ["Feature names, order and scaling are in the model's `metadata_props` (`feature_names`, "
                      "`feature_scaling`, `frame_stack`, `input_layout`); each feature is computed as "
                      "`envs.stardew.features.write_obs` does. The input is this tick's "
                      f"{len(resolve(cfg['features']))} features followed by those of the "
                      f"{cfg.get('stack', 1) - 1} ticks before, newest first (at an episode's start the first "
                      "observation is repeated).", ""]
        else:
            lines += ["Input: the raw game values `[bobberBarPos, bobberPosition, bobberBarSpeed]` as read by "
                      "the mod (float64, no batch dimension); the scaling is inside the graph.", ""]
    lines += [f"## Evaluation: population protocol, {n:,} held-out seeds, every tick", "",
              "| policy | catch % (95% CI) | difficulty>=90 catch % | perfect % | mean ticks to catch |",
              "|---|---|---|---|---|"]
    lines += [_row(k, v["overall"]) for k, v in pol.items()]
    lines += safety_cap_lines(evaluation)
    lines += ["", f"Per level, per fish and paired comparisons: `{report}` (`make evaluate`); inference "
              "latency: `make bench BENCH=inference`.", ""]
    path = path or out / "README.md"
    path.write_text("\n".join(lines))
    return path
