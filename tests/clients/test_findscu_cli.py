"""aiodicom-findscu command line: DCMTK defaults, @command files, usage errors, outputs."""

from __future__ import annotations

import io
import json
import ssl
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from aiodicom.dicom.identifier import encode_identifier
from aiodicom.errors import (
    AssociationAborted,
    AssociationRejected,
    ConfigError,
    ConnectFailed,
    DataError,
    DicomTimeoutError,
    DimseStatusError,
)
from aiodicom.proto.negotiation import EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE
from clients.findscu.cli import ExitCode, expand_arguments, parse_args, read_command_file
from clients.findscu.console import ConsoleLog
from clients.findscu.output import JsonWriter, ResponseExtractor, dump_lines, format_response
from clients.findscu.run import (
    TRANSFER_SYNTAXES,
    build_queries,
    exit_code_for,
    final_exit_code,
    make_outputs,
)
from clients.findscu.status import status_text
from clients.findscu.tls import build_ssl_context


def test_dcmtk_defaults() -> None:
    ns, keys = parse_args(["host", "104", "-k", "PatientName="])
    assert (ns.peer, ns.port) == ("host", 104)
    assert ns.model == "worklist"
    assert ns.aetitle == "FINDSCU"
    assert ns.call == "ANY-SCP"
    assert ns.acse_timeout == 30
    assert ns.timeout is None and ns.dimse_timeout is None
    assert ns.max_pdu == 16384
    assert ns.repeat == 1 and ns.cancel is None and not ns.abort
    assert ns.tls is None and ns.peer_cert == "require"
    assert TRANSFER_SYNTAXES[ns.ts_mode] == (EXPLICIT_VR_LE, EXPLICIT_VR_BE, IMPLICIT_VR_LE)
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("flag", "model"),
    [("-W", "worklist"), ("-P", "patient"), ("-S", "study"), ("-O", "patient-study")],
)
def test_model_flags(flag: str, model: str) -> None:
    ns, _ = parse_args(["h", "1", flag, "-k", "PatientID"])
    assert ns.model == model


@pytest.mark.parametrize(
    ("flag", "first", "count"),
    [
        ("-x=", EXPLICIT_VR_LE, 3),
        ("-xe", EXPLICIT_VR_LE, 3),
        ("-xb", EXPLICIT_VR_BE, 3),
        ("-xi", IMPLICIT_VR_LE, 1),
        ("-xd", "1.2.840.10008.1.2.1.99", 4),
    ],
)
def test_transfer_syntax_flags(flag: str, first: str, count: int) -> None:
    ns, _ = parse_args(["h", "1", flag, "-k", "PatientID"])
    proposed = TRANSFER_SYNTAXES[ns.ts_mode]
    assert proposed[0] == first
    assert len(proposed) == count


def test_rightmost_exclusive_option_wins() -> None:
    ns, _ = parse_args(["h", "1", "-P", "-S", "-xi", "-xb", "-k", "PatientID"])
    assert ns.model == "study"
    assert ns.ts_mode == "big"


def test_network_and_output_options() -> None:
    argv = ["-aet", "ME", "-aec", "YOU", "-to", "3", "-ta", "4", "-td", "5", "-pdu", "32768"]
    argv += ["--repeat", "2", "--abort", "--cancel", "1", "-X", "-od", ".", "-Xlo", "3"]
    ns, _ = parse_args(["h", "1", *argv, "-k", "PatientID"])
    assert (ns.aetitle, ns.call, ns.timeout, ns.acse_timeout, ns.dimse_timeout) == (
        "ME",
        "YOU",
        3,
        4,
        5,
    )
    assert (ns.max_pdu, ns.repeat, ns.abort, ns.cancel) == (32768, 2, True, 1)
    assert ns.extract and ns.limit_output == 3


def test_command_file_expansion(tmp_path: Path) -> None:
    cmd = tmp_path / "opts.txt"
    cmd.write_text('-aec  QRSCP\n -S -k "PatientName=DOE^JOHN ONE"\n-k StudyDate=\n')
    ns, keys = parse_args([f"@{cmd}", "host", "104"])
    assert ns.call == "QRSCP" and ns.model == "study"
    assert [k.text for k in keys] == ["PatientName=DOE^JOHN ONE", "StudyDate="]


