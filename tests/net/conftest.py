"""Fixtures of the net layer's tests."""

from __future__ import annotations

import pytest

import aiodicom
from tests.net.helpers import Serve


@pytest.fixture
def serve() -> Serve:
    """Starts a server for an ``async with`` block: :func:`aiodicom.serve` itself.
    ``test_eager_edge`` overrides it to run the same tests with eager handlers."""
    return aiodicom.serve
