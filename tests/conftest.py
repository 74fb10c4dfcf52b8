"""Suite-wide isolation: each test leaves structlog's configuration as it found it.

``structlog.testing.capture_logs`` (and any test that calls ``structlog.configure``) marks
structlog as configured; afterwards :func:`aiodicom.log.get_logger` would no longer install
its stderr default, and a later test's library logs went to stdout at debug level (where
a test parsing ``findscu --json`` output read them as JSON).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from tests.pg_cluster import PgCluster, start_cluster


def pytest_configure(config: pytest.Config) -> None:
    """The worklist's working copy of its sample (servers/worklist/sample.py) goes to a
    folder of this run, never the user's ``~/.local/share``; subprocesses inherit it."""
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="aiodicom-tests-xdg-")


def _structlog_as_found() -> Iterator[None]:
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    yield
    if was_configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


@pytest.fixture(autouse=True, scope="module")
def _restore_structlog_per_module() -> Iterator[None]:
    """Module fixtures (a server or client started once per module) configure logging
    too; autouse, this one is set up before them and restores after their teardown."""
    yield from _structlog_as_found()


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield from _structlog_as_found()


QR_BACKENDS = ("sqlite", "postgresql")
"""Every Q/R index test runs on both backends (the ``qr_index`` fixtures)."""


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throw-away PostgreSQL cluster, started on first use (tests/pg_cluster.py)."""
    yield from start_cluster()


def _index_location(backend: str, folder: Path, request: pytest.FixtureRequest) -> str | Path:
    if backend == "sqlite":
        return folder / "index.sqlite"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.fresh_database()


@pytest.fixture(params=QR_BACKENDS)
def qr_backend(request: pytest.FixtureRequest) -> str:
    """The Q/R index backend of this test run: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def qr_index_factory(
    qr_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], str | Path]:
    """Makes further empty indexes of the test's backend (a new file or database each)."""
    count = itertools.count()

    def make() -> str | Path:
        folder = tmp_path / f"index-{next(count)}"
        folder.mkdir()
        return _index_location(qr_backend, folder, request)

    return make


@pytest.fixture
def qr_index(qr_index_factory: Callable[[], str | Path]) -> str | Path:
    """Where a test's Q/R index lives: an SQLite file, or a fresh PostgreSQL database."""
    return qr_index_factory()


@pytest.fixture(scope="module", params=QR_BACKENDS)
def qr_module_index(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str | Path:
    """:func:`qr_index` for a module's shared store."""
    return _index_location(request.param, tmp_path_factory.mktemp("qr-index"), request)
