"""DCMTK findscu options aiodicom-findscu does not implement are named, not misparsed
as the port (#14.6)."""

from __future__ import annotations

import pytest

from clients.findscu.cli import parse_args


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid int value" not in err
    return err


@pytest.mark.parametrize(
    "option",
    [
        ["--dhparam", "dh.pem"],
        ["+rs", "seed.bin"],
        ["--seed", "seed.bin"],
        ["+ws"],
        ["+wf", "seed.out"],
        ["+crv"],
        ["+cra"],
        ["+pa"],
        ["+pn"],
        ["-Xx"],
        ["-Xs", "all.xml"],
    ],
)
def test_dcmtk_only_options_are_named_as_unsupported(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error([*option, "host", "104", "-k", "PatientName"], capsys)
    assert f"{option[0]}: DCMTK findscu option not supported" in err


@pytest.mark.parametrize("option", ["--frobnicate", "+zz", "-nope"])
def test_unknown_options_are_named(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error([option, "value", "host", "104", "-k", "PatientName"], capsys)
    assert f"{option}: unknown option" in err


def test_values_that_look_like_options_are_still_values() -> None:
    ns, keys = parse_args(["-aet", "-ME-", "+pw", "-secret", "h", "104", "-k", "PatientID"])
    assert ns.aetitle == "-ME-" and ns.password == "-secret"
    assert [key.text for key in keys] == ["PatientID"]
    ns, _ = parse_args(["--timeout=5", "h", "104", "-k", "PatientID"])
    assert ns.timeout == 5
