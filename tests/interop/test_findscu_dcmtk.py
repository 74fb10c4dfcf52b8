"""aiodicom-findscu against DCMTK peers (wlmscpfs, dcmqrscp), side by side with findscu."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from clients.findscu.__main__ import main
from clients.findscu.cli import ExitCode
from tests.clients.peers import DCMTK_ENV, FINDSCU, Peer, dcmqrscp, free_port, wlmscpfs

pytestmark = pytest.mark.interop

WL_COUNT = 6


@pytest.fixture(scope="module")
def wl_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with wlmscpfs(tmp_path_factory.mktemp("wlm"), WL_COUNT) as peer:
        yield peer


@pytest.fixture(scope="module")
def qr_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    with dcmqrscp(tmp_path_factory.mktemp("qr")) as peer:
        yield peer


def ours(peer: Peer, *args: str, files: tuple[str, ...] = ()) -> int:
    return main(["-aec", peer.ae_title, *args, "127.0.0.1", str(peer.port), *files])


def json_rows(
    capsys: pytest.CaptureFixture[str], *args: str, peer: Peer
) -> list[dict[str, object]]:
    assert ours(peer, "--json", *args) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def extracted(directory: Path) -> list[str]:
    """The response data sets in ``directory`` as sorted canonical JSON (meta ignored)."""
    rows = []
    for path in sorted(directory.glob("rsp*.dcm")):
        ds = dcmread(path)
        rows.append(json.dumps(ds.to_json_dict(), sort_keys=True))
    return sorted(rows)


def run_both(peer: Peer, tmp: Path, args: list[str]) -> tuple[list[str], list[str]]:
    """The same query with /usr/bin/findscu -X and with ours -X; both response sets."""
    theirs_dir, ours_dir = tmp / "dcmtk", tmp / "ours"
    theirs_dir.mkdir()
    ours_dir.mkdir()
    cmd = [FINDSCU, "-X", "-od", str(theirs_dir), "-aec", peer.ae_title, *args]
    result = subprocess.run(
        [*cmd, "127.0.0.1", str(peer.port)],
        env=DCMTK_ENV,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ours(peer, "-X", "-od", str(ours_dir), *args) == 0
    return extracted(theirs_dir), extracted(ours_dir)


WORKLIST_QUERIES = [
    ["-k", "PatientName=", "-k", "PatientID="],
    ["-k", "PatientName=DOE^JOHN00*", "-k", "AccessionNumber="],
    ["-k", "(0040,0100)[0].Modality=CT", "-k", "PatientID=", "-k", "StudyInstanceUID="],
    [
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261101-20261103",
        "-k",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=",
        "-k",
        "PatientName=",
    ],
    ["-xi", "-k", "PatientID=P0002", "-k", "PatientBirthDate=", "-k", "PatientSex="],
]


@pytest.mark.parametrize("args", WORKLIST_QUERIES)
def test_side_by_side_with_dcmtk_findscu_worklist(
    wl_peer: Peer, tmp_path: Path, args: list[str]
) -> None:
    theirs, mine = run_both(wl_peer, tmp_path, args)
    assert mine == theirs
    assert theirs  # every query here matches at least one item


QR_QUERIES = [
    ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=", "-k", "PatientName="],
    ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=", "-k", "StudyDate="],
    [
        "-S",
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        "StudyInstanceUID=1.2.826.0.1.3680043.10.1450.9.0.1",
        "-k",
        "SeriesInstanceUID=",
        "-k",
        "Modality=",
    ],
    [
        "-P",
        "-k",
        "QueryRetrieveLevel=IMAGE",
        "-k",
        "PatientID=QRP1",
        "-k",
        "StudyInstanceUID=1.2.826.0.1.3680043.10.1450.9.1.0",
        "-k",
        "SeriesInstanceUID=1.2.826.0.1.3680043.10.1450.9.1.0.1",
        "-k",
        "SOPInstanceUID=",
    ],
]


@pytest.mark.parametrize("args", QR_QUERIES)
def test_side_by_side_with_dcmtk_findscu_qr(qr_peer: Peer, tmp_path: Path, args: list[str]) -> None:
    theirs, mine = run_both(qr_peer, tmp_path, args)
    assert mine == theirs
    assert theirs


def test_json_output_and_repeat(wl_peer: Peer, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "-k", "PatientID=P0003", "-k", "PatientName=", peer=wl_peer)
    assert rows == [
        {
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN003"}]},
            "00100020": {"vr": "LO", "Value": ["P0003"]},
        }
    ]
    rows = json_rows(capsys, "--repeat", "3", "-k", "PatientID=P0003", peer=wl_peer)
    assert len(rows) == 3


def test_json_array_and_concurrency(
    wl_peer: Peer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for index in range(3):
        path = tmp_path / f"q{index}.dcm"
        ds = Dataset()
        ds.PatientID = f"P000{index}"
        ds.save_as(path, implicit_vr=False, little_endian=True)
        files.append(str(path))
    code = ours(
        wl_peer, "--json-array", "--concurrency", "2", "-k", "PatientName=", files=tuple(files)
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    ids = sorted(row["00100020"]["Value"][0] for row in rows)
    assert ids == ["P0000", "P0001", "P0002"]


def test_default_output_is_dcmtk_dump(wl_peer: Peer, capsys: pytest.CaptureFixture[str]) -> None:
    assert ours(wl_peer, "-k", "PatientID=P0001", "-k", "PatientName=") == 0
    err = capsys.readouterr().err
    assert "I: Find Response: 1 (Pending)" in err
    assert "I: (0010,0020) LO [P0001]" in err
    assert "Find Response: 2" not in err


def test_extract_limit(wl_peer: Peer, tmp_path: Path) -> None:
    assert ours(wl_peer, "-X", "-Xlo", "2", "-od", str(tmp_path), "-k", "PatientName=") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rsp0001.dcm", "rsp0002.dcm"]


def test_rejected_and_refused_exit_codes(wl_peer: Peer, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-aec", "NOT-KNOWN", "-k", "PatientName=", "127.0.0.1", str(wl_peer.port)]
    assert main(args) == ExitCode.REJECTED
    assert "called-AE-title-not-recognized" in capsys.readouterr().err
    assert main(["-k", "PatientName=", "127.0.0.1", str(free_port())]) == ExitCode.CONNECTION


def test_failure_status_exit_code(qr_peer: Peer, capsys: pytest.CaptureFixture[str]) -> None:
    # no QueryRetrieveLevel: the identifier does not fit the SOP class (PS3.4 C.4.1.1.4)
    code = ours(qr_peer, "-v", "-S", "-k", "PatientName=")
    err = capsys.readouterr().err
    assert code == ExitCode.FIND_FAILED, err
    assert "Received Final Find Response (Failed" in err


def test_abort_instead_of_release(tmp_path: Path) -> None:
    with wlmscpfs(tmp_path, 2) as peer:
        assert ours(peer, "--abort", "-k", "PatientName=") == 0
        deadline = time.monotonic() + 5
        while "Abort" not in peer.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = peer.log()
    assert "Abort" in log
    assert "Association Release" not in log


def test_cancel_after_n_responses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --sleep-during 1: wlmscpfs waits one second before each response
    with wlmscpfs(tmp_path, 5, extra=["--sleep-during", "1"]) as peer:
        started = time.monotonic()
        code = ours(peer, "-v", "--cancel", "1", "-k", "PatientName=")
        elapsed = time.monotonic() - started
        log = peer.log()
    err = capsys.readouterr().err
    assert code == ExitCode.SUCCESS, err
    assert elapsed < 8
    assert err.count("Find Response:") == 1
    assert "Received Final Find Response (Cancel)" in err
    assert "Cancel" in log
    assert "Response 5 (Pending)" not in log
