"""N-CREATE and N-SET as SCU (PS3.7 10.1.5, 10.1.3): :class:`NCall` and the two methods of
:class:`~aiodicom.net.client.ClientAssociation` (:class:`NServices`).

Each request gets one final response (no pending ones, no C-CANCEL); a Success or
Warning status returns an :class:`~aiodicom.net.n_types.NResult`, a failure raises
:class:`~aiodicom.errors.DimseStatusError` carrying the status and the Error Comment
(PS3.7 Annex C).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydicom import Dataset

from aiodicom.dicom.identifier import decode_identifier, encode_identifier
from aiodicom.errors import DimseStatusError
from aiodicom.net.client_ops import SingleResponseCall
from aiodicom.net.n_types import NResult
from aiodicom.proto.messages import NCreateRQ, NCreateRSP, NSetRQ, NSetRSP
from aiodicom.proto.status import StatusCategory, category_of, describe

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiodicom.net.client_ops import ClientOperation
    from aiodicom.net.client_protocol import ClientProtocol
    from aiodicom.proto.events import AcceptedContext

_FAILED = (StatusCategory.FAILURE, StatusCategory.CANCEL, StatusCategory.PENDING)


class NCall(SingleResponseCall[NResult]):
    """One N-CREATE-RQ or N-SET-RQ awaiting its response."""

    def __init__(
        self,
        protocol: ClientProtocol,
        message_id: int,
        transfer_syntax: str,
        response: type[NCreateRSP] | type[NSetRSP],
    ) -> None:
        super().__init__(protocol, message_id)
        self.transfer_syntax = transfer_syntax
        self.response = response
        self.service = "n-create" if response is NCreateRSP else "n-set"

    def result(self, rsp: NCreateRSP | NSetRSP, data_set: bytes | None) -> NResult:
        """PS3.7 10.1.5.1.6 / 10.1.3.1.6: failures raise; the Attribute List is decoded."""
        if category_of(rsp.status) in _FAILED:
            what = "N-CREATE" if isinstance(rsp, NCreateRSP) else "N-SET"
            raise DimseStatusError(
                rsp.status,
                f"{what} failed: {describe(rsp.status)}",
                comment=rsp.error_comment,
                error_id=rsp.error_id,
            )
        attributes = None
        if data_set is not None:
            attributes = decode_identifier(data_set, self.transfer_syntax)
        return NResult(
            rsp.status,
            attributes,
            rsp.affected_sop_instance_uid,
            rsp.error_comment,
            rsp.error_id,
            rsp.attribute_identifiers,
        )


class NServices:
    """The DIMSE-N methods of :class:`~aiodicom.net.client.ClientAssociation`."""

    if TYPE_CHECKING:
        _protocol: ClientProtocol

        def _context_for(self, sop_class_uid: str, what: str) -> AcceptedContext: ...
        def _next_message_id(self) -> int: ...
        async def perform(self, make: Callable[[], ClientOperation]) -> ClientOperation: ...

    async def n_create(
        self, sop_class: str, instance_uid: str | None, dataset: Dataset | None
    ) -> NResult:
        """N-CREATE (PS3.7 10.1.5): create ``instance_uid`` of ``sop_class`` with the
        Attribute List ``dataset``. ``instance_uid`` None leaves the UID to the SCP (see
        :attr:`NResult.sop_instance_uid`). Failures raise DimseStatusError."""
        context = self._context_for(sop_class, "N-CREATE SOP class")
        data = None if dataset is None else encode_identifier(dataset, context.transfer_syntax)

        def make() -> NCall:
            message_id = self._next_message_id()
            call = NCall(self._protocol, message_id, context.transfer_syntax, NCreateRSP)
            self._protocol.start_operation(call)
            command = NCreateRQ(call.message_id, sop_class, instance_uid, data is not None)
            self._protocol.send_command(context.context_id, command, data)
            return call

        return await self._finish(make)

    async def n_set(self, sop_class: str, instance_uid: str, modifications: Dataset) -> NResult:
        """N-SET (PS3.7 10.1.3): apply the Modification List ``modifications`` to
        ``instance_uid`` of ``sop_class``. Failures raise DimseStatusError."""
        context = self._context_for(sop_class, "N-SET SOP class")
        data = encode_identifier(modifications, context.transfer_syntax)

        def make() -> NCall:
            message_id = self._next_message_id()
            call = NCall(self._protocol, message_id, context.transfer_syntax, NSetRSP)
            self._protocol.start_operation(call)
            command = NSetRQ(call.message_id, sop_class, instance_uid)
            self._protocol.send_command(context.context_id, command, data)
            return call

        return await self._finish(make)

    async def _finish(self, make: Callable[[], NCall]) -> NResult:
        call = await self.perform(make)
        assert isinstance(call, NCall)
        return await call.finished
