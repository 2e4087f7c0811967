"""The packages' layout holds: `envs` never imports `agents` (or `analysis`), the installed packages never import
the analysis scripts, and no module of `envs` or `agents` imports itself back through others, at the top of a
file or inside a function alike."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "agents", "analysis")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere in it (``from a.b import c`` counts a.b.c if that is a
    module, else a.b)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in PACKAGES}
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    return {name: imports(path, set(files)) for name, path in files.items()}


def test_envs_never_imports_agents_or_analysis():
    bad = {m: sorted(i for i in deps if not i.startswith("envs")) for m, deps in graph().items()
           if m.startswith("envs")}
    assert not {m: d for m, d in bad.items() if d}


def test_the_installed_packages_never_import_the_analysis_scripts():
    bad = {m: sorted(i for i in deps if i.startswith("analysis")) for m, deps in graph().items()
           if not m.startswith("analysis")}
    assert not {m: d for m, d in bad.items() if d}


def test_no_import_circle_in_envs_or_agents():
    g = graph()
    modules = {m for m in g if m.startswith(("envs", "agents"))}
    # a package's __init__ importing its own modules is how packages work, not a circle
    edges = {m: {d for d in g[m] if d in modules and m != d.rsplit(".", 1)[0]} for m in modules}
    circles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        for d in sorted(edges[m]):
            if state.get(d) == "open":
                circles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)
