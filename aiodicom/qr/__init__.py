"""The Query/Retrieve information model (PS3.4 Annex C): query planning, the C-FIND service
and response encoding; the Storage SCP that feeds the index (PS3.4 B.2). The index
(SQLite) is in :mod:`aiodicom.store`."""

from aiodicom.qr.service import QROptions, QRService
from aiodicom.qr.storage import QRStorage, StorageOptions
from aiodicom.qr.storage_classes import STORAGE_SOP_CLASSES, STORAGE_TRANSFER_SYNTAXES

__all__ = [
    "STORAGE_SOP_CLASSES",
    "STORAGE_TRANSFER_SYNTAXES",
    "QROptions",
    "QRService",
    "QRStorage",
    "StorageOptions",
]
