"""Every fast path equals its slow twin (docs/internals.md, "Fast paths and their slow twins").

One parametrised property over the registry in tests/fast_paths.py and tests/fast_paths_io.py,
and a check that the registry and the docs table name the same fast paths: a new fast path
is added to both.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.expected_warnings import PYDICOM_INVALID_INPUT
from tests.fast_paths import PURE, Twin
from tests.fast_paths_io import WHOLE

REGISTRY = (*PURE, *WHOLE)
pytestmark = PYDICOM_INVALID_INPUT
INTERNALS = Path(__file__).parent.parent / "docs" / "internals.md"


def documented_fast_paths() -> list[str]:
    """The first module named in each row of the docs table of fast paths."""
    text = INTERNALS.read_text(encoding="utf-8")
    section = text.split("## Fast paths and their slow twins", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    names = []
    for row in rows:
        found = re.search(r"`([\w/]+\.py)`", row.split("|")[1])
        assert found is not None, row
        names.append(found.group(1))
    return names


def test_registry_and_docs_table_list_the_same_fast_paths() -> None:
    documented = documented_fast_paths()
    assert len(documented) >= 18
    assert sorted(twin.name for twin in REGISTRY) == sorted(documented)


@pytest.mark.parametrize("twin", REGISTRY, ids=[twin.name for twin in REGISTRY])
def test_fast_path_equals_its_slow_twin(twin: Twin) -> None:
    @settings(
        max_examples=twin.examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        given_input = data.draw(twin.inputs, label="input")
        fast = twin.fast(given_input)
        if fast is None and twin.declines:
            return  # the slow twin decides alone: what production does on a decline
        assert fast == twin.slow(given_input)

    check()
