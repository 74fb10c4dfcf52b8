"""What the README's test command (scripts/test.sh) leaves on the machine."""

from __future__ import annotations

from pathlib import Path

import pytest

ETC = Path("/etc")


def test_orthanc_service_is_not_enabled_at_boot() -> None:
    """The tests start their own Orthanc on free ports; the Debian service must stay off."""
    if not (ETC / "init.d" / "orthanc").exists() and not Path("/usr/sbin/Orthanc").exists():
        pytest.fail("Orthanc is not installed: scripts/test.sh installs it")
    started = sorted(str(link) for link in ETC.glob("rc[2-5].d/S*orthanc"))
    wanted = sorted(str(link) for link in ETC.glob("systemd/system/*.wants/orthanc.service"))
    assert started == []
    assert wanted == []


def test_postgresql_service_is_not_enabled_at_boot() -> None:
    """The Q/R tests start their own PostgreSQL cluster; the Debian service must stay off."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs it")
    started = sorted(str(link) for link in ETC.glob("rc[2-5].d/S*postgresql"))
    wanted = sorted(str(link) for link in ETC.glob("systemd/system/*.wants/postgresql.service"))
    assert started == []
    assert wanted == []
