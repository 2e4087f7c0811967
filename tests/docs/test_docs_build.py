"""The docs site builds with `mkdocs build --strict`, and its results pages are what the reports say.

A broken link, a missing page in the navigation or a docstring reference mkdocstrings cannot resolve fails the
strict build. The results pages under docs/results are written by docs/gen_results.py from the committed reports;
they are committed too, so a report that changes without its page (or a page edited by hand) fails here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _gen_results():
    spec = importlib.util.spec_from_file_location("gen_results", ROOT / "docs" / "gen_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mkdocs() -> list[str]:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings_handlers") is None:
        pytest.skip("mkdocs or mkdocstrings is not installed (pip install -e '.[docs]' installs them)")
    return [sys.executable, "-m", "mkdocs"]


@pytest.mark.timeout(300)
def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    done = subprocess.run([*_mkdocs(), "build", "--strict", "--site-dir", str(site)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    for page in ("reference/stardew-fishing", "reference/stardew-fishing-vector", "reference/screen-game",
                 "reference/fishing-pixels"):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        assert "<table" in html, f"{page}: the env's docstring tables did not render"


def test_the_committed_results_pages_are_what_the_reports_generate() -> None:
    pages = _gen_results().pages(ROOT)
    committed = sorted(p.name for p in (ROOT / "docs" / "results").glob("*.md"))
    assert committed == sorted(pages), f"docs/results holds {committed}, docs/gen_results.py writes {sorted(pages)}"
    stale = [name for name, text in pages.items()
             if (ROOT / "docs" / "results" / name).read_text(encoding="utf-8") != text]
    assert not stale, f"docs/results/{stale} differ from their reports: run `python docs/gen_results.py` (or make docs)"


def test_the_results_generator_names_the_report_that_is_missing(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    shutil.copytree(ROOT / "exported", tmp_path / "exported", ignore=shutil.ignore_patterns("*.onnx", "ppo_state"))
    (tmp_path / "reports" / "perfect_bound.json").unlink()
    with pytest.raises(SystemExit, match="perfect_bound.json: missing"):
        _gen_results().pages(tmp_path)


def test_the_results_generator_names_the_line_of_a_broken_report(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    shutil.copytree(ROOT / "exported", tmp_path / "exported", ignore=shutil.ignore_patterns("*.onnx", "ppo_state"))
    (tmp_path / "reports" / "bench_inference.json").write_text('[\n  {"model": "x",\n')
    with pytest.raises(SystemExit, match=r"bench_inference.json: line 3"):
        _gen_results().pages(tmp_path)


def test_every_file_the_readmes_link_to_exists() -> None:
    """The README and the mod's README link into docs/ and elsewhere by relative paths, outside mkdocs' checks."""
    for md in (ROOT / "README.md", ROOT / "mod" / "README.md", ROOT / "CHANGELOG.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (md.parent / target).exists(), f"{md.relative_to(ROOT)}: the link to {target} leads nowhere"