def test_command_file_rules(tmp_path: Path) -> None:
    nested = tmp_path / "nested.txt"
    nested.write_text("-v @other.txt")
    with pytest.raises(ConfigError, match="nested"):
        read_command_file(str(nested))
    unbalanced = tmp_path / "bad.txt"
    unbalanced.write_text('-k "PatientName=x')
    with pytest.raises(ConfigError, match="quotes"):
        read_command_file(str(unbalanced))
    assert expand_arguments(["a", "@"]) == ["a", "@"]


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["h", "1", "--bogus", "-k", "PatientID"], "--bogus"),
        (["h", "1", "-k", "Nonsense=1"], "-k 'Nonsense=1'"),
        (["h", "1", "-pdu", "100", "-k", "PatientID"], "-pdu"),
        (["h", "1"], "no query"),
        (["h", "1", "--repeat", "0", "-k", "PatientID"], "--repeat"),
        (["h", "port", "-k", "PatientID"], "port"),
        (["@/nonexistent/cmd.txt", "h", "1"], "/nonexistent/cmd.txt"),
        (["h", "1", "-td", "0", "-k", "PatientID"], "--dimse-timeout"),
    ],
)
def test_usage_errors_exit_2_and_name_the_option(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fragment in _usage_error(argv, capsys)


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for code in ExitCode:
        assert f"\n  {int(code)}  " in out


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (AssociationRejected(1, 1, 7), ExitCode.REJECTED),
        (AssociationAborted("peer aborted", source=2, reason=0), ExitCode.ABORTED),
        (DicomTimeoutError("DIMSE", 1.0), ExitCode.TIMEOUT),
        (ConnectionRefusedError(111, "refused"), ExitCode.CONNECTION),
        (ssl.SSLError("handshake"), ExitCode.CONNECTION),
        (DimseStatusError(0xA700), ExitCode.FIND_FAILED),
        (DataError("q.dcm", "bad"), ExitCode.DATA),
        (RuntimeError("bug"), ExitCode.INTERNAL),
    ],
)
def test_exception_exit_codes(exc: BaseException, code: ExitCode) -> None:
    assert exit_code_for(exc) is code


def test_connect_failure_is_a_connection_error() -> None:
    exc = ConnectFailed("127.0.0.1", 1, ConnectionRefusedError(111, "refused"))
    assert exit_code_for(exc) is ExitCode.CONNECTION


@pytest.mark.parametrize(
    ("status", "cancel", "code"),
    [
        (0x0000, False, ExitCode.SUCCESS),
        (0x0001, False, ExitCode.SUCCESS),
        (0xFE00, True, ExitCode.SUCCESS),
        (0xFE00, False, ExitCode.UNEXPECTED_CANCEL),
        (0xA700, False, ExitCode.FIND_FAILED),
        (0xA900, True, ExitCode.FIND_FAILED),
        (0xC123, False, ExitCode.FIND_FAILED),
    ],
)
def test_final_status_exit_codes(status: int, cancel: bool, code: ExitCode) -> None:
    assert final_exit_code(status, cancel) is code


def test_status_text_words() -> None:
    assert status_text(0xFF00) == "Pending"
    assert status_text(0x0000) == "Success"
    assert status_text(0xFE00) == "Cancel"
    assert status_text(0xA700).startswith("Failed: 0xA700")
    assert status_text(0xA900) == "Failed: 0xA900 Identifier does not match SOP Class"
    assert status_text(0xFF01) == "Pending: WarningUnsupportedOptionalKeys"


def _identifier() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "DOE^JOHN0"
    ds.PatientID = ""
    ds.Rows = 512
    item = Dataset()
    item.Modality = "CT"
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def test_dump_matches_dcmtk_layout() -> None:
    text = format_response(1, "Pending", _identifier(), EXPLICIT_VR_LE)
    lines = text.split("\n")
    assert lines[:5] == [
        "---------------------------",
        "Find Response: 1 (Pending)",
        "",
        "# Dicom-Data-Set",
        "# Used TransferSyntax: Little Endian Explicit",
    ]
    # exact lines as DCMTK 3.6.7 findscu prints them
    assert "(0010,0010) PN [DOE^JOHN0]                              #  10, 1 PatientName" in lines
    assert "(0010,0020) LO (no value available)                     #   0, 0 PatientID" in lines
    assert "(0028,0010) US 512                                      #   2, 1 Rows" in lines
    assert (
        "(0040,0100) SQ (Sequence with explicit length #=1)      #  18, 1 "
        "ScheduledProcedureStepSequence"
    ) in lines
    assert "  (fffe,e000) na (Item with explicit length #=1)          #  10, 1 Item" in lines
    assert "    (0008,0060) CS [CT]                                     #   2, 1 Modality" in lines
    assert lines[-2].startswith("(fffe,e0dd) na (SequenceDelimitationItem for re-encod.) #")


