"""The live table of ``aiodicom-modality``: one row per modality, refreshed 4 times a second."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .emulator import Emulator


def render(emulator: Emulator) -> Table:
    """The modalities and their state, and the run's totals as the caption."""
    table = Table(title="aiodicom-modality", title_justify="left")
    for column in ("station", "state", "step"):
        table.add_column(column)
    for column in ("completed", "discontinued", "failed"):
        table.add_column(column, justify="right")
    for state in emulator.modalities:
        failed = f"[red]{state.failed}[/red]" if state.failed else "0"
        table.add_row(
            state.station_ae,
            state.state,
            state.current,
            str(state.completed),
            str(state.discontinued),
            failed,
        )
    totals = emulator.record.totals()
    table.caption = (
        f"{totals['steps']} steps, {totals['completed']} completed, "
        f"{totals['discontinued']} discontinued, {totals['failures']} failures"
    )
    return table


async def live_table(emulator: Emulator, console: Console) -> None:
    """Show :func:`render` until cancelled; the last frame shows the run's end."""
    with Live(render(emulator), console=console, auto_refresh=False) as live:
        try:
            while True:
                await asyncio.sleep(0.25)
                live.update(render(emulator), refresh=True)
        finally:
            live.update(render(emulator), refresh=True)
