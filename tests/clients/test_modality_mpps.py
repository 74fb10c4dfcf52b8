"""``aiodicom-modality`` against a pynetdicom MWL + MPPS SCP (bench/pynetdicom_mpps_scp.py):
the exact C-FIND, N-CREATE and N-SET data sets it sends (PS3.4 K.6.1.2, F.7.2.1, F.7.2.2;
IHE RAD TF-2 RAD-5/6/7), the JSON report, failure statuses from the peer and exit status."""

from __future__ import annotations

import datetime
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.sequence import Sequence

from .mpps_peer import (
    MODALITY_SCRIPT,
    SCP_AE,
    pynetdicom_mpps,
    run_modality,
    scheduled_item,
    today,
)
from .peers import stop_process

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _expected_query(station: str) -> dict[str, Any]:
    step = Dataset()
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = today()
    returned = ("ScheduledProcedureStepStartTime", "Modality", "ScheduledProcedureStepID",
                "ScheduledProcedureStepDescription", "ScheduledProcedureStepStatus")  # fmt: skip
    for keyword in returned:
        setattr(step, keyword, "")
    step.ScheduledProtocolCodeSequence = Sequence()
    query = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                    "StudyInstanceUID", "AccessionNumber", "RequestedProcedureID",
                    "RequestedProcedureDescription"):  # fmt: skip
        setattr(query, keyword, "")
    query.ReferencedStudySequence = Sequence()
    query.RequestedProcedureCodeSequence = Sequence()
    query.ScheduledProcedureStepSequence = Sequence([step])
    return query.to_json_dict()


def _expected_create(item: Dataset, station: str, received: Dataset) -> dict[str, Any]:
    """The N-CREATE Attribute List of PS3.4 Table F.7.2-1 for ``item``; the values the
    modality generates (step ID, start date and time) are checked, then taken over."""
    assert re.fullmatch(r"[0-9A-Z]{1,16}", received.PerformedProcedureStepID)
    assert received.PerformedProcedureStepStartDate == today()
    datetime.datetime.strptime(received.PerformedProcedureStepStartTime, "%H%M%S")
    sps = item.ScheduledProcedureStepSequence[0]
    step = Dataset()
    step.StudyInstanceUID = item.StudyInstanceUID
    step.ReferencedStudySequence = item.ReferencedStudySequence
    step.AccessionNumber = item.AccessionNumber
    step.RequestedProcedureID = item.RequestedProcedureID
    step.RequestedProcedureDescription = item.RequestedProcedureDescription
    step.ScheduledProcedureStepID = sps.ScheduledProcedureStepID
    step.ScheduledProcedureStepDescription = sps.ScheduledProcedureStepDescription
    step.ScheduledProtocolCodeSequence = sps.ScheduledProtocolCodeSequence
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ScheduledStepAttributesSequence = Sequence([step])
    ds.PatientName = item.PatientName
    ds.PatientID = item.PatientID
    ds.PatientBirthDate = item.PatientBirthDate
    ds.PatientSex = item.PatientSex
    ds.ReferencedPatientSequence = Sequence()
    ds.PerformedProcedureStepID = received.PerformedProcedureStepID
    ds.PerformedStationAETitle = station
    ds.PerformedStationName = station
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = received.PerformedProcedureStepStartDate
    ds.PerformedProcedureStepStartTime = received.PerformedProcedureStepStartTime
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "HEAD PLAIN"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = item.RequestedProcedureCodeSequence
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = "CT"
    ds.StudyID = item.RequestedProcedureID
    ds.PerformedProtocolCodeSequence = sps.ScheduledProtocolCodeSequence
    ds.PerformedSeriesSequence = Sequence()
    return ds.to_json_dict()


