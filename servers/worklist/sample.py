"""The sample worklist served when no data folder is named (the README's first command).

The bundled template (``worklist-data/`` in :func:`aiodicom.resources.bundled_folder`) is
never written to: a source checkout stays clean and an installed package stays intact.
Instead the server, and ``aiodicom-worklist add|list|remove``, use a working copy in
``$XDG_DATA_HOME/aiodicom/worklist-data`` (``~/.local/share/aiodicom/worklist-data`` when
``XDG_DATA_HOME`` is unset). The copy is made on first use with its dates moved so that
the sample's first day is today, so the page and a modality's C-FIND for today find items.

On a later day a copy that nobody changed is made again for that day; a copy changed
through the page, the REST API or the CLI is kept as it is (delete the folder to start
over).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from pathlib import Path

from aiodicom.errors import ConfigError
from aiodicom.resources import bundled_folder
from aiodicom.worklist import (
    BUNDLED_SAMPLE_COUNT,
    BUNDLED_SAMPLE_OPTIONS,
    BUNDLED_SAMPLE_SEED,
    write_folder,
)

from .. import user_data

SAMPLE_AE = "WLMSCP"
MARKER = ".aiodicom-sample.json"
"""Written into the working copy: the day it was dated from and the files as written."""
_DATE_LINE = re.compile(r'^(\s*-?\s*ScheduledProcedureStep(?:Start|End)Date:\s*"?)(\d{8})', re.M)


def template_folder() -> Path:
    """The bundled sample worklist (read-only)."""
    return bundled_folder() / "worklist-data"


def working_copy_root() -> Path:
    """Where the served copy of the sample lives."""
    return user_data.working_copy_root("worklist-data")


def is_template(folder: Path) -> bool:
    """Does ``folder`` name the bundled template (which must not be served for writing)?"""
    return folder.resolve() == template_folder().resolve()


def prepare(root: Path | None = None, today: datetime.date | None = None) -> Path:
    """Make (or re-date) the working copy at ``root``; return ``root``.

    Raises :class:`ConfigError` naming the folder when it cannot be written.
    """
    root = working_copy_root() if root is None else root
    today = datetime.date.today() if today is None else today
    try:
        if not _wants_new_copy(root, today):
            return root
        _write_copy(root, today)
    except OSError as exc:
        raise ConfigError(
            None,
            "worklist.data",
            f"a writable folder for the sample worklist ({exc.strerror}); "
            "name another with --data or XDG_DATA_HOME",
            str(root),
        ) from exc
    return root


def _fingerprint(root: Path) -> dict[str, list[int]]:
    files = (path for path in root.rglob("*") if path.is_file() and path.name != MARKER)
    return {
        str(path.relative_to(root)): [stat.st_size, stat.st_mtime_ns]
        for path in files
        for stat in (path.stat(),)
    }


def _wants_new_copy(root: Path, today: datetime.date) -> bool:
    if not root.exists():
        return True
    try:
        state = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # not a copy we made: never touch it
    unchanged: bool = state.get("files") == _fingerprint(root)
    return unchanged and state.get("day") != today.isoformat()


def _write_copy(root: Path, today: datetime.date) -> None:
    user_data.install_copy(root, lambda staging: _fill(staging, today))
    state = {"day": today.isoformat(), "files": _fingerprint(root)}
    (root / MARKER).write_text(json.dumps(state, indent=1), encoding="utf-8")


def _fill(root: Path, today: datetime.date) -> None:
    """The template's items, every scheduled date moved by the same number of days."""
    options = BUNDLED_SAMPLE_OPTIONS
    first_day = datetime.datetime.strptime(str(options.base_date), "%Y%m%d").date()
    shift = today - first_day
    dated = dataclasses.replace(options, base_date=int(today.strftime("%Y%m%d")))
    folder = write_folder(root, SAMPLE_AE, BUNDLED_SAMPLE_COUNT, BUNDLED_SAMPLE_SEED, dated)
    for item in sorted((template_folder() / SAMPLE_AE).glob("*.yaml")):
        text = item.read_text(encoding="utf-8")
        (folder / item.name).write_text(_shift_dates(text, shift), encoding="utf-8")


def _shift_dates(text: str, shift: datetime.timedelta) -> str:
    def moved(match: re.Match[str]) -> str:
        day = datetime.datetime.strptime(match.group(2), "%Y%m%d").date() + shift
        return match.group(1) + day.strftime("%Y%m%d")

    return _DATE_LINE.sub(moved, text)
