"""Regenerate the bundled sample worklist in config/worklist-data/WLMSCP.

Run: .venv/bin/python config/make_sample_worklist.py
Writes 20 realistic ``.wl`` items (several modalities and stations, some with several
Scheduled Procedure Steps, ISO_IR 100 and ISO_IR 192 names, with and without file meta)
next to the hand-written ``.yaml`` items, which it leaves alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing the package

from aiodicom.worklist.sample import (  # noqa: E402
    BUNDLED_SAMPLE_COUNT,
    BUNDLED_SAMPLE_OPTIONS,
    BUNDLED_SAMPLE_SEED,
    write_folder,
)


def main() -> None:
    data = HERE / "worklist-data"
    for old in (data / "WLMSCP").glob("item_*.wl"):
        old.unlink()
    folder = write_folder(
        data, "WLMSCP", BUNDLED_SAMPLE_COUNT, BUNDLED_SAMPLE_SEED, BUNDLED_SAMPLE_OPTIONS
    )
    print(f"wrote {BUNDLED_SAMPLE_COUNT} items to {folder}")


if __name__ == "__main__":
    main()
