"""A worklist C-FIND, followed from the socket to the response bytes, never returns to a
folder it has left (issue 16), and docs/internals.md draws the walk the trace gives.

The walk is traced by :mod:`tests.worklist.walk` (its docstring defines stops, moves,
doors and revisits): a keyed MWL C-FIND-RQ's P-DATA-TF bytes go into the server's
``data_received`` on a memory transport, and every Python call is recorded until the
response bytes reach the transport's ``write``. A *move* is a call into a function of
another folder than its caller's (returning to a caller is not a move); the walk
*returns to a folder it has left* when a move enters a folder that is still on the call
stack or comes from another folder than the one it was first entered from. Adding a
detour (say the store calling ``matching``, or the server checking the identifier in
``dicom`` before the worklist reads it) makes :func:`test_no_return_to_a_folder_left`
fail.
"""

from __future__ import annotations

import pytest

from tests.worklist.walk import (
    OBSERVERS,
    SCENARIOS,
    Stop,
    Walk,
    documented,
    rendered,
    traced_in_child,
    walk_of,
)


@pytest.fixture(scope="module")
def walks() -> dict[str, Walk]:
    return traced_in_child()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_return_to_a_folder_left(walks: dict[str, Walk], scenario: str) -> None:
    """The app's observers (audit line, metrics, web query log) hear of the C-FIND once,
    from ``net``, and are not part of its walk: left out with everything they call."""
    walk = walk_of(walks[scenario].stops, OBSERVERS)
    returns = [
        f"{walk.stops[walk.stops[i].caller].file} -> {walk.stops[i].file} {walk.stops[i].function}"
        for i in walk.revisits
    ]
    assert returns == []
    first, last = walk.stops[0], walk.stops[-1]  # from the bytes in to the bytes out
    assert (first.file, first.function) == ("net/protocol.py", "AssociationProtocol.data_received")
    assert (last.file, last.function) == ("net/transport.py", "MemoryTransport.write")
    assert walk.doors["net"] == "socket" and walk.doors["worklist"] == "net"
    assert len(walk.moves) >= 10  # the walk did cross the map


def test_only_the_apps_observers_return_and_only_through_the_request(
    walks: dict[str, Walk],
) -> None:
    """Without the app's observers nothing is left out; with them, the audit line reads
    ``FindRequest.identifier`` (net), which decodes in ``dicom``: the two returns the
    docs name, both inside an observer."""
    for scenario in SCENARIOS[:3]:
        assert walks[scenario].revisits == ()
        assert len(walk_of(walks[scenario].stops, OBSERVERS).kept) == len(walks[scenario].stops)
    app = walks["keyed-as-the-app-serves-it"]
    returns = [(app.stops[i].file, app.stops[i].function) for i in app.revisits]
    assert returns == [
        ("net/types.py", "FindRequest.identifier"),
        ("dicom/identifier.py", "decode_identifier"),
    ]
    assert all(app.stops[i].stack & OBSERVERS for i in app.revisits)


def test_the_documented_walk_is_the_traced_one(walks: dict[str, Walk]) -> None:
    assert documented() == rendered(walks["keyed"]), "run: python -m tests.worklist.walk"


def _stops(*rows: tuple[str, int, tuple[str, ...]]) -> tuple[Stop, ...]:
    return tuple(
        Stop(folder, f"{folder}/m.py", f"f{i}", caller, frozenset(stack))
        for i, (folder, caller, stack) in enumerate(rows)
    )


def test_a_call_back_up_and_a_second_door_are_returns() -> None:
    calls_back = _stops(("net", -1, ()), ("worklist", 0, ("net",)), ("net", 1, ("net", "worklist")))
    assert walk_of(calls_back).revisits == (2,)
    second_door = _stops(
        ("net", -1, ()),
        ("worklist", 0, ("net",)),
        ("matching", 1, ("net", "worklist")),
        ("store", 1, ("net", "worklist")),
        ("matching", 3, ("net", "worklist", "store")),
    )
    walk = walk_of(second_door)
    assert walk.moves == (0, 1, 2, 3, 4) and walk.revisits == (4,)
    assert walk.doors == {
        "net": "socket",
        "worklist": "net",
        "matching": "worklist",
        "store": "worklist",
    }


def test_returning_and_calling_again_through_the_same_door_are_not() -> None:
    again = _stops(
        ("net", -1, ()),
        ("proto", 0, ("net",)),
        ("proto", 1, ("net", "proto")),
        ("net", 0, ("net",)),
        ("proto", 3, ("net",)),
    )
    walk = walk_of(again)
    assert walk.moves == (0, 1, 4) and walk.revisits == ()
