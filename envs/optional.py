"""The optional dependencies, imported with an error that says which extra installs them.

``pip install stardew-rl`` brings only gymnasium, numpy and numba. Rendering needs pygame (the ``render``
extra); ScreenGame-v0 and FishingPixels-v0 need OpenCV, mss, pynput and pygame (the ``screen`` extra).
Without this, a user who left out an extra got a bare ``ModuleNotFoundError: No module named 'cv2'`` from
inside ``reset()``, which names neither the feature nor the way to install it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from types import ModuleType

from gymnasium.error import DependencyNotInstalled

DISTRIBUTION = "stardew-rl"
# module -> (the distribution that provides it, the extra of stardew-rl that installs it)
OPTIONAL: dict[str, tuple[str, str]] = {
    "pygame": ("pygame", "render"),
    "cv2": ("opencv-python-headless", "screen"),
    "mss": ("mss", "screen"),
    "pynput": ("pynput", "screen"),
}


def _requirement(package: str, extra: str) -> str:
    """``package``'s requirement in ``extra`` as this install declares it (``pygame>=2.5.2``), else its name."""
    try:
        requires = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return package
    for req in requires:
        spec, _, marker = req.partition(";")
        if re.match(rf"{re.escape(package)}\b", spec.strip()) and re.search(rf"extra\s*==\s*['\"]{extra}['\"]", marker):
            return spec.strip()
    return package


def import_optional(module: str, needed_for: str, extra: str | None = None) -> ModuleType:
    """``importlib.import_module(module)``; if the optional package is missing, a ``DependencyNotInstalled``
    (Gymnasium's error for it) that names what needed it and how to install it: with ``extra``, or else the
    package's own extra in ``OPTIONAL`` (pygame is in both ``render`` and ``screen``).

    Only the package itself being absent is translated: an import that fails inside it (a missing system
    library, pynput without a display) keeps its own error, which says more.
    """
    top = module.partition(".")[0]
    package, own_extra = OPTIONAL[top]
    extra = extra or own_extra
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != top:
            raise
        raise DependencyNotInstalled(
            f"{needed_for} needs {package}, which is not installed. It comes with the {extra!r} extra: "
            f"pip install \"{DISTRIBUTION}[{extra}]\" (pip install -e \".[{extra}]\" in a checkout), "
            f"or pip install \"{_requirement(package, extra)}\""
        ) from e
