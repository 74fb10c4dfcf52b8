"""How aiodicom-findscu words DIMSE statuses (PS3.7 Annex C, PS3.4 C.4.1.1.4 / K.4.1.1.4).

Pending, Success and Cancel are the words DCMTK findscu logs; a pending 0xFF01 is
``Pending: WarningUnsupportedOptionalKeys`` as in DCMTK. Warning and failure statuses
show the code once with its meaning (``Failed: 0xA900 Identifier does not match SOP
Class``). A failed C-FIND is reported on one ``E:`` line with the peer's Error Comment
(0000,0902), whatever the log level below ``fatal``.
"""

from __future__ import annotations

from aiodicom.proto import (
    CANCEL,
    PENDING_WARNING,
    StatusCategory,
    category_of,
    describe,
)

_WORDS = {
    StatusCategory.PENDING: "Pending",
    StatusCategory.SUCCESS: "Success",
    StatusCategory.CANCEL: "Cancel",
    StatusCategory.WARNING: "Warning",
    StatusCategory.FAILURE: "Failed",
}
_EXACT = {PENDING_WARNING: "Pending: WarningUnsupportedOptionalKeys"}


def status_text(status: int) -> str:
    """``Pending``, ``Success``, ``Cancel``, ``Failed: 0xA900 <meaning>`` (code once)."""
    exact = _EXACT.get(status)
    if exact is not None:
        return exact
    category = category_of(status)
    word = _WORDS[category]
    if category in (StatusCategory.FAILURE, StatusCategory.WARNING):
        return f"{word}: {describe(status)}"
    return word


def _comment_text(comment: str | None) -> str:
    return f"; Error Comment: {comment}" if comment else "; no Error Comment"


def failure_report(query_name: str, status: int, comment: str | None) -> str:
    """The one line for a failed (or refused) C-FIND: code, meaning, Error Comment."""
    return f"Find Failed ({query_name}): {describe(status)}{_comment_text(comment)}"


def warning_report(query_name: str, status: int, comment: str | None) -> str:
    """The line for a final Warning status (0001, Bxxx, 0107, 0116)."""
    return f"Find Warning ({query_name}): {describe(status)}{_comment_text(comment)}"


def ignored_cancel_report(shown: int, dropped: int, final: int) -> str:
    """PS3.7 9.3.2.3: the peer kept sending after our C-CANCEL-RQ, or did not end with
    Cancel (0xFE00). Says how many responses were dropped and its final status."""
    ending = describe(final)
    if final != CANCEL:
        ending += f" instead of {describe(CANCEL)}"
    return (
        f"C-CANCEL-RQ sent after {shown} responses, but the peer sent {dropped} more "
        f"pending responses (dropped, not shown) and ended with {ending}"
    )
