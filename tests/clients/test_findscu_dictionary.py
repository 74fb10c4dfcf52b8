"""DCMDICTPATH: DCMTK data dictionary files add names usable in ``-k`` (#14.8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydicom import Dataset

import aiodicom
from aiodicom import FindRequest, ServerConfig
from aiodicom.errors import ConfigError
from clients.findscu.dictionary import parse_dictionary
from tests.clients.findscu_run import run_findscu

SITE_DIC = (
    "# site dictionary, DCMTK format: Tag VR Name VM Version, tab separated\n"
    "\n"
    "(0029,1001)\tLO\tSiteWorkflowCode\t1\tPrivateTag\n"
    '(0019,"ACME 1.0",10)\tDS\tAcmeDoseFactor\t1\tPrivateTag\n'
    "(6000-60FF,0010)\tUS\tOverlayRows\t1\tDICOM\n"
)


def test_parse_dictionary_entries(tmp_path: Path) -> None:
    path = tmp_path / "site.dic"
    path.write_text(SITE_DIC)
    entries = {entry.name: entry for entry in parse_dictionary(path)}
    assert set(entries) == {"SiteWorkflowCode", "AcmeDoseFactor"}  # ranges are skipped
    plain = entries["SiteWorkflowCode"]
    assert (plain.group, plain.element, plain.vr, plain.creator) == (0x0029, 0x1001, "LO", None)
    acme = entries["AcmeDoseFactor"]
    assert (acme.group, acme.element, acme.vr, acme.creator) == (0x0019, 0x10, "DS", "ACME 1.0")


@pytest.mark.parametrize(
    "line", ["(0029,1001)\tLO", "(zz29,1001)\tLO\tX\t1\tP", "(0029,1001)\tQQ\tX\t1\tP"]
)
def test_bad_dictionary_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "bad.dic"
    path.write_text("# c\n" + line + "\n")
    with pytest.raises(ConfigError, match=rf"{path}: line 2"):
        parse_dictionary(path)


async def test_dcmdictpath_names_work_in_keys(tmp_path: Path) -> None:
    path = tmp_path / "site.dic"
    path.write_text(SITE_DIC)
    seen: list[Dataset] = []

    async def handler(request: FindRequest) -> AsyncIterator[Dataset]:
        seen.append(request.identifier)
        yield Dataset()

    async with aiodicom.serve(ServerConfig(), {"worklist": handler}, "127.0.0.1", 0) as server:
        run = await run_findscu(
            server.port,
            "-k", "SiteWorkflowCode=URGENT",
            "-k", "AcmeDoseFactor=1.5",
            "-k", "PatientName",
            env={"DCMDICTPATH": f"{tmp_path / 'missing.dic'}:{path}"},
        )  # fmt: skip
    assert run.code == 0, run.stderr
    ds = seen[0]
    assert ds[0x00291001].value == b"URGENT" or str(ds[0x00291001].value) == "URGENT"
    assert ds[0x00190010].value == "ACME 1.0"
    assert float(ds[0x00191010].value) == 1.5


@pytest.mark.parametrize("name", ["dicom.dic", "private.dic"])
def test_dcmtk_shipped_dictionaries_parse(name: str) -> None:
    folders = sorted(Path("/usr/share").glob("libdcmtk*"))
    if not folders or not (folders[-1] / name).exists():
        pytest.skip("DCMTK dictionaries not installed")
    assert len(parse_dictionary(folders[-1] / name)) > 1000
