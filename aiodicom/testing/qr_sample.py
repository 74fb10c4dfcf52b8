"""Generate small, deterministic DICOM files for the Q/R SCP: samples, tests and benchmarks.

Each file is a Part 10 file (PS3.10 7.1) with a file meta header and the Patient, General
Study, General Series and SOP Common attributes the Q/R models key on (PS3.4 C.6), but no
pixel data, so that the files are a few hundred bytes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from aiodicom.dicom.files import FileMeta, encode_file

UID_ROOT = "1.2.826.0.1.3680043.10.1234"
SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
    "SR": "1.2.840.10008.5.1.4.1.1.88.11",
}
FAMILY = ("Smith", "Doe", "Garcia", "Müller", "Rossi", "Nakamura", "Dubois", "Novak", "de la Cruz")
GIVEN = ("Anna", "John", "Maria", "Peter", "Lena", "Kenji", "Chloe", "Ivan")
DESCRIPTIONS = ("CHEST", "HEAD", "ABDOMEN", "KNEE", "PELVIS", "SPINE")


@dataclass(frozen=True, slots=True)
class SampleShape:
    """How many entities to generate: patients, studies per patient, and so on."""

    patients: int
    studies_per_patient: int
    series_per_study: int
    instances_per_series: int
    seed: int = 1

    @property
    def total_instances(self) -> int:
        """Number of files the shape produces."""
        return (
            self.patients
            * self.studies_per_patient
            * self.series_per_study
            * self.instances_per_series
        )


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(first_year, last_year)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _patient(rng: random.Random, index: int, seed: int) -> Dataset:
    ds = Dataset()
    ds.PatientName = f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}"
    ds.PatientID = f"PID{index:06d}" if seed == 1 else f"P{seed}-{index:06d}"
    ds.PatientBirthDate = _date(rng, 1930, 2020)
    ds.PatientSex = rng.choice("MFO")
    return ds


def _study(rng: random.Random, p: int, s: int, seed: int) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = f"{UID_ROOT}.{seed}.{p}.{s}"
    ds.StudyDate = _date(rng, 2015, 2025)
    ds.StudyTime = f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"
    ds.AccessionNumber = f"ACC{p:05d}{s:02d}"
    ds.StudyID = f"S{s + 1}"
    ds.StudyDescription = rng.choice(DESCRIPTIONS)
    ds.ReferringPhysicianName = f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}"
    return ds


def _series(rng: random.Random, study_uid: str, index: int) -> Dataset:
    ds = Dataset()
    ds.SeriesInstanceUID = f"{study_uid}.{index + 1}"
    ds.Modality = rng.choice(tuple(SOP_CLASSES))
    ds.SeriesNumber = str(index + 1)
    ds.SeriesDescription = f"SERIES {index + 1}"
    return ds


def _file_dataset(parts: tuple[Dataset, ...], series_uid: str, number: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    for part in parts:
        ds.update(part)
    ds.SOPClassUID = SOP_CLASSES[str(ds.Modality)]
    ds.SOPInstanceUID = f"{series_uid}.{number + 1}"
    ds.InstanceNumber = str(number + 1)
    return ds


def _meta(ds: Dataset) -> FileMeta:
    """The File Meta Information of a sample instance (PS3.10 7.1)."""
    return FileMeta(str(ds.SOPClassUID), str(ds.SOPInstanceUID), f"{UID_ROOT}.99")


def iter_sample(shape: SampleShape) -> Iterator[tuple[str, Dataset]]:
    """Yield ``(relative path, dataset)`` for every instance of ``shape``, deterministically."""
    rng = random.Random(shape.seed)
    for p in range(shape.patients):
        patient = _patient(rng, p, shape.seed)
        for s in range(shape.studies_per_patient):
            study = _study(rng, p, s, shape.seed)
            for r in range(shape.series_per_study):
                series = _series(rng, str(study.StudyInstanceUID), r)
                uid = str(series.SeriesInstanceUID)
                for i in range(shape.instances_per_series):
                    rel = f"{patient.PatientID}/st{s:02d}/se{r:02d}/im{i:04d}.dcm"
                    yield rel, _file_dataset((patient, study, series), uid, i)


def write_sample(folder: Path, shape: SampleShape, *, time_limit: float = 600.0) -> int:
    """Write ``shape`` as DICOM files under ``folder``; returns the number of files written.

    Files that already exist are kept (so a cache folder is completed, not rewritten).
    Stops after ``time_limit`` seconds, so a caller can bound generation.
    """
    deadline = time.monotonic() + time_limit
    written = 0
    for rel, ds in iter_sample(shape):
        path = folder / rel
        if path.exists():
            continue
        if time.monotonic() > deadline:
            break
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_file(ds, ExplicitVRLittleEndian, _meta(ds)))
        written += 1
    return written
