"""Suite-wide isolation: each test leaves structlog's configuration as it found it.

``structlog.testing.capture_logs`` (and any test that calls ``structlog.configure``) marks
structlog as configured; afterwards :func:`aiodicom.log.get_logger` would no longer install
its stderr default, and a later test's library logs went to stdout at debug level (where
a test parsing ``findscu --json`` output read them as JSON).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import structlog


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
