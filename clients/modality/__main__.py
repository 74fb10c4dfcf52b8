"""``aiodicom-modality``: emulated modalities working through a worklist with MPPS.

Each modality queries its worklist (C-FIND, PS3.4 K.6.1), takes the next step no
emulated modality has taken, sends MPPS N-CREATE IN PROGRESS, waits the exam time and
sends N-SET COMPLETED or DISCONTINUED (PS3.4 F.7.2). Exit status: 0 when every
operation succeeded, 1 when one failed, 2 on usage errors. Ctrl-C (SIGINT) or SIGTERM
ends the run as ``--duration`` does: running exams send their N-SET, then the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from aiodicom.errors import ConfigError
from aiodicom.net import run as run_loop

from .cli import build_parser, configure
from .emulator import Emulator, EmulatorSettings
from .report import write_report
from .table import live_table

__all__ = ["main", "run"]


async def run(settings: EmulatorSettings, *, show_table: bool) -> Emulator:
    """Run the emulator; SIGINT/SIGTERM stop it as the duration bound does."""
    emulator = Emulator(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, emulator.stop)
    table = asyncio.create_task(live_table(emulator, Console(stderr=True))) if show_table else None
    try:
        await emulator.run()
    finally:
        if table is not None:
            table.cancel()
            await asyncio.gather(table, return_exceptions=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    return emulator


def _run_settings(settings: EmulatorSettings) -> dict[str, Any]:
    return {
        "worklist": str(settings.worklist),
        "mpps": str(settings.mpps),
        "settings": {
            "stations": list(settings.stations),
            "date": settings.date,
            "modality": settings.modality,
            "exam_time_s": settings.exam_time,
            "discontinue_rate": settings.discontinue_rate,
            "series": settings.series,
            "images": settings.images,
            "steps": settings.steps,
            "duration_s": settings.duration,
            "until_empty": settings.until_empty,
            "seed": settings.seed,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        settings = configure(ns)
    except ConfigError as exc:
        parser.error(str(exc))
    show = not ns.no_table and sys.stderr.isatty()
    emulator = run_loop(run(settings, show_table=show))
    record = emulator.record
    if ns.report:
        report = record.as_json(_run_settings(settings), emulator.elapsed)
        write_report(Path(ns.report), report)
    for line in record.text(emulator.elapsed):
        print(line)
    return 1 if record.failures else 0


if __name__ == "__main__":
    sys.exit(main())
