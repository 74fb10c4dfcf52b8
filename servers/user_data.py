"""Where the servers keep their working copies of the bundled samples.

A server never writes into its installed package (nor a checkout's ``config/``): a
sample it serves by default is copied, on first use, to
``$XDG_DATA_HOME/aiodicom/<name>`` (``~/.local/share/aiodicom/<name>`` when
``XDG_DATA_HOME`` is unset), and served (and written to) there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def working_copy_root(name: str) -> Path:
    """``$XDG_DATA_HOME/aiodicom/<name>``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aiodicom" / name


def install_copy(root: Path, fill: Callable[[Path], None]) -> None:
    """Make ``root`` anew: ``fill`` a staging folder beside it, then rename it into place
    (a copy interrupted half-way is never served)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sample-", dir=root.parent))
    try:
        fill(staging)
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
