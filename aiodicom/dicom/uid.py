"""UID syntax (PS3.5 9.1): what the storage layout, the config and the SCPs accept."""

from __future__ import annotations

import re

UID_PATTERN = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
"""PS3.5 9.1: components of digits, no leading zero except "0" itself, separated by "."."""
MAX_UID_LENGTH = 64
"""PS3.5 9.1 and 6.2 (VR UI): at most 64 characters."""


def valid_uid(uid: str) -> bool:
    """True when ``uid`` follows PS3.5 9.1 (and so is a safe file or folder name)."""
    return 0 < len(uid) <= MAX_UID_LENGTH and UID_PATTERN.fullmatch(uid) is not None
