"""The whole SMAPI mod compiles against reference assemblies of the game, SMAPI, Harmony, MonoGame and ONNX Runtime.

``mod/RefStubs`` holds one folder per real assembly, each member transcribed from the real source (the file headers
name the repository, path and version). Every ``.cs`` of ``mod/StardewRlBridge`` is compiled against them with Mono's
``mcs -warnaserror+``; mutated copies of the mod (a renamed field, a renamed method, a wrong field type, a member the
real assembly keeps internal) must fail to compile, so the stubs are known to check what they claim to.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.envs.stardew.bridge.helpers import NEEDS_MONO
from tests.mod.build import ASSEMBLIES, MOD, STUBS, build_stubs, compile_mod, mod_sources

pytestmark = [pytest.mark.timeout(300), NEEDS_MONO]


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> dict[str, Path]:
    return build_stubs(tmp_path_factory.mktemp("refstubs"))


def test_every_file_of_the_mod_compiles_against_the_reference_assemblies_with_warnings_as_errors(stubs, tmp_path):
    sources = mod_sources()
    names = {p.name for p in sources}
    assert {"ModEntry.cs", "InputPatch.cs", "UpdatePatch.cs", "OnnxPolicy.cs", "ModConfig.cs", "NativeOnnx.cs",
            "Protocol.cs", "PolicyContract.cs"} <= names
    proc = compile_mod(stubs, tmp_path / "StardewRlBridge.dll")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in (proc.stdout + proc.stderr).lower()
    assert (tmp_path / "StardewRlBridge.dll").stat().st_size > 0


def test_each_reference_assembly_is_its_own_dll_named_as_the_real_one(stubs):
    assert set(stubs) == set(ASSEMBLIES)
    assert {"Stardew Valley", "StardewModdingAPI", "0Harmony", "MonoGame.Framework", "Microsoft.ML.OnnxRuntime",
            "SMAPI.Toolkit.CoreInterfaces"} <= set(stubs)
    assert all(p.is_file() and p.name == f"{name}.dll" for name, p in stubs.items())


def test_every_stub_file_names_the_source_repository_path_and_version_it_follows():
    files = sorted(STUBS.rglob("*.cs"))
    assert len(files) >= len(ASSEMBLIES)
    for f in files:
        header = f.read_text(encoding="utf-8")[:1500]
        assert "Follows" in header, f
        assert re.search(r"[\w.-]+/[\w.-]+", header), f"{f}: no owner/repository named"
        assert re.search(r"\b(v?\d+\.\d+(\.\d+)*|tag)\b", header), f"{f}: no version named"


# (what is changed, file, text, replacement, mcs error code, name the error must mention)
MUTATIONS = [
    ("a BobberBar field renamed", "ModEntry.cs", "bar.bobberBarPos", "bar.bobberBarPosition", "CS1061",
     "bobberBarPosition"),
    ("a game method renamed", "InputPatch.cs", "nameof(Game1.isOneOfTheseKeysDown)", "nameof(Game1.isOneOfTheseKeyDown)",
     "CS0117", "isOneOfTheseKeyDown"),
    ("a SMAPI event renamed", "ModEntry.cs", "helper.Events.GameLoop.UpdateTicked +=",
     "helper.Events.GameLoop.UpdateTick +=", "CS1061", "UpdateTick"),
    ("a BobberBar field read with the wrong type", "ModEntry.cs", "var bobbers = bar.bobbers", "string[] bobbers = bar.bobbers",
     "CS0029", "List<string>"),
    ("an ONNX Runtime member renamed", "OnnxPolicy.cs", "IntraOpNumThreads = 1", "IntraOpThreads = 1", "CS0117",
     "IntraOpThreads"),
    ("a constructor SMAPI keeps internal", "ModEntry.cs", "private void CloseMinigame()\n        {",
     "private void CloseMinigame()\n        {\n            OnMenuChanged(null, new MenuChangedEventArgs(null, null));",
     "CS0122", "MenuChangedEventArgs"),
]


@pytest.mark.parametrize("what,file,old,new,code,mentions", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_mutated_copy_of_the_mod_does_not_compile(stubs, tmp_path, what, file, old, new, code, mentions):
    copy = tmp_path / "mod"
    shutil.copytree(MOD, copy, ignore=shutil.ignore_patterns("bin", "obj"))
    target = copy / file
    text = target.read_text(encoding="utf-8")
    assert old in text, f"the mutation's text is no longer in {file}: update MUTATIONS"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    proc = compile_mod(stubs, tmp_path / "mutant.dll", mod_sources(copy))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{what}: compiled anyway"
    assert f"error {code}" in out and mentions in out, out
