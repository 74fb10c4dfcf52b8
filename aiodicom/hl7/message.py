"""One HL7 v2 message: bytes to an ``hl7.Message``, its character set, its order groups.

Parsing is the ``hl7`` package's (:func:`hl7.parse`); this module only chooses the text
encoding from MSH-18 (HL7 v2.5 2.15.9.18, Table 0211) and names the DICOM Specific
Character Set (0008,0005) that the same repertoire has (PS3.3 C.12.1.1.2), reads fields
by HL7 position without raising on absent ones, and splits an order message into its
order groups (one ORC with the segments that follow it up to the next ORC: HL7 v2.5
4.4.1 ORM^O01, 4.4.6 OMI^O23).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import hl7

from aiodicom.errors import Hl7Error

CHARSETS: dict[str, tuple[str, str]] = {
    "": ("ascii", ""),
    "ASCII": ("ascii", ""),
    "8859/1": ("latin-1", "ISO_IR 100"),
    "8859/2": ("iso8859-2", "ISO_IR 101"),
    "8859/5": ("iso8859-5", "ISO_IR 144"),
    "8859/7": ("iso8859-7", "ISO_IR 126"),
    "8859/9": ("iso8859-9", "ISO_IR 148"),
    "UNICODE UTF-8": ("utf-8", "ISO_IR 192"),
}
"""MSH-18 (HL7 Table 0211) -> (Python codec, DICOM Specific Character Set, PS3.3 Table
C.12-2; "" is the default repertoire, ISO-IR 6, written as no (0008,0005) at all)."""

LIBRARY_WARNING = "The 'warn' method is deprecated"
"""``hl7`` 0.4.5 reports a malformed escape sequence with ``logging.Logger.warn``, which
Python deprecates; the value is still read (the escape kept as text), so the warning
about the library's own call is not passed on."""
MAX_GROUPS = 100
"""Order groups (ORC segments) accepted in one message."""


@dataclass(slots=True)
class Decoded:
    """A parsed message with the codec of its bytes and the DICOM character set."""

    message: hl7.Message
    codec: str
    dicom_charset: str


@dataclass(slots=True)
class OrderGroup:
    """The segments of one order: the message's PID/PV1 and one ORC with what follows it
    (OBR, TQ1, ZDS, IPC...). ``segments`` holds the first of each id; ``ipcs`` every IPC
    (one per Scheduled Procedure Step, IHE RAD TF-2 4.4.4.1.2.2)."""

    index: int
    segments: dict[str, hl7.Segment] = field(default_factory=dict)
    ipcs: list[hl7.Segment] = field(default_factory=list)


def _check_delimiters(text: str) -> None:
    """MSH-1 and MSH-2 (HL7 v2.5 2.5.4): four or five distinct encoding characters after
    the field separator, none of them a letter, digit, space or control character (an
    answer in the sender's own delimiters must still be readable)."""
    separator = text[3]
    end = text.find(separator, 4)
    characters = text[4:end] if end > 0 else ""
    chosen = separator + characters
    if (
        len(characters) not in (4, 5)
        or len(set(chosen)) != len(chosen)
        or any(c.isalnum() or not c.isprintable() or c.isspace() for c in chosen)
    ):
        raise Hl7Error("MSH", 2, 102, f"bad delimiters {chosen!r} (MSH-1, MSH-2)", "AR")


def _parse(text: str) -> hl7.Message:
    """:func:`hl7.parse`, its failures as an AR naming the message header."""
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Error("MSH", 0, 100, "the message does not begin with an MSH segment", "AR")
    _check_delimiters(text)
    try:
        message = hl7.parse(text)
        message.segment("MSH")
    except (ValueError, IndexError, KeyError, AssertionError, TypeError) as exc:
        raise Hl7Error("MSH", 0, 100, f"unparseable message: {exc}", "AR") from None
    return message


def read_header(block: bytes) -> hl7.Message | None:
    """The message read through Latin-1 (every byte is a character), None if unparseable:
    enough to answer it (MSH-3 to MSH-12 are ASCII) when :func:`decode` refused it."""
    try:
        return _parse(block.decode("latin-1").replace("\n", "\r").strip("\r\x00 "))
    except Hl7Error:
        return None


def decode(block: bytes) -> Decoded:
    """MLLP block -> message, decoded with the character set MSH-18 names.

    The header is read first through Latin-1 (every byte is a character, and MSH-1 to
    MSH-18 are ASCII), then the whole block is decoded with the named codec and parsed
    again. Unknown MSH-18 values and bytes the codec refuses are rejected (AR).
    """
    header = _parse(block.decode("latin-1").replace("\n", "\r").strip("\r\x00 "))
    name = text_at(header.segment("MSH"), 18).strip().upper()
    if name not in CHARSETS:
        known = ", ".join(repr(key) for key in CHARSETS if key)
        raise Hl7Error("MSH", 18, 103, f"unsupported character set {name!r} ({known})", "AR")
    codec, dicom_charset = CHARSETS[name]
    try:
        text = block.decode(codec)
    except UnicodeDecodeError as exc:
        raise Hl7Error(
            "MSH", 18, 102, f"byte {exc.start} is not valid {name or 'ASCII'}", "AR"
        ) from None
    return Decoded(_parse(text.replace("\n", "\r").strip("\r\x00 ")), codec, dicom_charset)


def text_at(segment: hl7.Segment, field_num: int, component: int = 1, sub: int = 1) -> str:
    """The unescaped text at SEG-field.component.sub (first repetition); "" when absent.

    Fields are numbered as in the HL7 standard (MSH-9 is the message type: the ``hl7``
    package counts MSH-1, the field separator, as field 1 too).
    """
    try:
        with warnings.catch_warnings():  # see LIBRARY_WARNING
            warnings.filterwarnings("ignore", LIBRARY_WARNING, DeprecationWarning)
            value = segment.extract_field(1, field_num, 1, component, sub)
    except (IndexError, KeyError, TypeError, AttributeError):
        return ""
    return str(value).strip()


def message_type(message: hl7.Message) -> tuple[str, str, str]:
    """(MSH-9.1 message code, MSH-9.2 trigger event, MSH-12 version id)."""
    msh = message.segment("MSH")
    return text_at(msh, 9, 1).upper(), text_at(msh, 9, 2).upper(), text_at(msh, 12)


def segment_ids(message: hl7.Message) -> list[str]:
    return [str(segment[0][0]).strip().upper() if segment else "" for segment in message]


def order_groups(message: hl7.Message) -> tuple[dict[str, hl7.Segment], list[OrderGroup]]:
    """(patient segments: PID, PV1 and their first followers, one order group per ORC)."""
    patient: dict[str, hl7.Segment] = {}
    groups: list[OrderGroup] = []
    for name, segment in zip(segment_ids(message), message, strict=True):
        if name == "ORC":
            if len(groups) >= MAX_GROUPS:
                raise Hl7Error("ORC", 0, 100, f"more than {MAX_GROUPS} orders in one message")
            groups.append(OrderGroup(len(groups) + 1, {"ORC": segment}))
        elif groups and name == "IPC":
            groups[-1].ipcs.append(segment)
        elif groups:
            groups[-1].segments.setdefault(name, segment)
        else:
            patient.setdefault(name, segment)
    return patient, groups
