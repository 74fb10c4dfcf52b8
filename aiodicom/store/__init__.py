"""Storage behind the SCPs: the hot-reloaded Modality Worklist folder (``worklist*``,
PS3.4 Annex K), the worklist item files (``ItemFiles``, written by the REST API, the HL7 feed and
the MPPS SCP), the MPPS instances (``mpps``, PS3.4 Annex F) and the Q/R index
(``qr_*``, PS3.4 Annex C) on SQLite or PostgreSQL."""

from aiodicom.store.mpps import MppsRecord, MppsStore, StepLink
from aiodicom.store.qr_index import QRIndex, ScanReport
from aiodicom.store.qr_model import MODEL_UIDS
from aiodicom.store.qr_open import open_qr_store
from aiodicom.store.qr_pg import PostgresQRStore, redact
from aiodicom.store.qr_received import ReceivedFolder
from aiodicom.store.qr_sql import SQLiteQRStore
from aiodicom.store.qr_store import QRStore
from aiodicom.store.worklist import Refresher, WorklistStore
from aiodicom.store.worklist_items import ItemFiles, StoredItem
from aiodicom.store.worklist_loader import enumerate_ae_folders, is_item_name

__all__ = [
    "MODEL_UIDS",
    "ItemFiles",
    "MppsRecord",
    "MppsStore",
    "PostgresQRStore",
    "QRIndex",
    "QRStore",
    "ReceivedFolder",
    "Refresher",
    "SQLiteQRStore",
    "ScanReport",
    "StepLink",
    "StoredItem",
    "WorklistStore",
    "enumerate_ae_folders",
    "is_item_name",
    "open_qr_store",
    "redact",
]
