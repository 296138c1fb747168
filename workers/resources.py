"""Where lossatlas's files that are not Python live: the viewer (``frontend/``) and the gallery
(``precomputed/``).

In a source checkout they sit beside the packages. A wheel installs them as data files under
``<prefix>/share/lossatlas/`` (``sys.prefix`` for a virtual environment or a system install, the user
base for ``pip install --user``). An environment variable (``LOSSATLAS_FRONTEND_DIR``,
``LOSSATLAS_GALLERY_DIR``, the server's settings use the same names) overrides both.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARE = ("share", "lossatlas")
# name -> (environment variable, a file that shows the directory is the real one)
RESOURCES = {
    "frontend": ("LOSSATLAS_FRONTEND_DIR", "index.html"),
    "precomputed": ("LOSSATLAS_GALLERY_DIR", "index.json"),
}
GALLERY_SOURCE = (
    "the gallery (precomputed/) comes with the lossatlas source repository and the wheel; "
    "point LOSSATLAS_GALLERY_DIR at a copy of it"
)


def candidates(name: str) -> list[Path]:
    """Where ``name`` is looked for, in order."""
    env, _ = RESOURCES[name]
    out = [Path(os.environ[env])] if os.environ.get(env) else []
    out.append(REPO / name)
    for base in (sys.prefix, site.getuserbase()):
        out.append(Path(base, *SHARE, name))
    return out


def resource_dir(name: str) -> Path:
    """The first candidate directory that holds ``name``'s marker file; the checkout's path when none does
    (so that messages name where it was expected)."""
    _, marker = RESOURCES[name]
    places = candidates(name)
    for place in places:
        if (place / marker).is_file():
            return place
    return places[0]
