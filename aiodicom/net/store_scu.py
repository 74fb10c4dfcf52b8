"""C-STORE on the SCU side (PS3.7 9.1.1, PS3.4 B.2): :func:`c_store` and :class:`StoreCall`.

An instance is sent from a pydicom Dataset (encoded in the transfer syntax the peer
accepted for its SOP class) or from a PS3.10 file (its data set sent as it is, which needs
a presentation context accepted in the file's transfer syntax: no transcoding). The
C-STORE-RSP's status is returned; a failure status raises
:class:`~aiodicom.errors.DimseStatusError` with the peer's Error Comment.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from pydicom import Dataset

from aiodicom.dicom.identifier import dataset_of, encode_identifier
from aiodicom.dicom.reader import read_file_meta
from aiodicom.errors import DataError, DimseStatusError, NegotiationError
from aiodicom.net.client_ops import SingleResponseCall
from aiodicom.proto.messages import CStoreRQ, CStoreRSP
from aiodicom.proto.status import StatusCategory, category_of

if TYPE_CHECKING:
    from aiodicom.net.client import ClientAssociation

Instance = Dataset | str | os.PathLike[str]
"""What :func:`c_store` sends: a Dataset, or the path of a PS3.10 file."""

_MEDIA_SOP_CLASS = "MediaStorageSOPClassUID"
_MEDIA_SOP_INSTANCE = "MediaStorageSOPInstanceUID"


class StoreCall(SingleResponseCall[CStoreRSP]):
    """One C-STORE-RQ: the C-STORE-RSP ends it (PS3.7 9.3.1.2)."""

    response = CStoreRSP
    service = "c-store"

    def result(self, command: CStoreRSP, data_set: bytes | None) -> CStoreRSP:
        return command


def _file_instance(path: str) -> tuple[str, str, str, bytes]:
    """(SOP class, SOP instance, transfer syntax, data set bytes) of a PS3.10 file."""
    with open(path, "rb") as handle:
        data = handle.read()
    syntax, offset = read_file_meta(data, path)  # DataError when not PS3.10
    meta = dataset_of(data[132:offset])  # group 0002: Explicit VR Little Endian (PS3.10 7.1)
    sop_class = str(meta.get(_MEDIA_SOP_CLASS, "").strip(" \x00"))
    instance = str(meta.get(_MEDIA_SOP_INSTANCE, "").strip(" \x00"))
    if not sop_class or not instance:
        raise DataError(path, "file meta information names no SOP Class / Instance UID")
    return sop_class, instance, syntax, data[offset:]


async def c_store(assoc: ClientAssociation, instance: Instance, *, priority: int = 0) -> int:
    """C-STORE ``instance`` (PS3.7 9.1.1) on ``assoc``; the response status (Success or a
    warning). Raises DimseStatusError on a failure status, NegotiationError when no
    context for the SOP class (and, for a file, its transfer syntax) was accepted."""
    if isinstance(instance, Dataset):
        sop_class, sop_instance = str(instance.SOPClassUID), str(instance.SOPInstanceUID)
        context = assoc._context_for(sop_class, "Storage SOP Class")
        data = encode_identifier(instance, context.transfer_syntax)
    else:
        path = os.fspath(instance)
        sop_class, sop_instance, syntax, data = await asyncio.to_thread(_file_instance, path)
        context = assoc._context_for(sop_class, "Storage SOP Class")
        if context.transfer_syntax != syntax:
            raise NegotiationError(
                f"{path} is in transfer syntax {syntax} but the peer accepted "
                f"{context.transfer_syntax} for {sop_class}: propose the file's syntax"
            )
    protocol = assoc._protocol

    def make() -> StoreCall:
        call = StoreCall(protocol, assoc._next_message_id())
        protocol.start_operation(call)
        rq = CStoreRQ(call.message_id, sop_class, sop_instance, priority)
        protocol.send_command(context.context_id, rq, data)
        return call

    call = await assoc.perform(make)
    rsp = await call.finished
    if category_of(rsp.status) is StatusCategory.FAILURE:
        raise DimseStatusError(rsp.status, comment=rsp.error_comment)
    return rsp.status
