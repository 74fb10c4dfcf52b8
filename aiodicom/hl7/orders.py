"""Order messages applied to the worklist's item files (IHE RAD-4 and RAD-13).

ORC-1 (HL7 Table 0119) says what an order group does (IHE RAD TF-2 4.4.4.1.2 and
4.13.4.1.2): ``NW`` schedules a new order (one item per Scheduled Procedure Step), ``XO``
changes it, ``CA`` cancels it (its items leave the worklist) and ``DC`` discontinues it
(its steps become DISCONTINUED, PS3.3 C.4.10). A later message finds an order's items by
any identifier it carries: placer or filler order number, accession number, requested
procedure ID.

Every message is checked whole before anything is written, so a refused message changes
nothing. Items are written with :class:`aiodicom.store.ItemFiles`, the REST API's
writer (temporary file, fsync, rename), and the store is reloaded before the ACK goes
out, so a C-FIND sent after the ACK sees the order.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from aiodicom.errors import Hl7Error
from aiodicom.hl7.dataset import Segments, build_item
from aiodicom.hl7.mapping import SPS, Rule, build_rules
from aiodicom.hl7.message import Decoded, OrderGroup, message_type, order_groups, text_at
from aiodicom.matching import Record
from aiodicom.store.worklist import Refresher, WorklistStore
from aiodicom.store.worklist_items import ItemFiles, StoredItem
from aiodicom.store.worklist_rules import check_transition, fill_generated, item_status, set_status

MESSAGES = {("ORM", "O01"): "2.3.1", ("OMI", "O23"): "2.5.1"}
"""MSH-9 -> the mapping table used (IHE RAD-4/RAD-13 in HL7 v2.3.1 and v2.5.1)."""
CONTROLS = ("NW", "XO", "CA", "DC")
KEYS = {
    "PlacerOrderNumberImagingServiceRequest": 0x00402016,
    "FillerOrderNumberImagingServiceRequest": 0x00402017,
    "AccessionNumber": 0x00080050,
    "RequestedProcedureID": 0x00401001,
}
"""The identifiers an order is found by, and their tags in the store's records."""
STATION_AE, STATION_NAME = "ScheduledStationAETitle", "ScheduledStationName"
SPS_TAG, STATUS_TAG = 0x00400100, 0x00400020
CANCELLABLE = frozenset({"SCHEDULED", "ARRIVED", "READY"})


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Where orders go: the default AE folder, the station routes, the mapping overrides."""

    default_ae: str = "WLMSCP"
    stations: Mapping[str, str] = field(default_factory=dict)
    mapping: Mapping[str, str] = field(default_factory=dict)

    def rules(self, version: str) -> tuple[Rule, ...]:
        return build_rules(version, self.mapping)


@dataclass(slots=True)
class Outcome:
    """What one message did: its type, its order controls and the item ids written."""

    message: str = ""
    controls: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Planned:
    """The checked changes of one order group."""

    control: str
    new: list[tuple[Dataset, str]]  # (item, AE title)
    old: list[str]  # item ids the order already has


def record_status(record: Record) -> str:
    """The first step's Scheduled Procedure Step Status (SCHEDULED when absent)."""
    steps = record.get(SPS_TAG)
    step = steps[0] if isinstance(steps, tuple) and steps else {}
    status = step.get(STATUS_TAG)
    return status if isinstance(status, str) and status else "SCHEDULED"


def check_state(control: str, statuses: Mapping[str, str]) -> None:
    """Hl7Error 206 when an item's state forbids ``control`` (PS3.3 C.4.10 states):
    CA only before the step started (IHE: DC afterwards), XO until it is final, DC
    from any open state."""
    for item_id, status in statuses.items():
        if control == "DC":
            reason = check_transition(status, "DISCONTINUED")
        elif control in {"CA", "XO"}:
            allowed = CANCELLABLE if control == "CA" else CANCELLABLE | {"STARTED"}
            reason = None if status in allowed else f"the step is {status}"
            if reason is not None and control == "CA" and status == "STARTED":
                reason += " (use DC)"
        else:
            reason = None
        if reason is not None:
            raise Hl7Error("ORC", 1, 206, f"{control} refused: {item_id}: {reason}")


