"""HL7 v2 order feed into the Modality Worklist (IHE RAD-4 Procedure Scheduled and
RAD-13 Procedure Update): an MLLP listener, the HL7-to-MWL mapping, the ACKs.

Parsing and MLLP framing are the ``hl7`` package's; this package maps ORM^O01 (v2.3.1)
and OMI^O23 (v2.5.1) order groups to worklist items and writes them with the REST
API's item writer (:class:`aiodicom.store.ItemFiles`).
"""

from aiodicom.hl7.ack import make_ack
from aiodicom.hl7.listener import Hl7Listener, ListenerSettings, start_listener
from aiodicom.hl7.mapping import KINDS, build_rules, table_rows
from aiodicom.hl7.message import CHARSETS, decode
from aiodicom.hl7.orders import FeedSettings, OrderFeed, Outcome

__all__ = [
    "CHARSETS",
    "KINDS",
    "FeedSettings",
    "Hl7Listener",
    "ListenerSettings",
    "OrderFeed",
    "Outcome",
    "build_rules",
    "decode",
    "make_ack",
    "start_listener",
    "table_rows",
]