def test_dump_lines_multi_value() -> None:
    ds = Dataset()
    ds.ModalitiesInStudy = ["CT", "MR"]
    (line,) = list(dump_lines(ds))
    assert "[CT\\MR]" in line and "#   6, 2 ModalitiesInStudy" in line


def test_console_prefixes_and_levels() -> None:
    stream = io.StringIO()
    log = ConsoleLog("warn", stream)
    log.info("hidden")
    log.warn("shown\nsecond")
    log.log("info", "forced", force=True)
    assert stream.getvalue() == "W: shown\nW: second\nI: forced\n"


def test_json_lines_and_array() -> None:
    stream = io.StringIO()
    writer = JsonWriter(stream, array=False)
    writer.write(_identifier())
    writer.write(_identifier())
    writer.close()
    rows = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(rows) == 2
    assert rows[0]["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN0"}]}
    array = io.StringIO()
    writer = JsonWriter(array, array=True)
    writer.close()
    assert json.loads(array.getvalue()) == []
    array = io.StringIO()
    writer = JsonWriter(array, array=True)
    writer.write(_identifier())
    writer.write(_identifier())
    writer.close()
    assert len(json.loads(array.getvalue())) == 2


def test_extractor_writes_part10_files_with_limit(tmp_path: Path) -> None:
    extractor = ResponseExtractor(tmp_path, "1.2.840.10008.5.1.4.31", limit=2)
    raw = encode_identifier(_identifier(), EXPLICIT_VR_LE)
    paths = [extractor.write(raw, EXPLICIT_VR_LE) for _ in range(3)]
    assert [p.name if p else None for p in paths] == ["rsp0001.dcm", "rsp0002.dcm", None]
    ds = dcmread(tmp_path / "rsp0002.dcm")
    assert ds.file_meta.TransferSyntaxUID == EXPLICIT_VR_LE
    assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.31"
    assert ds.PatientName == "DOE^JOHN0"
    with pytest.raises(DataError, match="nope"):
        ResponseExtractor(tmp_path / "nope", "1.2", None)


def test_show_rules_follow_dcmtk(tmp_path: Path) -> None:
    ns, _ = parse_args(["h", "1", "-k", "PatientID"])
    assert make_outputs(ns).show
    ns, _ = parse_args(["h", "1", "-X", "-od", str(tmp_path), "-k", "PatientID"])
    assert not make_outputs(ns).show
    ns, _ = parse_args(["h", "1", "-X", "+sr", "-od", str(tmp_path), "-k", "PatientID"])
    assert make_outputs(ns).show
    ns, _ = parse_args(["h", "1", "-q", "-k", "PatientID"])
    assert not make_outputs(ns).show


def test_build_queries_files_and_keys(tmp_path: Path) -> None:
    base = Dataset()
    base.PatientName = "A*"
    base.save_as(tmp_path / "a.dcm", implicit_vr=True, little_endian=True)
    ns, keys = parse_args(["h", "1", str(tmp_path / "a.dcm"), "-k", "PatientID=X"])
    (only,) = build_queries(ns, keys)
    assert only.identifier.PatientName == "A*"
    assert only.identifier.PatientID == "X"


def test_tls_option_mapping(tmp_path: Path) -> None:
    ns, _ = parse_args(["h", "1", "-k", "PatientID"])
    assert build_ssl_context(ns) is None
    ns, _ = parse_args(["h", "1", "+tla", "-ic", "-k", "PatientID"])
    ctx = build_ssl_context(ns)
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    ns, _ = parse_args(["h", "1", "+tla", "-vc", "-k", "PatientID"])
    ctx = build_ssl_context(ns)
    assert ctx is not None and ctx.verify_mode == ssl.CERT_OPTIONAL
    ns, _ = parse_args(["h", "1", "+tla", "+cf", str(tmp_path / "none.pem"), "-k", "PatientID"])
    with pytest.raises(ConfigError, match=r"none\.pem"):
        build_ssl_context(ns)
    ns, _ = parse_args(["h", "1", "+tls", "k.pem", "c.pem", "-pw", "-k", "PatientID"])
    with pytest.raises(ConfigError, match=r"\+tls"):
        build_ssl_context(ns)
    ns, _ = parse_args(["h", "1", "+tla", "+cs", "NOT-A-CIPHER", "-k", "PatientID"])
    with pytest.raises(ConfigError, match=r"\+cs"):
        build_ssl_context(ns)