def _check_final(
    received: Dataset, state: str, series_uids: list[str], images: int, protocol: str = "HEAD PLAIN"
) -> None:
    """PS3.4 F.7.2.2: the final N-SET's Modification List, exactly."""
    keywords = {
        "SpecificCharacterSet",
        "PerformedProcedureStepStatus",
        "PerformedProcedureStepEndDate",
        "PerformedProcedureStepEndTime",
        "PerformedSeriesSequence",
    }
    if state == "DISCONTINUED":
        keywords.add("PerformedProcedureStepDiscontinuationReasonCodeSequence")
        (reason,) = received.PerformedProcedureStepDiscontinuationReasonCodeSequence
        assert (reason.CodeValue, reason.CodingSchemeDesignator) == ("110513", "DCM")
        assert reason.CodeMeaning == "Discontinued for unspecified reason"
    assert {element.keyword for element in received} == keywords
    assert received.SpecificCharacterSet == "ISO_IR 100"  # the item's
    assert received.PerformedProcedureStepStatus == state
    assert received.PerformedProcedureStepEndDate == today()
    assert [s.SeriesInstanceUID for s in received.PerformedSeriesSequence] == series_uids
    for series in received.PerformedSeriesSequence:
        assert {element.keyword for element in series} == {
            "PerformingPhysicianName", "ProtocolName", "OperatorsName", "SeriesInstanceUID",
            "SeriesDescription", "RetrieveAETitle", "ReferencedImageSequence",
            "ReferencedNonImageCompositeSOPInstanceSequence",
        }  # fmt: skip
        assert series.ProtocolName == protocol
        refs = series.ReferencedImageSequence
        assert len(refs) == images
        assert {ref.ReferencedSOPClassUID for ref in refs} == {CT_IMAGE_STORAGE}
        assert len({ref.ReferencedSOPInstanceUID for ref in refs}) == images


def _args(port: int, tmp: Path, *extra: str) -> list[str]:
    report = str(tmp / "report.json")
    return ["127.0.0.1", str(port), "-aec", SCP_AE, "--report", report, "--no-table", *extra]


def test_completed_steps_exact_datasets_and_report(tmp_path: Path) -> None:
    mine = [scheduled_item(1, "CT01", time="090000"), scheduled_item(2, "CT01", time="083000")]
    others = [scheduled_item(3, "CT02"), scheduled_item(4, "CT01", date="20200101")]
    with pynetdicom_mpps(tmp_path, [*mine, *others]) as peer:
        done = run_modality(_args(peer.port, tmp_path, "--station-ae", "CT01",
                                  "--exam-time", "50ms", "--images", "2"))  # fmt: skip
        requests = peer.requests()
    assert done.returncode == 0, done.stderr
    assert "2 steps" in done.stdout and "2 completed" in done.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert {row["calling_ae"] for row in requests} == {"CT01"}
    finds = [row for row in requests if row["operation"] == "C-FIND"]
    assert len(finds) == 3  # two steps found, then none left
    assert all(row["dataset"] == _expected_query("CT01") for row in finds)
    creates = [row for row in requests if row["operation"] == "N-CREATE"]
    sets = [row for row in requests if row["operation"] == "N-SET"]
    # earliest scheduled start first: item 2 (08:30) before item 1 (09:00)
    for item, create, step in zip([mine[1], mine[0]], creates, report["steps"], strict=True):
        received = Dataset.from_json(create["dataset"])
        assert create["dataset"] == _expected_create(item, "CT01", received)
        assert create["sop_instance_uid"] == step["mpps_sop_instance_uid"]
        assert step["accession_number"] == item.AccessionNumber
        assert step["outcome"] == "COMPLETED" and step["planned"] == "COMPLETED"
        assert set(step["latency_ms"]) == {"C-FIND", "N-CREATE", "N-SET"}
        assert all(value > 0 for value in step["latency_ms"].values())
    assert [row["sop_instance_uid"] for row in sets] == [row["sop_instance_uid"] for row in creates]
    for row, step in zip(sets, report["steps"], strict=True):
        _check_final(
            Dataset.from_json(row["dataset"]), "COMPLETED", step["series_instance_uids"], 2
        )
    assert report["totals"] == {
        "steps": 2, "completed": 2, "discontinued": 0, "failed": 0, "failures": 0
    }  # fmt: skip
    assert {op: report["operations"][op]["count"] for op in report["operations"]} == {
        "C-FIND": 3, "N-CREATE": 2, "N-SET": 2
    }  # fmt: skip
    assert report["operations"]["N-CREATE"]["latency_ms"]["p99"] > 0
    assert report["failures"] == []


def test_discontinued_step_sends_reason_code_latin1_text_kept(tmp_path: Path) -> None:
    item = scheduled_item(1, "MR1", modality="CT")
    item.PatientName = "MÜLLER^JÖRG"
    item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription = "TÊTE"
    with pynetdicom_mpps(tmp_path, [item]) as peer:
        args = _args(peer.port, tmp_path, "--station-ae", "MR1", "--exam-time", "0",
                     "--discontinue-rate", "1", "--series", "2")  # fmt: skip
        done = run_modality(args)
        (n_create,) = peer.requests("N-CREATE")
        (n_set,) = peer.requests("N-SET")
    assert done.returncode == 0, done.stderr
    created = Dataset.from_json(n_create["dataset"])
    assert created.PatientName == "MÜLLER^JÖRG"
    assert created.PerformedProcedureStepDescription == "TÊTE"
    report = json.loads((tmp_path / "report.json").read_text())
    (step,) = report["steps"]
    assert step["outcome"] == "DISCONTINUED" and step["patient_name"] == "MÜLLER^JÖRG"
    assert len(step["series_instance_uids"]) == 2 and step["images"] == 6
    final = Dataset.from_json(n_set["dataset"])
    _check_final(final, "DISCONTINUED", step["series_instance_uids"], 3, protocol="TÊTE")


