"""``-k`` override keys and query files, as DCMTK findscu understands them.

A key is a path to one attribute, optionally followed by ``=value``:

* ``gggg,eeee=value`` and ``(gggg,eeee)=value`` (hex group and element),
* ``Keyword=value`` (a data dictionary keyword, e.g. ``PatientName=DOE*``),
* sequence paths, ``(0040,0100)[0].Modality=CT`` or
  ``ScheduledProcedureStepSequence[0].ScheduledStationAETitle=``.

A key without ``=`` or with an empty value is a *return key*: the attribute is sent with
zero length, asking the SCP to fill it in (PS3.4 C.2.2.1.2, universal matching /
return key). A path that ends in a sequence without an item index sends an empty
sequence; ``Seq[n]`` with nothing after it sends an empty item (PS3.4 C.2.2.2.6).
Missing sequence items up to the index are created. Overrides replace the attribute when
present and insert it otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence

from aiodicom.dicom import read_file
from aiodicom.errors import ConfigError, DataError

from .dictionary import entry_for_name, vr_for_tag

_TAG_RE = re.compile(r"^\(?([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)?$")
_STEP_RE = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<index>\d+)\])?$")

_INT_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "AT"})
_FLOAT_VRS = frozenset({"FL", "FD"})
_BYTES_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})


@dataclass(frozen=True, slots=True)
class KeyStep:
    """One path component: an attribute tag, and an item index if it is a sequence step.

    A private attribute named in a ``DCMDICTPATH`` dictionary with a private creator has
    ``creator`` set and ``tag`` = (group, offset in the block); its block is found or
    reserved in the data set when the key is applied (PS3.5 7.8.1).
    """

    tag: int
    index: int | None = None
    creator: str | None = None
    vr: str | None = None

    def tag_in(self, ds: Dataset) -> int:
        """The tag of this step in ``ds`` (reserving the private block if needed)."""
        if self.creator is None:
            return self.tag
        block = ds.private_block(self.tag >> 16, self.creator, create=True)
        return int(block.get_tag(self.tag & 0xFF))

    @property
    def value_vr(self) -> str:
        return self.vr or _vr_of(self.tag)


@dataclass(frozen=True, slots=True)
class OverrideKey:
    """A parsed ``-k`` argument: the path to the attribute and its value (``None`` = empty)."""

    text: str
    path: tuple[KeyStep, ...]
    value: str | None

    def apply(self, ds: Dataset) -> None:
        """Set the attribute in ``ds``, creating sequences and items on the way."""
        _apply(ds, self, self.path)


def _key_error(text: str, reason: str) -> ConfigError:
    return ConfigError(None, f"-k {text!r}", reason)


def _parse_step(name: str, index: int | None, text: str) -> KeyStep:
    """A step from ``gggg,eeee``, ``(gggg,eeee)``, a dictionary keyword or a name from
    a ``DCMDICTPATH`` dictionary."""
    match = _TAG_RE.match(name.strip())
    if match:
        return KeyStep((int(match.group(1), 16) << 16) | int(match.group(2), 16), index)
    private = entry_for_name(name.strip())
    if private is not None:
        tag = (private.group << 16) | private.element
        return KeyStep(tag, index, private.creator, private.vr)
    known = tag_for_keyword(name.strip())
    if known is None:
        raise _key_error(text, f"a tag (gggg,eeee) or a dictionary name, got {name!r}")
    return KeyStep(int(known), index)


def parse_key(text: str) -> OverrideKey:
    """Parse one ``-k`` argument. Raises :class:`ConfigError` naming the key on bad syntax."""
    path_text, sep, value = text.partition("=")
    if not path_text.strip():
        raise _key_error(text, "a tag, dictionary name or path before '='")
    steps: list[KeyStep] = []
    parts = path_text.split(".")
    for position, part in enumerate(parts):
        match = _STEP_RE.match(part.strip())
        if not match:
            raise _key_error(text, f"a path step like Name, (gggg,eeee) or Name[n], got {part!r}")
        index = match.group("index")
        step = _parse_step(match.group("name"), None if index is None else int(index), text)
        is_last = position == len(parts) - 1
        if index is None and not is_last:
            raise _key_error(text, f"an item index after sequence {part!r}, e.g. {part}[0]")
        if index is not None and step.value_vr != "SQ":
            raise _key_error(text, f"{part!r} to be a sequence (VR SQ) to take an item index")
        steps.append(step)
    final = steps[-1]
    if sep and value and (final.index is not None or final.value_vr == "SQ"):
        raise _key_error(text, "no value for a sequence or item (use an attribute inside it)")
    return OverrideKey(text, tuple(steps), value if sep and value else None)


def parse_keys(texts: Iterable[str]) -> list[OverrideKey]:
    """Parse every ``-k`` argument, in command-line order."""
    return [parse_key(text) for text in texts]


def _vr_of(tag: int) -> str:
    private = vr_for_tag(tag)
    if private is not None:
        return private
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return "UN"
    # ambiguous dictionary VRs such as "US or SS": DCMTK uses the first choice
    return vr.split(" or ", maxsplit=1)[0]


def _typed_value(key: OverrideKey, vr: str, value: str) -> object:
    """Convert the command-line string into what pydicom expects for ``vr``."""
    parts = value.split("\\")
    try:
        if vr in _INT_VRS:
            numbers: list[int] = [int(part, 0) for part in parts]
            return numbers[0] if len(numbers) == 1 else numbers
        if vr in _FLOAT_VRS:
            floats = [float(part) for part in parts]
            return floats[0] if len(floats) == 1 else floats
    except ValueError as exc:
        raise _key_error(key.text, f"a number for VR {vr}") from exc
    if vr in _BYTES_VRS:
        return value.encode("latin-1", "replace")
    return value


def _set_leaf(ds: Dataset, key: OverrideKey, step: KeyStep) -> None:
    vr = step.value_vr
    tag = step.tag_in(ds)
    if step.index is not None:
        _ensure_items(ds, tag, step.index)  # an empty item was asked for
        return
    if vr == "SQ":
        ds[tag] = DataElement(tag, "SQ", Sequence([]))
        return
    value: object = None if key.value is None else _typed_value(key, vr, key.value)
    ds[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)


def _ensure_items(ds: Dataset, tag: int, index: int) -> Sequence:
    element = ds.get(tag)
    if element is None or element.VR != "SQ" or element.value is None:
        ds[tag] = DataElement(tag, "SQ", Sequence([]))
        element = ds[tag]
    items: Sequence = element.value
    while len(items) <= index:
        items.append(Dataset())
    return items


def _apply(ds: Dataset, key: OverrideKey, path: tuple[KeyStep, ...]) -> None:
    step = path[0]
    if len(path) == 1:
        _set_leaf(ds, key, step)
        return
    assert step.index is not None  # guaranteed by parse_key
    items = _ensure_items(ds, step.tag_in(ds), step.index)
    _apply(items[step.index], key, path[1:])


def load_query_file(path: str | Path) -> Dataset:
    """Read a query file (a DICOM file or a bare data set, as dump2dcm writes them)."""
    try:
        ds = read_file(path)
    except (OSError, InvalidDicomError) as exc:
        raise DataError(str(path), f"cannot read query file: {exc}") from exc
    if len(ds) == 0:
        raise DataError(str(path), "query file holds no attributes")
    identifier = Dataset()
    for element in ds:
        identifier.add(element)
    return identifier


def build_query(base: Dataset | None, keys: Iterable[OverrideKey]) -> Dataset:
    """A new identifier: ``base`` (copied) with every override applied in order."""
    ds = Dataset()
    if base is not None:
        for element in base:
            ds.add(element)
        ds = _deep_copy(ds)
    for key in keys:
        key.apply(ds)
    return ds


def _deep_copy(ds: Dataset) -> Dataset:
    """A structural copy so overrides never touch a shared base query."""
    out = Dataset()
    for element in ds:
        if element.VR == "SQ":
            items = Sequence([_deep_copy(item) for item in element.value or []])
            out[element.tag] = DataElement(element.tag, "SQ", items)
        else:
            out[element.tag] = DataElement(
                element.tag, element.VR, element.value, validation_mode=config.IGNORE
            )
    return out
