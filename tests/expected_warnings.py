"""Warnings a test provokes on purpose, to be named where it does so.

pytest turns every other warning into an error (pyproject's ``filterwarnings``). Tests that
feed pydicom invalid or unencodable values on purpose (hypothesis strategies, refusal
tests) say so with ``pytestmark = PYDICOM_INVALID_INPUT`` or the decorator of one mark.
"""

from __future__ import annotations

import pytest

_PYDICOM_MESSAGES = (
    "Invalid value for VR",
    "A value of type .* cannot be assigned to a tag with VR",
    "Failed to encode value with encodings",
    "With tag .* got exception. Failed to encode value",
    "VR lookup failed for the raw element",
    "Unknown encoding",
    "Found unknown escape sequence",
    "Incorrect value for Specific Character Set",
)

PYDICOM_INVALID_INPUT = [
    pytest.mark.filterwarnings(f"ignore:{message}:UserWarning") for message in _PYDICOM_MESSAGES
]
"""pydicom's UserWarnings for values that break PS3.5 rules: the input these tests want."""
