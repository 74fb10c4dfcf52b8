"""Response output: DCMTK-style dumps, DICOM JSON (PS3.18 F.2) and ``-X`` response files.

The dump mimics what DCMTK findscu 3.6.7 logs for each C-FIND response: a separator,
``Find Response: n (Pending)``, then the identifier one element per line with value,
encoded length, value multiplicity and keyword. ``-X`` writes ``rsp0001.dcm``, ... as
PS3.10 files (File Meta Information, PS3.10 7.1): the identifier's bytes as received, in
the transfer syntax of the presentation context, as DCMTK does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from aiodicom.dicom import FileMeta, dataset_bytes, encode_file
from aiodicom.errors import DataError

TS_NAMES = {
    "1.2.840.10008.1.2": "Little Endian Implicit",
    "1.2.840.10008.1.2.1": "Little Endian Explicit",
    "1.2.840.10008.1.2.2": "Big Endian Explicit",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
}
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"})
_BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
_VALUE_WIDTH = 40
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1450.1"
IMPLEMENTATION_VERSION = "AIODICOM_010"


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04x},{tag & 0xFFFF:04x})"


def _keyword(tag: int) -> str:
    return keyword_for_tag(tag) or ("PrivateTag" if (tag >> 16) % 2 else "UnknownTag")


def _value_length(element: DataElement) -> int:
    """The encoded value length in Explicit VR Little Endian (even, PS3.5 7.1.1)."""
    if element.VR == "SQ":
        return sum(8 + _item_length(item) for item in element.value or [])
    if element.value is None or element.value == "":
        return 0
    alone = Dataset()
    alone.add(element)
    return len(dataset_bytes(alone, implicit=True)) - 8  # header: tag (4) + length (4)


def _item_length(item: Dataset) -> int:
    total = 0
    for element in item:
        long_header = element.VR in _BINARY_VRS | {"SQ", "UT", "UC", "UR"}
        total += (12 if long_header else 8) + _value_length(element)
    return total


def _format_value(element: DataElement) -> tuple[str, int]:
    """(value text, value multiplicity) as dcmdump shows them."""
    value = element.value
    if value is None or value in ("", b""):
        return "(no value available)", 0
    if element.VR in _BINARY_VRS:
        data = bytes(value)
        return "\\".join(f"{byte:02x}" for byte in data[:32]), 1
    values = list(value) if element.VM > 1 else [value]
    if element.VR in _NUMERIC_VRS:
        return "\\".join(str(v) for v in values), len(values)
    if element.VR == "AT":
        return "\\".join(_tag_text(int(v)) for v in values), len(values)
    return "[" + "\\".join(str(v) for v in values) + "]", len(values)


def _line(indent: int, tag: int, vr: str, value: str, *, length: int, vm: int, name: str) -> str:
    head = f"{'  ' * indent}{_tag_text(tag)} {vr} {value.ljust(_VALUE_WIDTH)}"
    return f"{head} # {length:3d}, {vm} {name}"


def dump_lines(ds: Dataset, indent: int = 0) -> Iterator[str]:
    """One line per element, items and delimiters included, like dcmdump."""
    for element in ds:
        if element.VR == "SQ":
            yield from _sequence_lines(element, indent)
            continue
        text, vm = _format_value(element)
        length = _value_length(element)
        yield _line(
            indent, element.tag, element.VR, text, length=length, vm=vm, name=_keyword(element.tag)
        )


def _sequence_lines(element: DataElement, indent: int) -> Iterator[str]:
    items = list(element.value or [])
    text = f"(Sequence with explicit length #={len(items)})"
    length = _value_length(element)
    yield _line(indent, element.tag, "SQ", text, length=length, vm=1, name=_keyword(element.tag))
    for item in items:
        item_text = f"(Item with explicit length #={len(item)})"
        yield _line(
            indent + 1, 0xFFFEE000, "na", item_text, length=_item_length(item), vm=1, name="Item"
        )
        yield from dump_lines(item, indent + 2)
        end = "(ItemDelimitationItem for re-encoding)"
        yield _line(indent + 1, 0xFFFEE00D, "na", end, length=0, vm=0, name="ItemDelimitationItem")
    end = "(SequenceDelimitationItem for re-encod.)"
    yield _line(indent, 0xFFFEE0DD, "na", end, length=0, vm=0, name="SequenceDelimitationItem")


def format_response(number: int, status_text: str, ds: Dataset, transfer_syntax: str) -> str:
    """The block DCMTK findscu logs for one pending response (without level prefixes)."""
    lines = [
        "---------------------------",
        f"Find Response: {number} ({status_text})",
        "",
        "# Dicom-Data-Set",
        f"# Used TransferSyntax: {TS_NAMES.get(transfer_syntax, transfer_syntax)}",
        *dump_lines(ds),
        "",
    ]
    return "\n".join(lines)


def format_request(ds: Dataset, transfer_syntax: str) -> str:
    """The ``Request Identifiers:`` block DCMTK logs in verbose mode."""
    lines = [
        "Request Identifiers:",
        "",
        "# Dicom-Data-Set",
        f"# Used TransferSyntax: {TS_NAMES.get(transfer_syntax, transfer_syntax)}",
        *dump_lines(ds),
        "",
    ]
    return "\n".join(lines)


class JsonWriter:
    """DICOM JSON model output (PS3.18 F.2): JSON lines, or one array at :meth:`close`."""

    def __init__(self, stream: IO[str], *, array: bool) -> None:
        self._stream = stream
        self._array = array
        self._count = 0

    def write(self, ds: Dataset) -> None:
        """Write one identifier."""
        obj: dict[str, Any] = ds.to_json_dict()
        text = json.dumps(obj, ensure_ascii=False)
        if self._array:
            self._stream.write(("[\n" if self._count == 0 else ",\n") + text)
        else:
            self._stream.write(text + "\n")
        self._count += 1
        self._stream.flush()

    def close(self) -> None:
        """Finish the array (``[]`` when there were no responses)."""
        if self._array:
            self._stream.write("[]\n" if self._count == 0 else "\n]\n")
            self._stream.flush()


class ResponseExtractor:
    """``-X``: writes each response as ``rspNNNN.dcm`` in ``directory`` (numbered per run)."""

    def __init__(self, directory: str | Path, sop_class_uid: str, limit: int | None) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise DataError(str(directory), "output directory (-od) does not exist")
        self.sop_class_uid = sop_class_uid
        self.limit = limit
        self.written: list[Path] = []

    def write(self, raw: bytes, transfer_syntax: str) -> Path | None:
        """Write one response's identifier bytes, as received, as a PS3.10 file (PS3.10
        7.1: preamble, ``DICM``, File Meta Information, then the data set in
        ``transfer_syntax``); ``None`` once ``-Xlo`` is reached.

        The bytes are not decoded and re-encoded, so text in a character set the
        response does not declare (ISO 2022 escapes without (0008,0005)) stays intact.
        """
        if self.limit is not None and len(self.written) >= self.limit:
            return None
        path = self.directory / f"rsp{len(self.written) + 1:04d}.dcm"
        meta = FileMeta(
            self.sop_class_uid, generate_uid(), IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION
        )
        try:
            path.write_bytes(encode_file(raw, transfer_syntax, meta))
        except OSError as exc:
            raise DataError(str(path), f"cannot write response file: {exc}") from exc
        self.written.append(path)
        return path