def test_create_failure_status_and_comment_in_report_exit_1(tmp_path: Path) -> None:
    items = [scheduled_item(1, "CT01"), scheduled_item(2, "CT01")]
    extra = ("--create-status", "0x0110", "--comment", "disk full on RIS")
    with pynetdicom_mpps(tmp_path, items, *extra) as peer:
        done = run_modality(_args(peer.port, tmp_path, "--station-ae", "CT01", "--exam-time", "0"))
        n_sets = peer.requests("N-SET")
    assert done.returncode == 1
    assert n_sets == []  # no N-SET for a step that was never created
    report = json.loads((tmp_path / "report.json").read_text())
    assert [step["outcome"] for step in report["steps"]] == ["FAILED", "FAILED"]
    assert report["totals"]["failures"] == 2
    for index, failure in enumerate(report["failures"]):
        assert failure["operation"] == "N-CREATE" and failure["step"] == index
        assert failure["status"] == 0x0110 and failure["status_hex"] == "0x0110"
        assert failure["error_comment"] == "disk full on RIS"
        assert failure["station_ae"] == "CT01"
    assert "FAILED CT01 N-CREATE 0x0110 Processing failure: disk full on RIS" in done.stdout


def test_set_failure_status_names_the_peer_status(tmp_path: Path) -> None:
    extra = ("--set-status", "0xC310", "--comment", "not IN PROGRESS")
    with pynetdicom_mpps(tmp_path, [scheduled_item(1, "CT01")], *extra) as peer:
        done = run_modality(_args(peer.port, tmp_path, "--station-ae", "CT01", "--exam-time", "0"))
    assert done.returncode == 1
    report = json.loads((tmp_path / "report.json").read_text())
    (failure,) = report["failures"]
    assert failure["operation"] == "N-SET" and failure["status_hex"] == "0xC310"
    assert failure["error_comment"] == "not IN PROGRESS"
    assert report["steps"][0]["outcome"] == "FAILED"
    assert "FAILED CT01 N-SET 0xC310 Unable to process: not IN PROGRESS" in done.stdout
    assert "N-CREATE" in report["steps"][0]["latency_ms"]


def test_separate_mpps_peer_gets_the_mpps(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        pynetdicom_mpps(tmp_path / "a", [scheduled_item(1, "US1")]) as worklist,
        pynetdicom_mpps(tmp_path / "b", []) as mpps,
    ):
        args = _args(worklist.port, tmp_path, "--station-ae", "US1", "--exam-time", "0",
                     "--mpps", f"127.0.0.1:{mpps.port}", "--mpps-aec", SCP_AE)  # fmt: skip
        done = run_modality(args)
        on_worklist, on_mpps = worklist.requests(), mpps.requests()
    assert done.returncode == 0, done.stderr
    assert [row["operation"] for row in on_worklist] == ["C-FIND", "C-FIND"]
    assert [row["operation"] for row in on_mpps] == ["N-CREATE", "N-SET"]


def test_no_peer_is_a_failure_naming_the_error(tmp_path: Path) -> None:
    from .peers import free_port

    done = run_modality(_args(free_port(), tmp_path, "--station-ae", "CT01"))
    assert done.returncode == 1
    (failure,) = json.loads((tmp_path / "report.json").read_text())["failures"]
    assert failure["operation"] == "C-FIND" and failure["status"] is None
    assert failure["error"].startswith("ConnectFailed")


def test_sigint_ends_the_exam_sends_n_set_and_reports(tmp_path: Path) -> None:
    with pynetdicom_mpps(tmp_path, [scheduled_item(1, "CT01"), scheduled_item(2, "CT01")]) as peer:
        args = _args(peer.port, tmp_path, "--station-ae", "CT01", "--exam-time", "60s")
        proc = subprocess.Popen([str(MODALITY_SCRIPT), *args], stdout=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20.0
            while not peer.requests("N-CREATE") and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=20.0)
        finally:
            stop_process(proc)
        sets = peer.requests("N-SET")
    assert proc.returncode == 0
    assert b"1 steps" in out and b"1 completed" in out  # the second step was not started
    assert len(sets) == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert [step["outcome"] for step in report["steps"]] == ["COMPLETED"]