class OrderFeed:
    """Applies order messages to ``files`` one message at a time."""

    def __init__(self, store: WorklistStore, settings: FeedSettings) -> None:
        self.store = store
        self.settings = settings
        self.files = ItemFiles(store.root, settings.default_ae)
        self.refresher = Refresher(store)
        self.rules = {version: settings.rules(version) for version in set(MESSAGES.values())}
        self._serial = asyncio.Lock()

    async def close(self) -> None:
        """Cancel a pending store reload (the listener is stopping)."""
        await self.refresher.close()

    async def apply(self, decoded: Decoded) -> Outcome:
        """Check the whole message, then write; Hl7Error for anything refused."""
        code, event, _version = message_type(decoded.message)
        outcome = Outcome(f"{code}^{event}")
        table = MESSAGES.get((code, event))
        if table is None:
            number = 201 if code in {c for c, _ in MESSAGES} else 200
            raise Hl7Error("MSH", 9, number, f"unsupported message type {code}^{event}", "AR")
        patient, groups = order_groups(decoded.message)
        if not groups:
            raise Hl7Error("ORC", 0, 100, "required segment ORC is missing")
        if "PID" not in patient:
            raise Hl7Error("PID", 0, 100, "required segment PID is missing")
        async with self._serial:
            await self.refresher.fresh()
            plans = [self._plan(patient, group, self.rules[table], decoded) for group in groups]
            outcome.controls = [plan.control for plan in plans]
            for plan in plans:
                outcome.items += await self._write(plan)
            self.refresher.request()
        await self.refresher.fresh()  # one reload serves the messages written meanwhile
        return outcome

    def _plan(
        self, patient: Mapping[str, object], group: OrderGroup, rules: tuple[Rule, ...],
        decoded: Decoded,
    ) -> Planned:  # fmt: skip
        control = text_at(group.segments["ORC"], 1).upper()
        if control not in CONTROLS:
            raise Hl7Error(
                "ORC", 1, 103, f"ORC-1: order control {control!r} is not one of "
                + ", ".join(CONTROLS),
            )  # fmt: skip
        steps = group.ipcs or [None]
        found = [Segments(patient, group, ipc) for ipc in steps]
        new = (
            [(item, self._route(item, rules)) for item in
             (build_item(rules, one, decoded.dicom_charset) for one in found)]
            if control in {"NW", "XO"} else []
        )  # fmt: skip
        old = self._lookup(found[0], rules)
        if control == "NW" and old:
            raise Hl7Error("ORC", 2, 205, f"the order exists already (items {', '.join(old)})")
        if control != "NW" and not old:
            raise Hl7Error("ORC", 2, 204, "no worklist item has any identifier of this order")
        check_state(control, old)
        return Planned(control, new, list(old))

    def _route(self, item: Dataset, rules: tuple[Rule, ...]) -> str:
        """The AE folder of an item: its station's route, else the default AE title."""
        step = item[SPS][0]
        names = [str(step.get(keyword, "")) for keyword in (STATION_AE, STATION_NAME)]
        names = [name for name in names if name]
        stations = self.settings.stations
        title = self.settings.default_ae
        if stations and names:
            routed = next((stations[name] for name in names if name in stations), None)
            if routed is None:
                by_keyword = {rule.keyword: rule for rule in rules}
                rule = by_keyword.get(STATION_AE) or by_keyword[STATION_NAME]
                where = rule.locations[0]
                raise Hl7Error(
                    where.segment, where.field, 103,
                    f"unknown station {' / '.join(names)} (hl7.stations: {', '.join(stations)})",
                )  # fmt: skip
            title = routed
        if not (self.store.root / title).is_dir():
            raise Hl7Error("MSH", 0, 207, f"no worklist folder for AE title {title!r}")
        return title

    def _lookup(self, found: Segments, rules: tuple[Rule, ...]) -> dict[str, str]:
        """Item id -> step status of every item holding one of the order's identifiers.

        A scan of the snapshot's records (about 0.3 ms per 1,000 items): cheaper than an
        index that every order, itself a change of the folder, would have to rebuild.
        """
        wanted = set()
        for rule in rules:
            if rule.keyword in KEYS:
                value = found.first(rule)[1]
                if value:
                    wanted.add((KEYS[rule.keyword], value))
        tags = {tag for tag, _ in wanted}
        matches: dict[str, str] = {}
        for worklist in self.store.snapshot.worklists.values():
            for item in worklist.items:
                record = item.record
                if any((tag, record.get(tag)) in wanted for tag in tags):
                    stem = os.path.basename(item.path).split(".", 1)[0]
                    matches[stem] = record_status(record)
        return dict(sorted(matches.items()))

    async def _write(self, plan: Planned) -> list[str]:
        async with self.files.exclusive():
            return await asyncio.to_thread(self._write_now, plan)

    def _write_now(self, plan: Planned) -> list[str]:
        """Apply one checked plan (holding every item's write lock)."""
        current = [self.files.read(item_id) for item_id in plan.old]
        statuses = {item.item_id: item_status(item.dataset) for item in current}
        check_state(plan.control, statuses)  # again: the REST API may have changed one
        if plan.control == "DC":
            for item in current:
                set_status(item.dataset, "DISCONTINUED")
                self.files.replace_now(item.item_id, item.dataset, item.etag)
            return plan.old
        if plan.control == "CA":
            for item in current:
                self.files.delete_now(item.item_id, item.etag)
            return plan.old
        return self._replace_items(plan, current, statuses)

    def _replace_items(
        self, plan: Planned, current: list[StoredItem], statuses: dict[str, str]
    ) -> list[str]:
        """NW and XO: the order's steps in order, pairing old items by position (an XO
        keeps each step's item id, status and generated identifiers)."""
        written = []
        for index, (ds, title) in enumerate(plan.new):
            previous = current[index] if index < len(current) else None
            if previous is not None:
                set_status(ds, statuses[previous.item_id])
            fill_generated(ds, previous.dataset if previous is not None else None)
            if previous is not None and previous.ae_title == title:
                self.files.replace_now(previous.item_id, ds, previous.etag)
                written.append(previous.item_id)
                continue
            if previous is not None:  # the station moved to another AE folder
                self.files.delete_now(previous.item_id, previous.etag)
            item_id = previous.item_id if previous is not None else f"hl7-{secrets.token_hex(8)}"
            self.files.create_now(ds, item_id, title)
            written.append(item_id)
        for stale in current[len(plan.new) :]:
            self.files.delete_now(stale.item_id, stale.etag)
        return written
