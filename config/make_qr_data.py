"""Regenerate the bundled Q/R sample folder config/qr-data/ (small files, no pixel data).

Usage: python config/make_qr_data.py [FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiodicom.testing.qr_sample import SampleShape, write_sample

SHAPE = SampleShape(patients=4, studies_per_patient=2, series_per_study=2, instances_per_series=2)


def main() -> None:
    """Write the sample shape into the folder given on the command line (or the default)."""
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "qr-data"
    count = write_sample(folder, SHAPE)
    print(f"wrote {count} files into {folder}")


if __name__ == "__main__":
    main()
