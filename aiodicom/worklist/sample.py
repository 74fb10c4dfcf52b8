"""Generate realistic Modality Worklist items (PS3.4 K.6, Table K.6-1 attributes).

Used by ``config/make_sample_worklist.py`` (the bundled sample), by the tests
(differential runs against wlmscpfs) and by the benchmark (10k / 100k items). Output is
deterministic for a given seed. Items vary on purpose: several Scheduled Procedure Steps,
ISO_IR 100 / ISO_IR 192 / default character sets, missing optional attributes, files
with and without Part 10 meta information.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from aiodicom.dicom.files import FileMeta, encode_file

WORKLIST_SOP_CLASS = "1.2.840.10008.5.1.4.31"
UID_ROOT = "1.2.826.0.1.3680043.10.1453"  # aiodicom sample UIDs

FAMILY_ASCII = ["SMITH", "JONES", "BROWN", "TAYLOR", "WILSON", "DAVIES", "EVANS",
                "THOMAS", "ROBERTS", "JOHNSON"]  # fmt: skip
GIVEN_ASCII = ["JOHN", "MARY", "PETER", "ANNA", "JAMES", "LINDA", "DAVID", "SARAH", "PAUL",
               "EMMA", "MARK", "LUCY"]  # fmt: skip
FAMILY_LATIN = ["Müller", "Schäfer", "Jørgensen", "Ødegård", "García", "Nuñez", "Lefèvre",
                "Åström", "Bäcker", "Çelik"]  # fmt: skip
GIVEN_LATIN = ["Jürgen", "Søren", "José", "Chloé", "Björn", "Zoë", "Inés", "Gaël"]
NAMES_UTF8 = ["Yamada^Tarou=山田^太郎", "Wang^XiaoDong=王^小東", "Ivanov^Pjotr=Иванов^Пётр",
              "Kim^Hyun=김^현", "Papadopoulos^Eleni=Παπαδοπούλου^Ελένη"]  # fmt: skip
MODALITIES = {
    "CT": (["CT01", "CT02"], ["CT HEAD", "CT THORAX", "CT ABDOMEN"]),
    "MR": (["MR01", "MR02"], ["MR BRAIN", "MR KNEE", "MR SPINE"]),
    "US": (["US01"], ["US ABDOMEN", "US THYROID"]),
    "CR": (["CR01"], ["CR CHEST PA", "CR HAND"]),
    "MG": (["MG01"], ["MG SCREENING", "MG DIAGNOSTIC"]),
    "NM": (["NM01"], ["NM BONE SCAN", "NM THYROID"]),
}
PHYSICIANS = ["HOUSE^GREGORY", "GREY^MEREDITH", "KILDARE^JAMES", "QUINN^MICHAELA"]
LOCATIONS = ["RAD-1", "RAD-2", "ER", "WARD-3"]
PRIORITIES = ["ROUTINE", "HIGH", "STAT", "LOW"]


@dataclass(frozen=True, slots=True)
class SampleOptions:
    """What variety to put in the generated items."""

    base_date: int = 20261125
    days: int = 5
    max_steps: int = 3
    charsets: bool = True
    drop_optional: bool = True


BUNDLED_SAMPLE_COUNT = 20
BUNDLED_SAMPLE_SEED = 20261125
BUNDLED_SAMPLE_OPTIONS = SampleOptions(max_steps=3, drop_optional=True)
"""How the bundled sample's ``item_*.wl`` files are generated (config/make_sample_worklist.py)."""


def _name(rng: random.Random, charset: str) -> str:
    if charset == "ISO_IR 192":
        return rng.choice(NAMES_UTF8)
    if charset == "ISO_IR 100":
        return f"{rng.choice(FAMILY_LATIN)}^{rng.choice(GIVEN_LATIN)}"
    return f"{rng.choice(FAMILY_ASCII)}^{rng.choice(GIVEN_ASCII)}"


def _date(rng: random.Random, options: SampleOptions) -> str:
    base = datetime.datetime.strptime(str(options.base_date), "%Y%m%d").date()
    return (base + datetime.timedelta(days=rng.randrange(options.days))).strftime("%Y%m%d")


