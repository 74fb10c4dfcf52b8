"""aiodicom-loadtest run bounds (#14.11): the bound the user gives ends the run; the
progress bar follows the bound that will end it; ``--help`` states every default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.loadtest.__main__ import build_parser, configure, main
from clients.loadtest.multi import split_settings
from clients.loadtest.progress import progress_of
from clients.loadtest.runner import RunSettings
from tests.clients.bundled_worklist import AE, bundled_worklist

KEYS = ["-k", "PatientID="]


def _settings(*args: str) -> RunSettings:
    return configure(build_parser().parse_args(["127.0.0.1", "1", *KEYS, *args]))[2]


def test_duration_alone_is_not_cut_by_a_default_count() -> None:
    settings = _settings("--duration", "15")
    assert (settings.count, settings.duration) == (None, 15.0)


def test_count_alone_is_not_cut_by_a_default_duration() -> None:
    settings = _settings("--count", "20000")
    assert (settings.count, settings.duration) == (20000, None)


def test_neither_bound_given_uses_both_defaults() -> None:
    settings = _settings()
    assert (settings.count, settings.duration) == (1000, 60.0)
    both = _settings("--count", "5", "--duration", "2")
    assert (both.count, both.duration) == (5, 2.0)


def test_help_states_each_default() -> None:
    text = " ".join(build_parser().format_help().split())
    for default in (
        "default 1000 when --duration is not given",
        "default 60 when --count is not given",
        "(default 10)",  # --concurrency
        "(default 100)",  # --rate
        "(default 30)",  # --timeout
        "(default 5)",  # --drain
        "(default 1)",  # --window, --processes
        "(default closed)",
        "(default reuse)",
        "default ANY-SCP)",
        "(default LOADTEST)",
    ):
        assert default in text, default


def test_progress_follows_the_bound_that_ends_the_run() -> None:
    # duration only: a time bar
    assert progress_of(RunSettings(count=None, duration=15.0), 40_000, 3.0) == (3.0, 15.0, "s")
    # count only: a query bar
    assert progress_of(RunSettings(count=500, duration=None), 20, 3.0) == (20, 500, "queries")
    # open loop: 100 q/s for 60 s plans 6,000 queries, so a count of 1,000 ends it first ...
    open_loop = RunSettings(mode="open", rate=100.0, count=1000, duration=60.0)
    assert progress_of(open_loop, 10, 0.1) == (10, 1000, "queries")
    # ... and a count of 10,000 never does: the duration ends it
    open_loop.count = 10_000
    assert progress_of(open_loop, 10, 0.1) == (0.1, 60.0, "s")
    # closed loop: the bound nearer to its end
    closed = RunSettings(count=1000, duration=10.0)
    assert progress_of(closed, 900, 1.0) == (900, 1000, "queries")
    assert progress_of(closed, 100, 9.0) == (9.0, 10.0, "s")


def test_split_settings_keeps_an_absent_count_absent() -> None:
    shares = split_settings(RunSettings(count=None, duration=5.0, concurrency=4), 2)
    assert [(s.count, s.duration) for s in shares] == [(None, 5.0), (None, 5.0)]


def test_duration_alone_runs_past_1000_queries(tmp_path: Path) -> None:
    """Open loop at 1,500 q/s for 1 s: a hidden count of 1,000 stopped it at 0.67 s."""
    report_path = tmp_path / "report.json"
    run = ["--mode", "open", "--rate", "1500", "--duration", "1", "--no-progress"]
    with bundled_worklist(tmp_path) as server:
        target = ["127.0.0.1", str(server.port), "-aec", AE, *KEYS]
        code = main([*target, *run, "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert code == 0, report
    assert report["settings"]["count"] is None
    assert report["duration_s"] >= 1.0
    assert report["queries"] > 1000
    assert report["errors"] == 0


@pytest.mark.parametrize("flag", ["--count", "--duration"])
def test_bounds_must_be_positive(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["h", "1", *KEYS, flag, "0"])
    assert info.value.code == 2
    assert flag in capsys.readouterr().err
