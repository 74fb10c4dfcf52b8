"""What a modality asks its worklist and which step it takes (PS3.4 K.6.1, IHE RAD-5).

The C-FIND identifier asks for the modality's own Scheduled Station AE Title and the
day's Scheduled Procedure Step Start Date (single value matching, PS3.4 C.2.2.2.1),
and returns the attributes the MPPS needs (IHE RAD TF-2 4.5.4.1.2 / 4.6.4.1.2).
A :class:`ScheduledStep` is one answer's Scheduled Procedure Step; :class:`Claims`
remembers the steps any emulated modality has taken, so no step is performed twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.sequence import Sequence

TAKEN_STATES = frozenset({"STARTED", "COMPLETED", "DISCONTINUED", "CANCELED", "DEPARTED"})
"""Scheduled Procedure Step Status (0040,0020) values of a step no longer to be started
(PS3.3 C.4.10); an SCP that keeps finished steps visible answers with these."""


def worklist_query(station_ae: str, date: str, modality: str | None) -> Dataset:
    """The MWL C-FIND identifier of one modality (PS3.4 K.6.1.2.1): matching keys
    Scheduled Station AE Title, Scheduled Procedure Step Start Date and (given) Modality,
    everything else a return key (zero length: universal matching, C.2.2.2.3)."""
    step = Dataset()
    step.ScheduledStationAETitle = station_ae
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledProcedureStepStartTime = ""
    step.Modality = modality or ""
    step.ScheduledProcedureStepID = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProtocolCodeSequence = Sequence()
    step.ScheduledProcedureStepStatus = ""
    query = Dataset()
    query.PatientName = ""
    query.PatientID = ""
    query.PatientBirthDate = ""
    query.PatientSex = ""
    query.StudyInstanceUID = ""
    query.AccessionNumber = ""
    query.ReferencedStudySequence = Sequence()
    query.RequestedProcedureID = ""
    query.RequestedProcedureDescription = ""
    query.RequestedProcedureCodeSequence = Sequence()
    query.ScheduledProcedureStepSequence = Sequence([step])
    return query


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


@dataclass(frozen=True, slots=True)
class ScheduledStep:
    """One worklist answer and the Scheduled Procedure Step item a modality performs."""

    item: Dataset
    sps: Dataset

    @property
    def key(self) -> tuple[str, ...]:
        """What tells steps apart: the IHE identifiers of the order and the step."""
        return (
            _text(self.item, "StudyInstanceUID"),
            _text(self.item, "AccessionNumber"),
            _text(self.item, "RequestedProcedureID"),
            _text(self.sps, "ScheduledProcedureStepID"),
            _text(self.item, "PatientID"),
        )

    @property
    def start(self) -> tuple[str, str]:
        """Scheduled start date and time, the order in which a modality takes steps."""
        date = _text(self.sps, "ScheduledProcedureStepStartDate")
        return date, _text(self.sps, "ScheduledProcedureStepStartTime")

    def summary(self) -> dict[str, str]:
        """The identifiers of the step, for the report."""
        return {
            "patient_id": _text(self.item, "PatientID"),
            "patient_name": _text(self.item, "PatientName"),
            "accession_number": _text(self.item, "AccessionNumber"),
            "requested_procedure_id": _text(self.item, "RequestedProcedureID"),
            "scheduled_procedure_step_id": _text(self.sps, "ScheduledProcedureStepID"),
            "study_instance_uid": _text(self.item, "StudyInstanceUID"),
        }


def scheduled_steps(answers: Iterable[Dataset], station_ae: str) -> list[ScheduledStep]:
    """Each answer's Scheduled Procedure Steps for ``station_ae`` that are still to be
    started, earliest first. A step naming another station is skipped (an SCP that
    ignores the matching key); one without a station or status is taken as scheduled."""
    steps: list[ScheduledStep] = []
    for item in answers:
        for sps in item.get("ScheduledProcedureStepSequence") or ():
            station = _text(sps, "ScheduledStationAETitle")
            if station and station != station_ae:
                continue
            if _text(sps, "ScheduledProcedureStepStatus").upper() in TAKEN_STATES:
                continue
            steps.append(ScheduledStep(item, sps))
    steps.sort(key=lambda step: (step.start, step.key))
    return steps


class Claims:
    """The steps taken by the emulated modalities of this run."""

    def __init__(self) -> None:
        self._taken: set[tuple[str, ...]] = set()

    def take_next(self, steps: Iterable[ScheduledStep]) -> ScheduledStep | None:
        """The first of ``steps`` nobody has taken yet, now taken (no await in between:
        two modalities of one event loop never take the same step)."""
        for step in steps:
            if step.key not in self._taken:
                self._taken.add(step.key)
                return step
        return None
