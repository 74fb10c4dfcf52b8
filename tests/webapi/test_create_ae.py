"""A new called-AE folder is created only when asked for (CLI --create-ae, ?create_ae=true)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.webapi.helpers import WRITE, api_client, flat_item, make_data

REPO = Path(__file__).resolve().parents[2]


async def test_api_refuses_an_unknown_ae_folder_unless_asked(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    async with api_client(tmp_path) as (client, _store):
        typo = await client.post("/api/items", json=flat_item(id="a1", ae_title="WLMSPC"),
                                 headers=WRITE)  # fmt: skip
        assert typo.status == 409
        text = await typo.text()
        assert "WLMSPC" in text and "WLMSCP" in text and "create_ae" in text
        assert not (tmp_path / "WLMSPC").exists()
        new = flat_item(id="a1", ae_title="NEWAE")
        asked = await client.post(
            "/api/items", params={"create_ae": "true"}, json=new, headers=WRITE
        )
        assert asked.status == 201, await asked.text()
        assert (tmp_path / "NEWAE" / "a1.yaml").is_file()


def _add(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "servers.worklist", "add", "--data", str(data),
               "--patient-name", "Doe^Jane", "--patient-id", "P1", "--modality", "CT",
               "--start", "2026-11-25T14:30", *extra]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_cli_add_refuses_a_typo_in_the_ae_title(tmp_path: Path) -> None:
    make_data(tmp_path, 1)
    typo = _add(tmp_path, "--ae-title", "NOPE")
    assert typo.returncode == 2
    assert "NOPE" in typo.stderr and "--create-ae" in typo.stderr
    assert not (tmp_path / "NOPE").exists()
    asked = _add(tmp_path, "--ae-title", "NOPE", "--create-ae")
    assert asked.returncode == 0, asked.stderr
    assert len(list((tmp_path / "NOPE").glob("*.yaml"))) == 1
