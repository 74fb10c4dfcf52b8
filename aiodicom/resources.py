"""Where the files that ship with aiodicom are, in a checkout and in an installed wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = [
    "bundled_folder",
]


def bundled_folder() -> Path:
    """The bundled configs and samples: the repository's ``config/``, installed as
    the package ``aiodicom.bundled`` (``worklist.yaml``, ``worklist-data/``, ``qr-data/``...).
    """
    spec = importlib.util.find_spec("aiodicom.bundled")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(__file__).resolve().parents[1] / "config"  # a checkout, not installed
