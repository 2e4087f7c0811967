"""Keeps numba's on-disk kernel cache in step with the rules it was compiled from.

Numba checks a cached kernel only against the file that defines it. A kernel in ``sim.py`` that
calls ``rules.tick`` has the rules compiled into it, so after an edit to ``rules.py`` (a modder
porting a 1.6 change, say) it would go on running the old rules until someone deleted the
``__pycache__/*.nbi``/``*.nbc`` files by hand. Every module that compiles kernels with
``cache=True`` calls :func:`drop_stale_numba_cache` before defining them: it keeps a digest of the
sources its kernels depend on and drops that module's cached kernels when the digest changes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

# The simulator's kernel sources: any kernel that calls into one of them depends on all of them.
# A new module in this package with numba kernels belongs in this list.
KERNEL_SOURCES: tuple[Path, ...] = tuple(
    Path(__file__).with_name(name) for name in ("rules.py", "features.py", "sim.py")
)


def sources_digest(sources: Iterable[Path]) -> str:
    """SHA-256 over the sources' names and contents, in a fixed order."""
    h = hashlib.sha256()
    for path in sorted({Path(p).resolve() for p in sources}):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def numba_cache_dir(module_file: str | Path) -> Path:
    """The directory numba caches ``module_file``'s kernels in.

    Numba picks it per function: ``NUMBA_CACHE_DIR`` if set, else ``__pycache__`` beside the module
    if writable, else the user's cache directory (a read-only install), or whatever
    ``NUMBA_CACHE_LOCATOR_CLASSES`` names. We ask numba's own chooser with a probe function compiled
    under the module's file name, so the answer follows numba's rules rather than a copy of them.
    Falls back to ``__pycache__`` if a numba version moves that machinery.
    """
    module_file = Path(module_file)
    try:
        from numba.core.caching import CompileResultCacheImpl

        namespace: dict = {}
        exec(compile("def _probe():\n    pass\n", str(module_file), "exec"), namespace)
        return Path(CompileResultCacheImpl(namespace["_probe"]).locator.get_cache_path())
    except Exception:  # noqa: BLE001 (private numba API: any change there must not break imports)
        return module_file.parent / "__pycache__"


def drop_stale_numba_cache(module_file: str | Path, depends_on: Iterable[Path] = KERNEL_SOURCES) -> bool:
    """Delete ``module_file``'s cached numba kernels if it or ``depends_on`` changed since they were cached.

    Returns True if cached kernels were dropped. The digest is kept beside the cached kernels, wherever
    numba keeps them (:func:`numba_cache_dir`). If that directory cannot be written, numba cannot cache
    there either, and there is nothing to drop.
    """
    module_file = Path(module_file)
    cache_dir = numba_cache_dir(module_file)
    stamp = cache_dir / f"{module_file.stem}.numba-sources"
    digest = sources_digest([module_file, *depends_on])
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    dropped = False
    try:
        cache_dir.mkdir(exist_ok=True)
        for cached in cache_dir.glob(f"{module_file.stem}.*.nb[ic]"):
            cached.unlink(missing_ok=True)
            dropped = True
        # Another process may be doing the same: write the stamp whole, under a name of our own.
        tmp = cache_dir / f"{stamp.name}.{os.getpid()}"
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except OSError:
        pass  # numba cannot write here either, so it caches nothing here to go stale
    return dropped
