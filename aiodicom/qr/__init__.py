"""The Query/Retrieve information model (PS3.4 Annex C): query planning, the C-FIND service
and response encoding. The index (SQLite) is in :mod:`aiodicom.store`."""

from aiodicom.qr.service import QROptions, QRService

__all__ = ["QROptions", "QRService"]
