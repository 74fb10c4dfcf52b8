"""``aiodicom-worklist add|list|remove`` on a data folder (subprocess, no HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.webapi.helpers import make_data, today_da

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers.worklist", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_add_list_remove(tmp_path: Path) -> None:
    make_data(tmp_path, 3)
    data = ["--data", str(tmp_path)]
    added = run("add", *data, "--patient-name", "Cli^Carl", "--patient-id", "CLI0001",
                "--modality", "MR", "--station-ae", "MR01", "--start", "2030-01-02T08:15",
                "--id", "cli-1")  # fmt: skip
    assert added.returncode == 0, added.stderr
    document = yaml.safe_load((tmp_path / "WLMSCP" / "cli-1.yaml").read_text())
    step = document["ScheduledProcedureStepSequence"][0]
    assert step["ScheduledProcedureStepStartDate"] == "20300102"
    assert step["ScheduledProcedureStepStartTime"] == "081500"
    assert document["AccessionNumber"] and document["StudyInstanceUID"]

    listed = run("list", *data, "--date", "2030-01-02", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["patient_id"], r["station_ae"]) for r in rows] == [
        ("cli-1", "CLI0001", "MR01")
    ]
    today = run("list", *data, "--date", today_da())
    assert len(today.stdout.splitlines()) == 3

    duplicate = run("add", *data, "--patient-name", "A", "--patient-id", "B", "--modality",
                    "CT", "--start", "2030-01-02T09:00", "--id", "cli-1")  # fmt: skip
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr

    removed = run("remove", *data, "cli-1")
    assert removed.returncode == 0 and not (tmp_path / "WLMSCP" / "cli-1.yaml").exists()
    again = run("remove", *data, "cli-1")
    assert again.returncode == 2 and "no such item" in again.stderr


def test_add_reports_every_bad_option(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    bad = run("add", "--data", str(tmp_path), "--patient-name", "X", "--patient-id", "P",
              "--modality", "ct!", "--start", "soon", "--birth-date", "1999-13-01")  # fmt: skip
    assert bad.returncode == 2
    assert "modality" in bad.stderr and "start" in bad.stderr and "birth_date" in bad.stderr
    assert len(list((tmp_path / "WLMSCP").iterdir())) == 2  # item + lockfile only


def _help(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "servers.worklist", *args, "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    return done.stdout


def _option_line(text: str, option: str) -> str:
    """An option's help: its line and the indented lines under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option + " "))
    end = start + 1
    while end < len(lines) and lines[end].startswith("    ") and "--" not in lines[end][:8]:
        end += 1
    return " ".join(lines[start:end])


def test_server_help_lists_the_subcommands() -> None:
    text = _help()
    for command in ("add", "list", "remove"):
        assert f"aiodicom-worklist {command}" in text


def test_add_help_gives_the_formats() -> None:
    text = _help("add")
    assert "2026-11-25T14:30" in _option_line(text, "--start")
    assert "YYYY-MM-DD" in _option_line(text, "--birth-date")
    assert all(p in _option_line(text, "--priority") for p in ("STAT", "ROUTINE", "LOW"))
    assert all(s in _option_line(text, "--status") for s in ("SCHEDULED", "COMPLETED"))
