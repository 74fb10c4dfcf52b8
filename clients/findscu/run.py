"""Running the queries of aiodicom-findscu: associations, C-FIND, cancel, output, exit code.

PS3.4 C.4.1 / K.4.1: one C-FIND-RQ per query file (or the ``-k`` query), Pending
responses with identifiers, one final response. PS3.7 9.3.2.3: ``--cancel n`` sends
C-CANCEL-RQ after n responses; the SCP then answers Cancel (0xFE00).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from aiodicom.errors import (
    AssociationAborted,
    AssociationRejected,
    ConfigError,
    ConnectFailed,
    DataError,
    DicomTimeoutError,
    DimseStatusError,
    NegotiationError,
    ProtocolError,
)
from aiodicom.net import ClientAssociation, Connector, FindResult, FindResultStream, connect
from aiodicom.proto import (
    CANCEL,
    DEFLATED_EXPLICIT_VR_LE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    QueryModel,
    StatusCategory,
    category_of,
)

from .cli import ExitCode
from .console import ConsoleLog
from .keys import OverrideKey, build_query, load_query_file
from .output import JsonWriter, ResponseExtractor, format_request, format_response
from .status import (
    failure_report,
    ignored_cancel_report,
    status_text,
    warning_report,
)
from .trace import make_trace

TRANSFER_SYNTAXES: dict[str, tuple[str, ...]] = {
    # DCMTK -x= / -xe: explicit VR with local byte order first (little endian on every
    # platform we run on), then the other explicit one, then implicit (PS3.5 A.1-A.3).
    "uncompr": (EXPLICIT_VR_LE, EXPLICIT_VR_BE, IMPLICIT_VR_LE),
    "little": (EXPLICIT_VR_LE, EXPLICIT_VR_BE, IMPLICIT_VR_LE),
    "big": (EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE),
    "deflated": (DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE, IMPLICIT_VR_LE),
    "implicit": (IMPLICIT_VR_LE,),
}

UNLIMITED = 1e6
"""DCMTK's "unlimited" connect timeout (-to not given), in seconds."""


@dataclass(slots=True)
class Query:
    """One identifier to send, with the name shown in messages."""

    name: str
    identifier: Dataset


