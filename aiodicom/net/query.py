"""Pre-encoded C-FIND queries and a pre-encoded C-FIND-RQ command set.

PS3.7 9.1.2.1: a C-FIND-RQ carries a command set and an identifier encoded in the
transfer syntax of the presentation context (PS3.5 10). A caller sending the same query
many times can encode the identifier once (:func:`encode_query`) and skip pydicom on
every request; the identifier is re-encoded only when an association negotiated another
transfer syntax, and that result is cached too.

:class:`FindRQTemplate` holds one encoded C-FIND-RQ command set (PS3.7 9.3.2.1) per
(SOP class, priority) and patches only the Message ID (0000,0110) for each request.
"""

from __future__ import annotations

import functools
import struct

from pydicom import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.proto.dimse import decode_command, encode_command
from aiodicom.proto.messages import CFindRQ
from aiodicom.proto.negotiation import EXPLICIT_VR_LE

# Implicit VR Little Endian command set element header of Message ID (0000,0110), US, 2 bytes
_MESSAGE_ID_HEADER = b"\x00\x00\x10\x01\x02\x00\x00\x00"


class EncodedQuery:
    """A C-FIND identifier already encoded in ``transfer_syntax`` (reusable, immutable).

    ``for_syntax(ts)`` returns the bytes for a context's transfer syntax: the original
    bytes when it matches, else a re-encoding (from ``dataset`` when given, otherwise the
    bytes are decoded once) cached per transfer syntax.
    """

    __slots__ = ("_by_syntax", "_dataset", "data", "transfer_syntax")

    def __init__(self, data: bytes, transfer_syntax: str, dataset: Dataset | None = None) -> None:
        self.data = bytes(data)
        self.transfer_syntax = transfer_syntax
        self._dataset = dataset
        self._by_syntax: dict[str, bytes] = {transfer_syntax: self.data}

    @property
    def dataset(self) -> Dataset:
        """The identifier as a pydicom Dataset (decoded on first use)."""
        if self._dataset is None:
            self._dataset = decode_identifier(self.data, self.transfer_syntax)
        return self._dataset

    def for_syntax(self, transfer_syntax: str) -> bytes:
        """The identifier encoded in ``transfer_syntax`` (DataError if unsupported)."""
        encoded = self._by_syntax.get(transfer_syntax)
        if encoded is None:
            encoded = encode_identifier(self.dataset, transfer_syntax)
            self._by_syntax[transfer_syntax] = encoded
        return encoded

    def __repr__(self) -> str:
        return f"EncodedQuery({len(self.data)} bytes, transfer_syntax={self.transfer_syntax!r})"


def encode_query(query: Dataset, transfer_syntax: str = EXPLICIT_VR_LE) -> EncodedQuery:
    """Encode ``query`` once for repeated C-FINDs (default: Explicit VR Little Endian)."""
    return EncodedQuery(encode_identifier(query, transfer_syntax), transfer_syntax, query)


class FindRQTemplate:
    """A C-FIND-RQ command set (PS3.7 9.3.2.1) with a data set, encoded once.

    Only Message ID (0000,0110) changes between requests; its 2-byte value is patched into
    a copy of the template. The command set is always Implicit VR Little Endian (PS3.7 6.3.1).
    """

    __slots__ = ("_head", "_tail")

    def __init__(self, sop_class_uid: str, priority: int = 0) -> None:
        encoded = encode_command(CFindRQ(1, sop_class_uid, priority), has_data_set=True)
        offset = encoded.find(_MESSAGE_ID_HEADER)
        if offset < 0:  # pragma: no cover - encode_command always writes Message ID
            raise ValueError("Message ID (0000,0110) not found in the encoded C-FIND-RQ")
        value_at = offset + len(_MESSAGE_ID_HEADER)
        self._head = encoded[:value_at]
        self._tail = encoded[value_at + 2 :]

    def encode(self, message_id: int) -> bytes:
        """The command set for ``message_id`` (1..65535)."""
        return self._head + struct.pack("<H", message_id) + self._tail

    def check(self, message_id: int) -> CFindRQ:
        """Decode the command for ``message_id`` (used by tests to prove the template)."""
        command = decode_command(self.encode(message_id))
        if not isinstance(command, CFindRQ):  # pragma: no cover - defensive
            raise TypeError(f"template decoded as {type(command).__name__}")
        return command


@functools.lru_cache(maxsize=64)
def find_rq_template(sop_class_uid: str, priority: int = 0) -> FindRQTemplate:
    """The (immutable) :class:`FindRQTemplate` of (SOP class, priority), shared by every
    association instead of encoding a command set per association."""
    return FindRQTemplate(sop_class_uid, priority)
