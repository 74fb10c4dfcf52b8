"""Storage behind the SCPs: the hot-reloaded Modality Worklist folder (``worklist*``,
PS3.4 Annex K) and the SQLite Q/R index (``qr_*``, PS3.4 Annex C)."""

from aiodicom.store.qr_index import QRIndex, ScanReport
from aiodicom.store.qr_model import MODEL_UIDS
from aiodicom.store.qr_received import ReceivedFolder
from aiodicom.store.qr_sql import SQLiteQRStore
from aiodicom.store.worklist import WorklistStore
from aiodicom.store.worklist_loader import enumerate_ae_folders, is_item_name

__all__ = [
    "MODEL_UIDS",
    "QRIndex",
    "ReceivedFolder",
    "SQLiteQRStore",
    "ScanReport",
    "WorklistStore",
    "enumerate_ae_folders",
    "is_item_name",
]