@dataclass(slots=True)
class Outputs:
    """Where responses go: the dump log, JSON on stdout, ``-X`` files."""

    log: ConsoleLog
    show: bool
    json: JsonWriter | None
    extractor: ResponseExtractor | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def build_queries(ns: argparse.Namespace, keys: Sequence[OverrideKey]) -> list[Query]:
    """Each query file with the ``-k`` overrides on top, or the ``-k`` query alone."""
    if not ns.files:
        return [Query("<-k keys>", build_query(None, keys))]
    return [Query(path, build_query(load_query_file(path), keys)) for path in ns.files]


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an exception from a run to the documented exit status."""
    mapping: tuple[tuple[type[BaseException], ExitCode], ...] = (
        (ConnectFailed, ExitCode.CONNECTION),
        (AssociationRejected, ExitCode.REJECTED),
        (AssociationAborted, ExitCode.ABORTED),
        (ProtocolError, ExitCode.ABORTED),
        (DicomTimeoutError, ExitCode.TIMEOUT),
        (TimeoutError, ExitCode.TIMEOUT),
        (NegotiationError, ExitCode.CONNECTION),
        (ssl.SSLError, ExitCode.CONNECTION),
        (OSError, ExitCode.CONNECTION),
        (DimseStatusError, ExitCode.FIND_FAILED),
        (DataError, ExitCode.DATA),
        (ConfigError, ExitCode.USAGE),
    )
    for exc_type, code in mapping:
        if isinstance(exc, exc_type):
            return code
    return ExitCode.INTERNAL


def final_exit_code(status: int, cancel_requested: bool) -> ExitCode:
    """PS3.7 Annex C category of the final status -> exit status."""
    category = category_of(status)
    if category in (StatusCategory.SUCCESS, StatusCategory.WARNING):
        return ExitCode.SUCCESS
    if status == CANCEL:
        return ExitCode.SUCCESS if cancel_requested else ExitCode.UNEXPECTED_CANCEL
    return ExitCode.FIND_FAILED


class FindRunner:
    """Sends queries over one association and emits every response to :class:`Outputs`."""

    def __init__(self, ns: argparse.Namespace, outputs: Outputs, ssl_ctx: ssl.SSLContext | None):
        self.ns = ns
        self.outputs = outputs
        self.ssl_ctx = ssl_ctx
        self.model = QueryModel.parse(ns.model)

    def _connect(self) -> Connector:
        ns = self.ns
        return connect(
            ns.peer,
            ns.port,
            calling_ae=ns.aetitle,
            called_ae=ns.call,
            models=(self.model,),
            transfer_syntaxes=TRANSFER_SYNTAXES[ns.ts_mode],
            max_pdu_length=ns.max_pdu,
            connect_timeout=float(ns.timeout) if ns.timeout else UNLIMITED,
            acse_timeout=float(ns.acse_timeout),
            dimse_timeout=float(ns.dimse_timeout) if ns.dimse_timeout else None,
            ssl=self.ssl_ctx,
            trace=make_trace(self.outputs.log),
        )

    async def run(self, queries: Sequence[Query]) -> ExitCode:
        """One association: every query ``--repeat`` times; the first failure wins."""
        log = self.outputs.log
        log.info("Requesting Association")
        worst = ExitCode.SUCCESS
        try:
            async with self._connect() as assoc:
                log.info("Association Accepted")
                for _ in range(self.ns.repeat):
                    for query in queries:
                        code = await self._one_find(assoc, query)
                        worst = worst or code
                if self.ns.abort:
                    log.info("Aborting Association")
                    await assoc.abort()
                else:
                    log.info("Releasing Association")
        except Exception as exc:  # every failure becomes a documented exit status
            code = exit_code_for(exc)
            log.error(f"Find SCU Failed: {exc}")
            return worst or code
        return worst

    async def _one_find(self, assoc: ClientAssociation, query: Query) -> ExitCode:
        log = self.outputs.log
        if log.enabled("info"):
            log.info(f"Sending Find Request ({query.name})")
            log.info(format_request(query.identifier, TRANSFER_SYNTAXES[self.ns.ts_mode][0]))
        cancel_after: int | None = self.ns.cancel
        count = 0
        final_status: int | None = None
        stream = assoc.find_responses(query.identifier, self.model)
        async for result in stream:
            if result.is_final:
                final_status = result.status
                break
            count += 1
            await self._emit(count, result)
            if cancel_after is not None and count >= cancel_after:
                log.info(f"Sending Cancel Request after {count} responses")
                final_status = await _cancel(stream)
                if stream.dropped or final_status != CANCEL:
                    log.warn(ignored_cancel_report(count, stream.dropped, final_status))
                break
        if final_status is None:
            final_status = CANCEL if cancel_after is not None else 0xC000
        self._report_final(query, final_status, stream.error_comment)
        return final_exit_code(final_status, cancel_after is not None)

    def _report_final(self, query: Query, status: int, comment: str | None) -> None:
        """Verbose: the final status. A failure: one ``E:`` line even without ``-v``."""
        log = self.outputs.log
        category = category_of(status)
        log.info(f"Received Final Find Response ({status_text(status)})")
        if category is StatusCategory.FAILURE:
            log.error(failure_report(query.name, status, comment))
        elif category is StatusCategory.WARNING:
            log.warn(warning_report(query.name, status, comment))

    async def _emit(self, number: int, result: FindResult) -> None:
        raw = result.raw
        if raw is None:
            return
        outputs = self.outputs
        async with outputs.lock:
            if outputs.extractor is not None:
                outputs.extractor.write(raw, result.transfer_syntax)
            if not (outputs.show or outputs.json is not None):
                return
            # pydicom warns when it decodes text it cannot map (e.g. ISO 2022 escapes
            # without (0008,0005)); shown at debug level, never as Python warnings
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self._show(number, result)
            for warning in caught:
                outputs.log.debug(f"response {number}: {warning.message}")

    def _show(self, number: int, result: FindResult) -> None:
        outputs = self.outputs
        identifier = result.identifier
        assert identifier is not None  # result.raw is not None
        if outputs.show:
            text = format_response(
                number, status_text(result.status), identifier, result.transfer_syntax
            )
            outputs.log.log("info", text, force=True)
        if outputs.json is not None:
            outputs.json.write(identifier)


async def _cancel(stream: FindResultStream) -> int:
    """PS3.7 9.3.2.3: send C-CANCEL-RQ, wait for the final response and return its status."""
    await stream.aclose()
    status = stream.status
    return CANCEL if status is None else status


def make_outputs(ns: argparse.Namespace) -> Outputs:
    """The output channels for the parsed options (DCMTK's +sr/-sr/-X/-q rules)."""
    log = ConsoleLog(ns.log_level)
    json_writer = JsonWriter(sys.stdout, array=ns.json == "array") if ns.json else None
    extractor = None
    if ns.extract:
        model = QueryModel.parse(ns.model)
        extractor = ResponseExtractor(ns.output_directory, model.sop_class_uid, ns.limit_output)
    show = ns.show
    if show is None:
        show = not (ns.extract or ns.json or ns.log_level in ("error", "fatal"))
    return Outputs(log, bool(show), json_writer, extractor)


async def run_all(ns: argparse.Namespace, queries: Sequence[Query]) -> ExitCode:
    """Spread the queries over ``--concurrency`` associations (one when it is 1)."""
    from .tls import build_ssl_context

    ssl_ctx = build_ssl_context(ns)
    outputs = make_outputs(ns)
    lanes = max(1, min(ns.concurrency, len(queries)))
    batches = [list(queries[lane::lanes]) for lane in range(lanes)]
    try:
        codes = await asyncio.gather(
            *(FindRunner(ns, outputs, ssl_ctx).run(batch) for batch in batches)
        )
    finally:
        if outputs.json is not None:
            outputs.json.close()
    for code in codes:
        if code:
            return code
    return ExitCode.SUCCESS
