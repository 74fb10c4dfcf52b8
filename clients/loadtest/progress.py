"""The live progress bar of ``aiodicom-loadtest``: it follows the bound that ends the run.

A run ends at ``--count`` queries or after ``--duration`` seconds (whichever is given;
both: whichever comes first). An open loop's end is known in advance: ``rate x
duration`` queries are planned, so a larger count never ends it. A closed loop's is not:
the bar follows the bound nearer to its end at each refresh.
"""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .runner import LoadRunner, RunSettings
from .stats import LoadStats


def progress_of(settings: RunSettings, queries: int, elapsed: float) -> tuple[float, float, str]:
    """(completed, total, unit) of the bound that ends the run: queries or seconds."""
    count, duration = settings.count, settings.duration
    by_queries = (queries, float(count), "queries") if count is not None else None
    by_time = (elapsed, duration, "s") if duration is not None else None
    if by_queries is None or by_time is None:
        chosen = by_queries or by_time
        assert chosen is not None, "a run has at least one bound"
        return chosen
    assert count is not None and duration is not None
    if settings.mode == "open":
        return by_queries if count <= settings.rate * duration else by_time
    return by_queries if queries / count >= elapsed / duration else by_time


def _figures(completed: float, total: float, unit: str) -> str:
    if unit == "s":
        return f"{completed:.1f}/{total:g} s"
    return f"{completed:.0f}/{total:.0f} queries"


async def live_progress(runner: LoadRunner, stats: LoadStats, console: Console) -> None:
    """Refresh the bar four times a second until cancelled."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[figures]}"),
        TextColumn("{task.fields[rate]:.0f} q/s"),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("C-FIND", total=1.0, figures="", rate=0.0, errors=0)
        while True:
            completed, total, unit = progress_of(runner.settings, stats.queries, stats.elapsed)
            progress.update(
                task,
                completed=min(completed, total),
                total=total,
                figures=_figures(completed, total, unit),
                rate=stats.queries / stats.elapsed,
                errors=stats.errors,
            )
            await asyncio.sleep(0.25)
