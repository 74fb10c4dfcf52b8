"""Glue between ``aiodicom-worklist`` and its Modality Performed Procedure Step SCP.

The MPPS SOP Class (PS3.4 Annex F) is served on the worklist's own port and called AE
titles (``mpps:`` config section, on by default): :func:`attach` loads the stored
instances and registers the N-CREATE / N-SET handlers on the server, and makes the
live query panel of the HTTP API show them beside the C-FINDs.
"""

from __future__ import annotations

from aiodicom.config import WorklistServerConfig
from aiodicom.log import get_logger
from aiodicom.net import Server
from aiodicom.store import ItemFiles, MppsStore, WorklistStore
from aiodicom.webapi import QueryLog
from aiodicom.worklist import MppsOptions, MppsService

MPPS_FOLDER = ".mpps"
"""Default folder of the MPPS instances inside the data folder (hidden: no AE title)."""


def attach(
    config: WorklistServerConfig, store: WorklistStore, server: Server, query_log: QueryLog
) -> MppsStore | None:
    """Serve MPPS on ``server`` when the config says so; the instance store (None: off)."""
    section = config.mpps
    if not section.enabled:
        return None
    mpps = MppsStore(section.folder or config.worklist.data / MPPS_FOLDER)
    count = mpps.load()
    get_logger(app="worklist").info("mpps instances loaded", count=count, folder=str(mpps.folder))
    items = ItemFiles(config.worklist.data, config.server.ae_title)
    service = MppsService(mpps, store, items, MppsOptions(keep_final=section.keep_final))
    service.register(server, observe=query_log.record_n)
    return mpps
