"""The sample Q/R data served when no data folder is named (the README's first command).

The bundled sample (``qr-data/`` in :func:`aiodicom.resources.bundled_folder`, inside the
installed package) is never written to, and C-STORE writes into the data folder
(``<data>/received``): so the server serves a working copy in
``$XDG_DATA_HOME/aiodicom/qr-data`` (``~/.local/share/aiodicom/qr-data``), made on first
use (:mod:`servers.user_data`, the worklist's precedent). An existing copy is kept as it
is, with what it received (delete the folder to start over).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aiodicom.errors import ConfigError
from aiodicom.resources import bundled_folder

from .. import user_data


def template_folder() -> Path:
    """The bundled sample files (read-only)."""
    return bundled_folder() / "qr-data"


def is_template(folder: Path) -> bool:
    """Does ``folder`` name the bundled sample (which must not be served for writing)?"""
    return folder.resolve() == template_folder().resolve()


def prepare(root: Path | None = None) -> Path:
    """Make the working copy at ``root`` unless it exists; return ``root``.

    Raises :class:`ConfigError` naming the folder when it cannot be written.
    """
    root = user_data.working_copy_root("qr-data") if root is None else root
    if root.is_dir():
        return root
    try:
        user_data.install_copy(root, _fill)
    except OSError as exc:
        raise ConfigError(
            None,
            "qr.data",
            f"a writable folder for the sample Q/R data ({exc.strerror}); "
            "name another with --data or XDG_DATA_HOME",
            str(root),
        ) from exc
    return root


def _fill(staging: Path) -> None:
    shutil.copytree(template_folder(), staging, dirs_exist_ok=True)
