"""aiodicom-demo-scp: a small C-ECHO / Modality Worklist C-FIND SCP for trying things out.

It answers C-ECHO (PS3.7 9.1.5) and Modality Worklist C-FIND (PS3.4 K.4.1) from three
fixed scheduled procedure steps, filtered by a naive Patient's Name match: ``*`` and
``?`` wildcards (PS3.4 C.2.2.2.4), case-insensitive, empty or absent = match all.
Every item is returned whole (this is a demo, not the worklist server).

    aiodicom-demo-scp [--host 127.0.0.1] [--port 11112] [--ae-title DEMO]
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
from collections.abc import AsyncIterator, Sequence

from pydicom import Dataset

from aiodicom import FindRequest, QueryModel, Server, ServerConfig
from aiodicom.log import configure, get_logger
from aiodicom.net import run

_ITEMS: tuple[tuple[str, str, str, str, str], ...] = (
    # patient name, patient id, accession, modality, scheduled date
    ("DOE^JOHN", "PAT001", "ACC001", "CT", "20261125"),
    ("DOE^JANE", "PAT002", "ACC002", "MR", "20261125"),
    ("SMITH^ALICE", "PAT003", "ACC003", "US", "20261126"),
)


def demo_items() -> list[Dataset]:
    """The fixed worklist items (PS3.4 K.6.1.2.2 attributes, a useful subset)."""
    items = []
    for name, patient_id, accession, modality, date in _ITEMS:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.PatientName = name
        ds.PatientID = patient_id
        ds.AccessionNumber = accession
        step = Dataset()
        step.Modality = modality
        step.ScheduledStationAETitle = "MODALITY1"
        step.ScheduledProcedureStepStartDate = date
        step.ScheduledProcedureStepStartTime = "090000"
        step.ScheduledProcedureStepID = f"SPS{patient_id[-3:]}"
        ds.ScheduledProcedureStepSequence = [step]
        items.append(ds)
    return items


def name_matches(pattern: str, name: str) -> bool:
    """Naive PN match: ``*``/``?`` wildcards, case-insensitive; "" or "*" match all."""
    if pattern in ("", "*"):
        return True
    return fnmatch.fnmatchcase(name.upper(), pattern.upper())


async def worklist_handler(request: FindRequest) -> AsyncIterator[Dataset]:
    """C-FIND handler: yield every demo item whose Patient's Name matches the query."""
    pattern = str(request.identifier.get("PatientName", "") or "")
    for item in demo_items():
        if name_matches(pattern, str(item.PatientName)):
            yield item


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aiodicom-demo-scp", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=11112, help="TCP port (default 11112)")
    parser.add_argument("--ae-title", default="DEMO", help="our AE title (default DEMO)")
    parser.add_argument("--log-format", choices=("console", "json"), default="console")
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


async def serve_demo(host: str, port: int, ae_title: str) -> None:
    """Run the demo SCP until cancelled (Ctrl-C)."""
    server = Server(ServerConfig(ae_title=ae_title), {QueryModel.WORKLIST: worklist_handler})
    await server.start(host, port)
    get_logger().info("demo scp ready", host=host, port=server.port, ae_title=ae_title)
    await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``aiodicom-demo-scp``."""
    args = parse_args(argv)
    configure(args.log_format, args.log_level)
    try:
        run(serve_demo(args.host, args.port, args.ae_title))
    except KeyboardInterrupt:
        return 0
    except (OSError, asyncio.CancelledError) as exc:
        get_logger().error("demo scp stopped", error=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
