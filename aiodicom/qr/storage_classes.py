"""The Storage SOP Classes (PS3.4 B.5) and transfer syntaxes the Q/R SCP accepts.

Both lists come from pydicom's UID registry (the tables of PS3.6 Annex A): every SOP
Class named "... Storage" that is not retired, except the two that are not storage
services (Media Storage Directory, PS3.10; Storage Commitment, PS3.4 J); every transfer
syntax that is not retired, plus Explicit VR Big Endian (retired, still sent by old
modalities and by ``storescu -xb``). Instances are stored as received, so compressed
syntaxes need no codec; the index reads their headers, which are Explicit VR Little
Endian (PS3.5 A.4).
"""

from __future__ import annotations

from pydicom._uid_dict import UID_dictionary

_NOT_STORAGE = frozenset(
    {
        "1.2.840.10008.1.3.10",  # Media Storage Directory Storage (DICOMDIR, PS3.10)
        "1.2.840.10008.1.20.1",  # Storage Commitment Push Model (PS3.4 J)
    }
)
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"

STORAGE_SOP_CLASSES: tuple[str, ...] = tuple(
    uid
    for uid, (name, kind, _info, retired, _keyword) in UID_dictionary.items()
    if kind == "SOP Class" and "Storage" in name and not retired and uid not in _NOT_STORAGE
)
"""Every current Storage SOP Class (PS3.4 B.5, PS3.6 Table A-1)."""

STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian first: the usual choice
    *(
        uid
        for uid, (_name, kind, _info, retired, _keyword) in UID_dictionary.items()
        if kind == "Transfer Syntax" and not retired and uid != "1.2.840.10008.1.2.1"
    ),
    EXPLICIT_VR_BIG_ENDIAN,
)
"""Every current transfer syntax (PS3.5 Annex A, PS3.6 Table A-1), compressed included."""
