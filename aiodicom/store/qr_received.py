"""The folder where the Q/R SCP keeps the instances it receives by C-STORE (PS3.4 B.2.2).

Each instance is first written, fragment by fragment as it arrives, to a temporary file in
the hidden ``.incoming`` folder (the folder scan skips hidden names, so a half-written
file is never indexed); once complete and fsynced it is renamed to
``<Study Instance UID>/<Series Instance UID>/<SOP Instance UID>.dcm``. The peer cannot
steer that path: each UID is checked against PS3.5 9.1 (digits and dots only, no empty
or zero-led component, at most 64 characters) before it becomes a path component, so no
``..``, separator or other name can appear.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from aiodicom.dicom.uid import valid_uid
from aiodicom.store.atomic import AtomicFile

INCOMING = ".incoming"
SUFFIX = ".dcm"


class ReceivedFolder:
    """``root`` holds received instances; ``root/.incoming`` their temporary files.
    ``durable``: fsync each instance and its folder before it counts as stored."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.incoming = root / INCOMING
        self.durable = durable  # fsync each file and its folder (AtomicFile)

    def prepare(self) -> int:
        """Create the folders; remove temporary files a killed server left (no
        association runs yet). Returns how many were removed."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        removed = 0
        for entry in os.scandir(self.incoming):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
        return removed

    def new_file(self) -> AtomicFile:
        """A fresh temporary file in ``.incoming`` (same file system as its target)."""
        name = f"{secrets.token_hex(8)}.part"
        return AtomicFile(self.incoming / name, durable=self.durable)

    def path_for(self, study: str, series: str, instance: str) -> Path:
        """Where an instance goes; ValueError naming the first UID that breaks PS3.5 9.1."""
        for name, uid in (
            ("Study Instance UID", study),
            ("Series Instance UID", series),
            ("SOP Instance UID", instance),
        ):
            if not valid_uid(uid):
                raise ValueError(f"{name} {uid[:70]!r} is not a valid UID (PS3.5 9.1)")
        return self.root / study / series / (instance + SUFFIX)
