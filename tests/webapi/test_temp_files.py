"""Temporary files left by a killed atomic write are removed at startup (#15.5).

Only names our writer makes (``.<item file>.<8 hex>.tmp`` in an AE folder) and only when
older than :data:`STALE_AFTER` seconds: a write in progress in another process is kept.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from structlog.testing import capture_logs

from aiodicom.store.atomic import atomic_write, temp_path
from aiodicom.store.worklist_items import STALE_AFTER, SUFFIXES, ItemFiles
from tests.webapi.helpers import api_client, make_data

STALE = (".killed.yaml.0123abcd.tmp", ".old-item.wl.89abcdef.tmp")
KEPT = (
    ".fresh.yaml.0f0f0f0f.tmp",  # a write in progress (recent)
    "notes.tmp",  # not our pattern
    ".item.yaml.tmp",  # no random part
    ".item.txt.0123abcd.tmp",  # not an item file name
    ".item.yaml.0123ABCD.tmp",  # our writer uses lower-case hex
    "item.yaml",  # a real item
)


def _leftovers(folder: Path) -> None:
    old = time.time() - STALE_AFTER - 5
    for name in (*STALE, *KEPT):
        path = folder / name
        path.write_bytes(b"PatientName: half")
        if name != ".fresh.yaml.0f0f0f0f.tmp":
            os.utime(path, (old, old))


def test_writer_names_match_the_sweep_pattern(tmp_path: Path) -> None:
    """The sweep recognises exactly the names :func:`atomic_write` uses (``temp_path``)."""
    folder = tmp_path / "WLMSCP"
    folder.mkdir()
    old = time.time() - STALE_AFTER - 5
    made = sorted(temp_path(folder / f"wl-1{suffix}") for suffix in SUFFIXES)
    for path in made:
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    assert sorted(ItemFiles(tmp_path, "WLMSCP").sweep_stale_temps()) == made
    atomic_write(folder / "wl-1.yaml", b"x")  # a finished write leaves no temporary file
    assert sorted(p.name for p in folder.iterdir()) == ["wl-1.yaml"]


async def test_stale_temp_files_removed_at_startup_with_one_log_line(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    folder = tmp_path / "WLMSCP"
    other = tmp_path / "CT01"
    other.mkdir()
    _leftovers(folder)
    (other / STALE[0]).write_bytes(b"x")
    os.utime(other / STALE[0], (0, 0))
    with capture_logs() as logs:
        async with api_client(tmp_path) as (client, _store):
            assert (await client.get("/api/health")).status == 200
    for name in STALE:
        assert not (folder / name).exists(), name
    assert not (other / STALE[0]).exists()
    for name in KEPT:
        assert (folder / name).exists(), name
    swept = [entry for entry in logs if "temporary" in entry["event"]]
    assert len(swept) == 1 and swept[0]["count"] == 3, logs
    assert sorted(swept[0]["files"]) == sorted(
        [f"WLMSCP/{STALE[0]}", f"WLMSCP/{STALE[1]}", f"CT01/{STALE[0]}"]
    )
