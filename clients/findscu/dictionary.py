"""``DCMDICTPATH``: DCMTK data dictionary files whose names ``-k`` keys may use.

``DCMDICTPATH`` lists dictionary files separated by ``:`` (``os.pathsep``), as for DCMTK.
Each non-comment line of a file has five tab-separated fields, as in DCMTK's
``dicom.dic`` and ``private.dic``::

    (gggg,eeee)            VR  Name  VM  Version
    (gggg,"creator",ee)    VR  Name  VM  Version   (also gggg,"creator",xxee)

Lines starting with ``#`` and blank lines are ignored. The second form is a private
attribute in the block reserved by ``creator`` (PS3.5 7.8.1): ``-k Name=value`` then
also sends the Private Creator element (gggg,00xx). Entries override pydicom's
dictionary. Repeating-group ranges (``(6000-60FF,0010)``) are accepted and skipped:
pydicom already knows the standard ones. A file that cannot be read is skipped with a
warning (DCMTK does the same); a malformed line is a usage error naming file and line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import add_dict_entries

from aiodicom.errors import ConfigError

_PLAIN = re.compile(r"^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$")
_CREATOR = re.compile(r'^\(([0-9A-Fa-f]{4}),"([^"]*)",([0-9A-Fa-f]{2}|[0-9A-Fa-f]{4})\)$')
_RANGE = re.compile(r"^\([0-9A-Fa-f]{4}(-[ou])?-[0-9A-Fa-f]{4},|^\([^)]*,[0-9A-Fa-f]{4}-")
_VRS = frozenset((
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD",
    "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI",
    "UL", "UN", "UR", "US", "UT", "UV", "ox", "px", "xs", "lt", "na", "up"
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DictEntry:
    """One dictionary line. With a ``creator``, ``element`` is the offset (00-FF) inside
    the creator's private block; without one, it is the full element number."""

    group: int
    element: int
    vr: str
    name: str
    vm: str
    creator: str | None = None


_BY_NAME: dict[str, DictEntry] = {}
_VR_BY_TAG: dict[int, str] = {}


def entry_for_name(name: str) -> DictEntry | None:
    """A private entry loaded from ``DCMDICTPATH`` by its name (public ones are in
    pydicom's dictionary)."""
    return _BY_NAME.get(name)


def vr_for_tag(tag: int) -> str | None:
    """The VR of a private tag (without creator) loaded from ``DCMDICTPATH``."""
    return _VR_BY_TAG.get(tag)


def _parse_line(path: Path, number: int, line: str) -> DictEntry | None:
    fields = [field.strip() for field in line.split("\t") if field.strip()]
    where = f"line {number}"
    if len(fields) < 4:
        raise ConfigError(str(path), where, "Tag, VR, Name, VM[, Version] separated by tabs")
    tag_text, vr, name, vm = fields[:4]
    if _RANGE.match(tag_text):
        return None
    if vr not in _VRS:
        raise ConfigError(str(path), where, "a DICOM VR", vr)
    vr = {"ox": "OB", "px": "OB", "xs": "US", "lt": "OW", "up": "UL", "na": "UN"}.get(vr, vr)
    plain = _PLAIN.match(tag_text)
    if plain:
        return DictEntry(int(plain[1], 16), int(plain[2], 16), vr, name, vm)
    creator = _CREATOR.match(tag_text)
    if creator and int(creator[1], 16) % 2:
        offset = int(creator[3], 16) & 0xFF  # "xx10" or "1010": the offset in the block
        return DictEntry(int(creator[1], 16), offset, vr, name, vm, creator[2])
    raise ConfigError(str(path), where, '(gggg,eeee) or (gggg,"creator",ee)', tag_text)


def parse_dictionary(path: Path) -> list[DictEntry]:
    """The entries of one dictionary file (OSError if it cannot be read)."""
    entries: list[DictEntry] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entry = _parse_line(path, number, line)
        if entry is not None:
            entries.append(entry)
    return entries


def register(entries: list[DictEntry]) -> None:
    """Make ``entries`` known: public ones to pydicom, private ones to ``-k`` lookups."""
    public = {}
    for entry in entries:
        tag = (entry.group << 16) | entry.element
        if entry.creator is None and entry.group % 2 == 0:
            public[tag] = (entry.vr, entry.vm, entry.name, "", entry.name)
            continue
        _BY_NAME[entry.name] = entry
        if entry.creator is None:
            _VR_BY_TAG[tag] = entry.vr
    if public:
        add_dict_entries(public)


def load_dictionary_path(value: str | None) -> list[str]:
    """Load every file of a ``DCMDICTPATH`` value; return warnings for unreadable files.

    Raises :class:`ConfigError` (naming file and line) for a malformed line.
    """
    problems: list[str] = []
    for part in (value or "").split(os.pathsep):
        if not part:
            continue
        try:
            entries = parse_dictionary(Path(part))
        except OSError as exc:
            problems.append(f"DCMDICTPATH: cannot read dictionary {part}: {exc.strerror}")
            continue
        register(entries)
    return problems
