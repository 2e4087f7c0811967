"""Building the SMAPI mod with Mono's mcs against the reference assemblies in ``mod/RefStubs`` (no game needed).

Each folder of ``mod/RefStubs`` is one assembly, named as the real one (``Stardew Valley.dll``, ``StardewModdingAPI.dll``,
``0Harmony.dll``, ...), built on its own so that the mod sees only what the real assembly makes public. The
``reference`` build is what the mod compiles against; the ``behaviour`` build (``-define:BEHAVIOUR``) is what
``mod/ModHost`` runs it against: the same public surface, plus hooks the host reaches through
``InternalsVisibleTo("ModHost")``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "mod/RefStubs"
MOD = ROOT / "mod/StardewRlBridge"
HOST = ROOT / "mod/ModHost/ModHost.cs"
# mcs's newest language version; the mod keeps to C# 7.2 so that both mcs and .NET 6 compile it
MCS = ["mcs", "-warnaserror+", "-langversion:7.2", "-nostdlib-", "-debug-"]

# assembly name -> (folder under mod/RefStubs, assemblies it references, assemblies only its behaviour build references)
ASSEMBLIES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "MonoGame.Framework": ("MonoGame.Framework", (), ()),
    "0Harmony": ("0Harmony", (), ()),
    "SMAPI.Toolkit.CoreInterfaces": ("SMAPI.Toolkit.CoreInterfaces", (), ()),
    "Microsoft.ML.OnnxRuntime": ("Microsoft.ML.OnnxRuntime", (), ()),
    "System.Runtime.InteropServices.NativeLibrary": ("System.Runtime.InteropServices.NativeLibrary", (), ()),
    "Stardew Valley": ("StardewValley", ("MonoGame.Framework",), ("0Harmony",)),
    "StardewModdingAPI": ("StardewModdingAPI", ("MonoGame.Framework", "Stardew Valley", "SMAPI.Toolkit.CoreInterfaces"),
                          ()),
}


def mcs(args: list[str]) -> subprocess.CompletedProcess:
    """Runs mcs with warnings as errors; the completed process (its output in ``stdout``)."""
    return subprocess.run([*MCS, *args], capture_output=True, text=True, timeout=300)


def build_stubs(out: Path, behaviour: bool = False) -> dict[str, Path]:
    """Every reference assembly, built into ``out``: {assembly name: dll path}. Raises with mcs's output on failure."""
    out.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for name, (folder, refs, behaviour_refs) in ASSEMBLIES.items():
        dll = out / f"{name}.dll"
        sources = sorted((STUBS / folder).glob("*.cs"))
        references = [*refs, *(behaviour_refs if behaviour else ())]
        args = ["-target:library", f"-out:{dll}", *(["-define:BEHAVIOUR"] if behaviour else []),
                *[f"-r:{built[r]}" for r in references], *map(str, sources)]
        proc = mcs(args)
        if proc.returncode != 0:
            raise RuntimeError(f"mcs could not build the reference assembly {name}:\n{proc.stdout}{proc.stderr}")
        built[name] = dll
    return built


def mod_sources(folder: Path = MOD) -> list[Path]:
    """Every C# file of the mod."""
    return sorted(folder.glob("*.cs"))


def compile_mod(stubs: dict[str, Path], out: Path, sources: list[Path] | None = None) -> subprocess.CompletedProcess:
    """The mod (``sources``, default every file of ``mod/StardewRlBridge``) compiled to ``out`` against ``stubs``."""
    sources = mod_sources() if sources is None else sources
    return mcs(["-target:library", f"-out:{out}", *[f"-r:{p}" for p in stubs.values()], *map(str, sources)])


def build_host(folder: Path) -> Path:
    """The mod (against the reference stubs) and ``mod/ModHost`` (against the behaviour stubs), in ``folder`` with
    the behaviour stubs beside them, as the host runs them: -> the host's exe."""
    ref = build_stubs(folder / "ref")
    proc = compile_mod(ref, folder / "StardewRlBridge.dll")
    if proc.returncode != 0:
        raise RuntimeError(f"the mod does not compile against the reference assemblies:\n{proc.stdout}{proc.stderr}")
    behaviour = build_stubs(folder / "behaviour", behaviour=True)
    for dll in behaviour.values():
        shutil.copy(dll, folder / dll.name)
    exe = folder / "ModHost.exe"
    proc = mcs([f"-out:{exe}", f"-r:{folder / 'StardewRlBridge.dll'}",
                *[f"-r:{folder / dll.name}" for dll in behaviour.values()], str(HOST)])
    if proc.returncode != 0:
        raise RuntimeError(f"mcs could not build the host:\n{proc.stdout}{proc.stderr}")
    return exe
