"""The evaluation's reports: the Markdown tables of ``evaluation.md``, the plots, and the number formats the model
card shares with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.evaluation.protocol import LEVELS
from envs.stardew.fish import fish_table


def pct(x: float | None) -> str:
    """A rate as a percentage; "-" for one over no episodes (NaN in memory, null in evaluation.json)."""
    return "-" if x is None or x != x else f"{100 * x:.1f}"


def ticks(x: float | None) -> str:
    """Mean ticks to catch; "-" when nothing was caught."""
    return "-" if x is None or x != x else f"{x:.0f}"


def safety_cap_lines(res: dict) -> list[str]:
    """The protocol reports its safety cap when it fires: episodes that reached ``max_ticks`` without a catch or
    an escape (counted as not caught), per policy; no lines when none did (evaluation.json always has the counts,
    ``truncated`` in every summary)."""
    cap = res["protocol"]["config"]["max_ticks"]
    fired = {name: p["overall"]["truncated"] for name, p in res["policies"].items() if p["overall"]["truncated"]}
    if not fired:
        return []
    return ["", f"Safety cap fired: episodes that reached {cap:,} ticks without a catch or an escape (counted as not "
            "caught): " + ", ".join(f"{name} {k:,} of {res['policies'][name]['overall']['episodes']:,}"
                                   for name, k in fired.items())]


def markdown(res: dict) -> str:
    pol = res["policies"]
    p = res["protocol"]
    lines = [f"# Evaluation: population protocol, {p['episodes']:,} held-out seeds "
             f"({p['seeds'][0]}..{p['seeds'][1]}), every tick", "",
             "| policy | catch % (95% CI) | difficulty>=90 catch % | perfect % | mean ticks to catch |",
             "|---|---|---|---|---|"]
    for name, r in pol.items():
        o = r["overall"]
        lo, hi = o["catch_ci95"]
        lines.append(f"| {name} | {pct(o['catch'])} ({pct(lo)}-{pct(hi)}) | {pct(o['hard_catch'])} "
                     f"(n={o['hard_episodes']}) | {pct(o['perfect'])} | {ticks(o['mean_ticks_to_catch'])} |")
    lines += safety_cap_lines(res)
    lines += ["", "## Catch % by fishing level", "",
              "| policy | " + " | ".join(str(lv) for lv in LEVELS) + " |",
              "|---|" + "---|" * len(LEVELS)]
    for name, r in pol.items():
        lines.append(f"| {name} | " + " | ".join(pct(r["per_level"][lv]["catch"]) for lv in LEVELS) + " |")
    lines += ["", "## Perfect % by fishing level", "",
              "| policy | " + " | ".join(str(lv) for lv in LEVELS) + " |",
              "|---|" + "---|" * len(LEVELS)]
    for name, r in pol.items():
        lines.append(f"| {name} | " + " | ".join(pct(r["per_level"][lv]["perfect"]) for lv in LEVELS) + " |")
    lines += ["", "## Paired comparisons (same seeds)", "",
              "| comparison | new successes | regressions | both caught | neither |", "|---|---|---|---|---|"]
    for k, v in res["paired"].items():
        lines.append(f"| {k} | {v['new_successes']} | {v['regressions']} | {v['both']} | {v['neither']} |")
    names = list(pol)
    lines += ["", "## Catch % by fish", "", "| fish | difficulty | motion | n | " + " | ".join(names) + " |",
              "|---|---|---|---|" + "---|" * len(names)]
    for f in sorted(fish_table(), key=lambda f: (f.difficulty, f.name)):
        rows = [pol[nm]["per_fish"].get(f.name) for nm in names]
        if rows[0] is None:
            continue
        lines.append(f"| {f.name} | {f.difficulty} | {f.behavior} | {rows[0]['episodes']} | "
                     + " | ".join(pct(r["catch"]) for r in rows) + " |")
    return "\n".join(lines) + "\n"


def plots(res: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pol = res["policies"]
    files = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, r in pol.items():
        axes[0].plot(LEVELS, [100 * r["per_level"][lv]["catch"] for lv in LEVELS], marker="o", label=name)
        axes[1].plot(LEVELS, [100 * r["per_level"][lv]["perfect"] for lv in LEVELS], marker="o", label=name)
    for ax, t in zip(axes, ("catch %", "perfect %"), strict=True):
        ax.set_xlabel("fishing level")
        ax.set_ylabel(t)
        ax.set_title(f"{t} by fishing level ({res['protocol']['episodes']:,} held-out seeds)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    files.append(out / "by_level.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    fishes = sorted(fish_table(), key=lambda f: (f.difficulty, f.name))
    names = [f.name for f in fishes if f.name in next(iter(pol.values()))["per_fish"]]
    fig, ax = plt.subplots(figsize=(16, 5))
    x = np.arange(len(names))
    width = 0.8 / len(pol)
    for i, (name, r) in enumerate(pol.items()):
        ax.bar(x + i * width, [100 * r["per_fish"][f]["catch"] for f in names], width, label=name)
    ax.set_xticks(x + 0.4, [f"{f} ({r})" for f, r in zip(names, [fish.difficulty for fish in fishes
                                                                     if fish.name in names], strict=True)],
                  rotation=90, fontsize=7)
    ax.set_ylabel("catch %")
    ax.set_title("catch % by fish (difficulty), sorted by difficulty")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.append(out / "by_fish.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    return files
