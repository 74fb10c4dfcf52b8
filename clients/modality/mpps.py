"""The MPPS data sets a modality sends (PS3.4 F.7.2.1 / F.7.2.2, IHE RAD TF-2 RAD-6/RAD-7).

N-CREATE (IN PROGRESS) carries every Type 1 and Type 2 attribute of PS3.4 Table
F.7.2-1, its Scheduled Step Attributes Sequence copied from the worklist item (IHE RAD
TF-2 4.6.4.1.2.2: Study Instance UID, Referenced Study Sequence, Accession Number,
Requested Procedure ID and Description, Scheduled Procedure Step ID and Description,
Scheduled Protocol Code Sequence), the patient from the item, Procedure Code Sequence
from the Requested Procedure Code Sequence and Performed Protocol Code Sequence from the
Scheduled Protocol Code Sequence. The end date and time and the Performed Series
Sequence are sent empty (Type 2). The final N-SET (COMPLETED or DISCONTINUED) sets the
end date and time and the Performed Series Sequence (Final State Type 1: one item per
series, each with its Referenced Image Sequence); DISCONTINUED adds the
Discontinuation Reason Code Sequence (CID 9300).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    MRImageStorage,
    NuclearMedicineImageStorage,
    PositronEmissionTomographyImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

from .steps import ScheduledStep

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"
"""PS3.4 F.7.1: Modality Performed Procedure Step SOP Class."""
IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
DISCONTINUED_REASON = ("110513", "DCM", "Discontinued for unspecified reason")
"""PS3.16 CID 9300 Procedure Discontinuation Reason."""
IMAGE_SOP_CLASSES = {
    "CT": CTImageStorage,
    "MR": MRImageStorage,
    "US": UltrasoundImageStorage,
    "DX": DigitalXRayImageStorageForPresentation,
    "NM": NuclearMedicineImageStorage,
    "PT": PositronEmissionTomographyImageStorage,
}
"""The storage SOP class of the images a modality says it made (others: SC)."""


@dataclass(frozen=True, slots=True)
class Performer:
    """Who performs a step: the station and what it falls back to."""

    station_ae: str
    modality: str = "OT"
    """Modality (0008,0060) when the worklist item's step gives none."""
    series: int = 1
    images: int = 3


def _now() -> tuple[str, str]:
    moment = datetime.datetime.now()
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")


def _copy(target: Dataset, source: Dataset, keyword: str, *, sequence: bool = False) -> None:
    """``keyword`` of ``source`` into ``target``, zero length when ``source`` has none."""
    value = source.get(keyword)
    if value is None or value == "":
        setattr(target, keyword, Sequence() if sequence else "")
    else:
        setattr(target, keyword, value)


def _scheduled_step_attributes(step: ScheduledStep) -> Dataset:
    """PS3.4 Table F.7.2-1, Scheduled Step Attributes Sequence item."""
    out = Dataset()
    out.StudyInstanceUID = step.item.get("StudyInstanceUID") or generate_uid()
    _copy(out, step.item, "ReferencedStudySequence", sequence=True)
    for keyword in ("AccessionNumber", "RequestedProcedureID", "RequestedProcedureDescription"):
        _copy(out, step.item, keyword)
    for keyword in ("ScheduledProcedureStepID", "ScheduledProcedureStepDescription"):
        _copy(out, step.sps, keyword)
    _copy(out, step.sps, "ScheduledProtocolCodeSequence", sequence=True)
    return out


def modality_of(step: ScheduledStep, performer: Performer) -> str:
    """The step's scheduled Modality, or the performer's."""
    return str(step.sps.get("Modality") or "").strip() or performer.modality


def in_progress(step: ScheduledStep, performer: Performer, step_id: str) -> Dataset:
    """The N-CREATE Attribute List (PS3.4 F.7.2.1) of ``step`` started now."""
    ds = Dataset()
    if "SpecificCharacterSet" in step.item:
        ds.SpecificCharacterSet = step.item.SpecificCharacterSet
    ds.ScheduledStepAttributesSequence = Sequence([_scheduled_step_attributes(step)])
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        _copy(ds, step.item, keyword)
    ds.ReferencedPatientSequence = Sequence()
    ds.PerformedProcedureStepID = step_id
    ds.PerformedStationAETitle = performer.station_ae
    ds.PerformedStationName = performer.station_ae
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime = _now()
    ds.PerformedProcedureStepStatus = IN_PROGRESS
    description = step.sps.get("ScheduledProcedureStepDescription") or step.item.get(
        "RequestedProcedureDescription"
    )
    ds.PerformedProcedureStepDescription = description or ""
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = step.item.get("RequestedProcedureCodeSequence") or Sequence()
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = modality_of(step, performer)
    ds.StudyID = str(step.item.get("RequestedProcedureID") or "")[:16]
    ds.PerformedProtocolCodeSequence = step.sps.get("ScheduledProtocolCodeSequence") or Sequence()
    ds.PerformedSeriesSequence = Sequence()
    return ds


def performed_series(step: ScheduledStep, performer: Performer) -> Sequence:
    """``performer.series`` series of ``performer.images`` images each, new UIDs
    (PS3.4 Table F.7.2-1, Performed Series Sequence item)."""
    sop_class = IMAGE_SOP_CLASSES.get(modality_of(step, performer), SecondaryCaptureImageStorage)
    protocol = str(step.sps.get("ScheduledProcedureStepDescription") or "") or "EMULATED"
    items = []
    for number in range(1, performer.series + 1):
        series = Dataset()
        series.PerformingPhysicianName = ""
        series.ProtocolName = protocol
        series.OperatorsName = ""
        series.SeriesInstanceUID = generate_uid()
        series.SeriesDescription = f"{protocol[:60]} {number}"  # LO: 64 characters
        series.RetrieveAETitle = ""
        images = []
        for _ in range(performer.images):
            image = Dataset()
            image.ReferencedSOPClassUID = sop_class
            image.ReferencedSOPInstanceUID = generate_uid()
            images.append(image)
        series.ReferencedImageSequence = Sequence(images)
        series.ReferencedNonImageCompositeSOPInstanceSequence = Sequence()
        items.append(series)
    return Sequence(items)


def final(step: ScheduledStep, state: str, series: Sequence) -> Dataset:
    """The N-SET Modification List (PS3.4 F.7.2.2) that ends ``step`` in ``state``
    (COMPLETED or DISCONTINUED) with the ``series`` made; with the item's Specific
    Character Set, as the protocol name may carry its text (PS3.5 6.1.2.3)."""
    ds = Dataset()
    if "SpecificCharacterSet" in step.item:
        ds.SpecificCharacterSet = step.item.SpecificCharacterSet
    ds.PerformedProcedureStepStatus = state
    ds.PerformedProcedureStepEndDate, ds.PerformedProcedureStepEndTime = _now()
    ds.PerformedSeriesSequence = series
    if state == DISCONTINUED:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = DISCONTINUED_REASON
        ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = Sequence([code])
    return ds
