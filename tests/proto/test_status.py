"""Tests of the DIMSE status classes (PS3.7 Annex C) and C-FIND statuses (PS3.4 C.4.1.1.4,
K.4.1.1.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodicom.proto import status
from aiodicom.proto.status import StatusCategory, category_of, describe, is_final

S, P, W, C, F = (
    StatusCategory.SUCCESS,
    StatusCategory.PENDING,
    StatusCategory.WARNING,
    StatusCategory.CANCEL,
    StatusCategory.FAILURE,
)


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (0x0000, S),
        (0x0001, W),
        (0x0002, F),
        (0x00FF, F),
        (0x0100, F),
        (0x0106, F),
        (0x0107, W),
        (0x0108, F),
        (0x0110, F),
        (0x0115, F),
        (0x0116, W),
        (0x0117, F),
        (0x0122, F),
        (0x0124, F),
        (0x01FF, F),
        (0x0200, F),
        (0x0210, F),
        (0x0211, F),
        (0x0212, F),
        (0x02FF, F),
        (0xA000, F),
        (0xA700, F),
        (0xA7FF, F),
        (0xA900, F),
        (0xAFFF, F),
        (0xB000, W),
        (0xB007, W),
        (0xBFFF, W),
        (0xC000, F),
        (0xCFFF, F),
        (0xD000, F),
        (0xFDFF, F),
        (0xFE00, C),
        (0xFE01, F),
        (0xFEFF, F),
        (0xFF00, P),
        (0xFF01, P),
        (0xFF02, F),
        (0xFFFF, F),
    ],
)
def test_category_boundaries(code: int, category: StatusCategory) -> None:
    assert category_of(code) is category
    assert is_final(code) == (category is not P)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0xA900, "0xA900 Identifier does not match SOP Class"),
        (0xA9FF, "0xA9FF Identifier does not match SOP Class"),
        (0xA700, "0xA700 Refused: out of resources"),
        (0xA712, "0xA712 Refused: out of resources"),
        (0xC000, "0xC000 Unable to process"),
        (0xCABC, "0xCABC Unable to process"),
        (0x0122, "0x0122 Refused: SOP Class not supported"),
        (0x0000, "0x0000 Success"),
        (0xFE00, "0xFE00 Cancel: matching terminated due to cancel request"),
        (0xFF01, "0xFF01 Pending: matches are continuing, optional keys not supported"),
        (0x0210, "0x0210 Duplicate invocation"),
        (0x0211, "0x0211 Unrecognized operation"),
        (0x0212, "0x0212 Mistyped argument"),
        (0x0124, "0x0124 Refused: not authorized"),
        (0x0110, "0x0110 Processing failure"),
        (0xB123, "0xB123 Warning"),
        (0xD001, "0xD001 Unknown status (failure)"),
    ],
)
def test_describe(code: int, text: str) -> None:
    assert describe(code) == text


def test_named_constants_match_the_standard() -> None:
    assert (status.SUCCESS, status.PENDING, status.PENDING_WARNING) == (0, 0xFF00, 0xFF01)
    assert (status.CANCEL, status.OUT_OF_RESOURCES) == (0xFE00, 0xA700)
    assert (status.IDENTIFIER_DOES_NOT_MATCH, status.UNABLE_TO_PROCESS) == (0xA900, 0xC000)
    assert status.SOP_CLASS_NOT_SUPPORTED == 0x0122
    for code in status.STATUS_NAMES:
        assert category_of(code) in StatusCategory


@given(st.integers(0, 0xFFFF))
def test_every_code_has_a_category_and_description(code: int) -> None:
    category = category_of(code)
    text = describe(code)
    assert text.startswith(f"0x{code:04X} ")
    assert len(text) > 7
    if category is P:
        assert code in (0xFF00, 0xFF01)
    if category is S:
        assert code == 0
