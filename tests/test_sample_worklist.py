"""The sample served by default: a working copy dated from today; the template untouched."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from aiodicom.store.worklist import WorklistStore
from aiodicom.webapi.listing import Listing
from servers.worklist import sample

REPO = Path(__file__).resolve().parents[1]
DAY = datetime.date(2027, 2, 27)  # the 5-day sample then crosses a month end


def _start_dates(root: Path) -> set[str]:
    """Each listed step's start date (YYYYMMDD), as the page and ``list`` show them."""
    rows = Listing(WorklistStore(root)).select({})
    return {row.fields["start"][:10].replace("-", "") for row in rows}


def _template_state() -> dict[str, bytes]:
    folder = sample.template_folder()
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*")
            if path.is_file()}  # fmt: skip


def test_first_copy_is_dated_from_today(tmp_path: Path) -> None:
    before = _template_state()
    root = sample.prepare(tmp_path / "copy", today=DAY)
    names = sorted(path.name for path in (root / "WLMSCP").iterdir())
    template = sorted(path.name for path in (sample.template_folder() / "WLMSCP").iterdir())
    assert names == template
    days = {(DAY + datetime.timedelta(days=n)).strftime("%Y%m%d") for n in range(5)}
    dates = _start_dates(root)
    assert DAY.strftime("%Y%m%d") in dates
    assert dates <= days
    assert _template_state() == before


def test_unchanged_copy_is_dated_again_next_day(tmp_path: Path) -> None:
    root = sample.prepare(tmp_path / "copy", today=DAY)
    later = DAY + datetime.timedelta(days=40)
    sample.prepare(root, today=later)
    assert later.strftime("%Y%m%d") in _start_dates(root)


def test_changed_copy_is_kept(tmp_path: Path) -> None:
    root = sample.prepare(tmp_path / "copy", today=DAY)
    (root / "WLMSCP" / "item_000003.wl").unlink()  # as the page's Delete would
    sample.prepare(root, today=DAY + datetime.timedelta(days=40))
    assert not (root / "WLMSCP" / "item_000003.wl").exists()
    assert max(_start_dates(root)) < (DAY + datetime.timedelta(days=5)).strftime("%Y%m%d")


def test_foreign_folder_is_never_touched(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    (root / "WLMSCP").mkdir(parents=True)
    (root / "WLMSCP" / "note.yaml").write_text("PatientID: X\n")
    sample.prepare(root, today=DAY)
    assert [path.name for path in (root / "WLMSCP").iterdir()] == ["note.yaml"]


@pytest.mark.parametrize("command", [["list", "--date", "today"], ["add"]])
def test_cli_uses_the_copy_and_leaves_the_checkout_clean(
    command: list[str], tmp_path: Path
) -> None:
    if command == ["add"]:
        command = ["add", "--patient-name", "Doe^Jane", "--patient-id", "P1", "--modality",
                   "CT", "--start", "2026-11-25T14:30", "--id", "readme_recipe"]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [sys.executable, "-m", "servers.worklist", *command],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "aiodicom" / "worklist-data" / "WLMSCP"
    if command[0] == "add":
        assert (copy / "readme_recipe.yaml").exists()
        assert not (sample.template_folder() / "WLMSCP" / "readme_recipe.yaml").exists()
    else:
        assert datetime.date.today().strftime("%Y-%m-%d") in result.stdout
    status = subprocess.run(["git", "status", "--porcelain", "--", "config"], cwd=REPO,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert "worklist-data" not in status.stdout


def test_list_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(tmp_path), "LANG": "C.UTF-8"}
    command = f"{sys.executable} -m servers.worklist list | true"  # closed before we write
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
