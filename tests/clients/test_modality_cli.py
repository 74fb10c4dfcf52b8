"""``aiodicom-modality`` usage errors: each names its flag and exits with status 2
before any association is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiodicom.errors import ConfigError
from clients.modality.__main__ import main
from clients.modality.cli import build_parser, configure

HOST = ["127.0.0.1", "104"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([], "--station-ae: expected at least one --station-ae AE or --modalities N"),
        (["--modalities", "0"], "--modalities: expected a positive number, got 0"),
        (["--modalities", "2", "--station-ae", "CT01"], "--modalities: expected either"),
        (["--station-ae", "CT\\01"], "--station-ae: expected an AE title of 1-16"),
        (["--station-ae", "A" * 17], "--station-ae: expected an AE title of 1-16"),
        (["--station-ae", "CT01", "--station-ae", "CT01"], "--station-ae: expected distinct"),
        (["--station-ae", "CT01", "-aec", ""], "-aec: expected an AE title"),
        (["--station-ae", "CT01", "--discontinue-rate", "1.5"], "--discontinue-rate: expected"),
        (["--station-ae", "CT01", "--exam-time", "soon"], "argument --exam-time: expected a"),
        (["--station-ae", "CT01", "--duration", "0"], "--duration: expected a duration above 0"),
        (["--station-ae", "CT01", "--steps", "0"], "--steps: expected a positive number"),
        (["--station-ae", "CT01", "--images", "-1"], "--images: expected a positive number"),
        (["--station-ae", "CT01", "--date", "20261340"], "--date: expected a date YYYYMMDD"),
        (["--station-ae", "CT01", "--date", "today"], "--date: expected a date YYYYMMDD"),
        (["--station-ae", "CT01", "--mpps", "host"], "--mpps: expected HOST:PORT"),
        (["--station-ae", "CT01", "--mpps", "h:99999"], "--mpps: expected HOST:PORT"),
        (["--station-ae", "CT01", "--mpps-aec", "X\\Y"], "--mpps-aec: expected an AE title"),
        (["--station-ae", "CT01", "--modality", "C-T"], "--modality: expected a Modality"),
        (["--station-ae", "CT01", "--report", "/nonexistent/r.json"], "--report: expected"),
    ],
)
def test_usage_error_names_the_flag(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*HOST, *args])
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


def test_port_out_of_range_is_named() -> None:
    ns = build_parser().parse_args(["h", "70000", "--station-ae", "CT01"])
    with pytest.raises(ConfigError, match="port: expected a port 1-65535, got 70000"):
        configure(ns)


def test_settings_of_the_flags(tmp_path: Path) -> None:
    args = [*HOST, "--modalities", "12", "-aec", "RIS", "--mpps", "mpps.example:4104",
            "--exam-time", "1500ms", "--modality", "ct", "--date", "20261201",
            "--report", str(tmp_path / "r.json")]  # fmt: skip
    ns = build_parser().parse_args(args)
    settings = configure(ns)
    assert settings.stations[0] == "MOD001" and settings.stations[-1] == "MOD012"
    assert len(settings.stations) == 12
    assert (settings.worklist.host, settings.worklist.port) == ("127.0.0.1", 104)
    assert (settings.mpps.host, settings.mpps.port, settings.mpps.called_ae) == (
        "mpps.example", 4104, "RIS"
    )  # fmt: skip
    assert settings.exam_time == 1.5 and settings.modality == "CT"
    assert settings.date == "20261201"
    assert settings.until_empty  # no --steps / --duration: until empty
    bounded = configure(build_parser().parse_args([*HOST, "--station-ae", "A", "--steps", "3"]))
    assert not bounded.until_empty and bounded.steps == 3
