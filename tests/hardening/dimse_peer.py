"""A hostile DIMSE peer: raw command sets (any UID, however wrong), data sets cut into
P-DATA-TF PDUs at chosen boundaries, and a session that reports what the SCP answered.

The library's encoder refuses what a hostile peer sends (UIDs longer than 64 characters,
not ASCII...), so command sets are built element by element here (PS3.7 E.1-1, implicit
VR little endian, ascending tags).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from aiodicom.proto.command_set import decode_command
from aiodicom.proto.negotiation import IMPLICIT_VR_LE, requestor_contexts
from aiodicom.proto.pdu import PDUDecoder, encode_pdata, encode_pdu
from aiodicom.proto.pdus import PDV, Abort, AssociateRQ, PDataTF, ReleaseRQ, UserInformation

C_STORE_RQ = 0x0001
N_SET_RQ = 0x0120
N_CREATE_RQ = 0x0140
NO_DATA_SET = 0x0101
_CLASS_TAG = {C_STORE_RQ: 0x0002, N_CREATE_RQ: 0x0002, N_SET_RQ: 0x0003}
_INSTANCE_TAG = {C_STORE_RQ: 0x1000, N_CREATE_RQ: 0x1000, N_SET_RQ: 0x1001}


def element(elem: int, value: bytes, group: int = 0) -> bytes:
    """PS3.5 7.1.3: one implicit VR little endian element, padded to even length."""
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HHL", group, elem, len(value)) + value


def command(
    field: int,
    message_id: int,
    sop_class: str,
    instance: str | None,
    *,
    has_data_set: bool = True,
) -> bytes:
    """A request command set with these values, whatever they are (PS3.7 9.3.1.1,
    10.3.3.1, 10.3.5.1): Affected/Requested SOP Class and Instance UID by ``field``."""
    us = struct.Struct("<H").pack
    body = element(_CLASS_TAG[field], sop_class.encode("latin-1"))
    body += element(0x0100, us(field)) + element(0x0110, us(message_id))
    if field == C_STORE_RQ:
        body += element(0x0700, us(0))  # Priority: medium
    body += element(0x0800, us(0 if has_data_set else NO_DATA_SET))
    if instance is not None:
        body += element(_INSTANCE_TAG[field], instance.encode("latin-1"))
    return element(0x0000, struct.pack("<L", len(body))) + body


def associate_rq(called_ae: str, sop_classes: list[str]) -> bytes:
    """A-ASSOCIATE-RQ proposing each class in implicit VR LE: context ids 1, 3, 5..."""
    contexts = requestor_contexts(sop_classes, [IMPLICIT_VR_LE])
    info = UserInformation(max_length=16384, implementation_class_uid="1.2.826.0.1.3680043.10.1")
    return encode_pdu(AssociateRQ(called_ae, "HOSTILE", contexts, info))


def message(
    context_id: int,
    command_set: bytes,
    data_set: bytes | None,
    *,
    split: int = 0,
    last: bool = True,
) -> bytes:
    """The message's PDVs, each in a P-DATA-TF of its own; the data set cut every
    ``split`` bytes (0: one PDV); ``last=False`` leaves the last-fragment flag unset."""
    pdus = [encode_pdata([PDV(context_id, True, True, command_set)])]
    if data_set is None:
        return pdus[0]
    size = split or max(len(data_set), 1)
    parts = [data_set[at : at + size] for at in range(0, len(data_set), size)] or [b""]
    for index, part in enumerate(parts):
        final = last and index == len(parts) - 1
        pdus.append(encode_pdata([PDV(context_id, False, final, part)]))
    return b"".join(pdus)


RELEASE = encode_pdu(ReleaseRQ())
ABORT = encode_pdu(Abort(0, 0))


@dataclass
class Answer:
    """What the SCP sent in one session: PDU kinds and DIMSE responses, in order."""

    replies: list[str]

    def statuses(self) -> list[int]:
        """The DIMSE responses' statuses."""
        return [int(reply.split(":")[1], 16) for reply in self.replies if ":" in reply]


def describe(raw: bytes) -> list[str]:
    replies: list[str] = []
    for pdu in PDUDecoder(0, 1 << 24).feed(raw):
        if not isinstance(pdu, PDataTF):
            replies.append(type(pdu).__name__)
            continue
        for pdv in pdu.pdvs:
            if pdv.is_command:
                rsp = decode_command(pdv.data)
                replies.append(f"{type(rsp).__name__}:{getattr(rsp, 'status', 0):04X}")
    return replies


async def session(port: int, opening: bytes, rest: bytes, *, quiet: float = 1.0) -> Answer:
    """Send ``opening`` (an A-ASSOCIATE-RQ) and await the reply, then ``rest``; collect
    the answers until the SCP is quiet for ``quiet`` s; then A-RELEASE-RQ (unless the
    SCP closed) and read to the end (at most 5 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(opening)
    received = [await reader.read(65536)]
    try:
        writer.write(rest)
        closed = False
        while True:
            try:
                async with asyncio.timeout(quiet):
                    block = await reader.read(65536)
            except TimeoutError:
                break
            if not block:
                closed = True
                break
            received.append(block)
        if not closed:
            writer.write(RELEASE)
            async with asyncio.timeout(5.0):
                while block := await reader.read(65536):
                    received.append(block)
                    if block[:1] == b"\x06":
                        break
    except OSError:
        pass
    finally:
        writer.close()
    return Answer(describe(b"".join(received)))