def _step(rng: random.Random, index: int, step: int, options: SampleOptions) -> Dataset:
    modality = rng.choice(sorted(MODALITIES))
    stations, descriptions = MODALITIES[modality]
    sps = Dataset()
    sps.Modality = modality
    sps.ScheduledStationAETitle = rng.choice(stations)
    sps.ScheduledProcedureStepStartDate = _date(rng, options)
    sps.ScheduledProcedureStepStartTime = (
        f"{rng.randrange(7, 19):02d}{rng.choice([0, 15, 30, 45]):02d}00"
    )
    sps.ScheduledProcedureStepDescription = rng.choice(descriptions)
    sps.ScheduledProcedureStepID = f"SPS{index:06d}{step}"
    if not options.drop_optional or rng.random() > 0.2:
        sps.ScheduledPerformingPhysicianName = rng.choice(PHYSICIANS)
    if not options.drop_optional or rng.random() > 0.3:
        sps.ScheduledStationName = sps.ScheduledStationAETitle + "_NAME"
        sps.ScheduledProcedureStepLocation = rng.choice(LOCATIONS)
    if not options.drop_optional or rng.random() > 0.5:
        code = Dataset()
        code.CodeValue = f"P{rng.randrange(100, 999)}"
        code.CodingSchemeDesignator = "99AIODICOM"
        code.CodeMeaning = sps.ScheduledProcedureStepDescription
        sps.ScheduledProtocolCodeSequence = [code]
    return sps


def make_item(rng: random.Random, index: int, options: SampleOptions) -> Dataset:
    """One worklist item with 1..max_steps Scheduled Procedure Steps."""
    charset = "ISO_IR 6"
    if options.charsets:
        charset = rng.choice(["ISO_IR 6", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192"])
    ds = Dataset()
    if charset != "ISO_IR 6":
        ds.SpecificCharacterSet = charset
    ds.AccessionNumber = f"ACC{index:07d}"
    ds.ReferringPhysicianName = rng.choice(PHYSICIANS)
    ds.PatientName = _name(rng, charset)
    ds.PatientID = f"PID{index:07d}"
    ds.PatientBirthDate = (
        f"{rng.randrange(1930, 2020)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    )
    ds.PatientSex = rng.choice("MFO")
    ds.StudyInstanceUID = f"{UID_ROOT}.{index}"
    ds.RequestedProcedureID = f"RP{index:07d}"
    steps = [_step(rng, index, step, options) for step in range(rng.randint(1, options.max_steps))]
    ds.ScheduledProcedureStepSequence = steps
    ds.RequestedProcedureDescription = steps[0].ScheduledProcedureStepDescription
    if not options.drop_optional or rng.random() > 0.3:
        ds.RequestedProcedurePriority = rng.choice(PRIORITIES)
        ds.AdmissionID = f"ADM{index:06d}"
    if not options.drop_optional or rng.random() > 0.6:
        ds.MedicalAlerts = rng.choice(["NONE", "PACEMAKER", "DIABETES"])
    return ds


def generate(count: int, seed: int = 1, options: SampleOptions | None = None) -> Iterator[Dataset]:
    """``count`` items, reproducible for ``seed``."""
    rng = random.Random(seed)
    chosen = options or SampleOptions()
    for index in range(count):
        yield make_item(rng, index, chosen)


def write_item(ds: Dataset, path: Path, *, with_meta: bool, implicit: bool = False) -> None:
    """Write ``ds`` as a ``.wl`` file, with Part 10 meta (PS3.10 7.1) or as a bare data set."""
    syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    meta = FileMeta(WORKLIST_SOP_CLASS, f"{ds.StudyInstanceUID}.1") if with_meta else None
    path.write_bytes(encode_file(ds, syntax, meta))


def write_folder(root: Path, ae_title: str, count: int, seed: int = 1,
                 options: SampleOptions | None = None) -> Path:  # fmt: skip
    """Generate ``root/ae_title/item_NNNNNN.wl`` (plus the wlmscpfs ``lockfile``)."""
    folder = root / ae_title
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lockfile").touch()
    for index, ds in enumerate(generate(count, seed, options)):
        write_item(ds, folder / f"item_{index:06d}.wl", with_meta=index % 3 != 2,
                   implicit=index % 4 == 1)  # fmt: skip
    return folder
