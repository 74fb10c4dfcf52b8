"""aiodicom-loadtest without a network: YAML config, query mix, statistics and report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from aiodicom.errors import AssociationAborted, AssociationRejected, ConfigError, DicomTimeoutError
from aiodicom.proto.negotiation import QueryModel
from clients.loadtest.__main__ import build_parser, configure
from clients.loadtest.config import QueryMix, Target, apply_target, load_yaml, queries_from_keys
from clients.loadtest.report_text import render_text
from clients.loadtest.stats import LoadStats

REPO = Path(__file__).resolve().parents[2]


def test_sample_config_loads() -> None:
    target, queries = load_yaml(str(REPO / "config" / "loadtest.yaml"))
    assert target["port"] == 11112
    names = [q.name for q in queries]
    assert names == ["ct-steps", "by-patient-name", "one-station"]
    assert queries[0].identifier.ScheduledProcedureStepSequence[0].Modality == "CT"
    assert queries[1].identifier.PatientName == "JOHNSON*"
    assert "PatientID" in queries[1].identifier
    assert queries[2].model is QueryModel.WORKLIST
    assert [q.weight for q in queries] == [6.0, 3.0, 1.0]


def _yaml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "lt.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("queries: [{keys: ['Bogus=1']}]", "queries[0].keys"),
        ("queries: [{weight: -1, keys: []}]", "queries[0].weight"),
        ("queries: [{model: nope}]", "queries[0].model"),
        ("queries: 3", "queries"),
        ("target: {model: x}", "target.model"),
        ("- a\n- b", "<top level>"),
        ("queries: [{keys: [1, 2]}]", "queries[0].keys"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = _yaml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert info.value.file == path
    assert info.value.key == key


def test_target_values_checked(tmp_path: Path) -> None:
    target = Target()
    apply_target(target, {"host": "h", "port": 11112, "called_ae": "X", "model": "study"}, "f")
    assert (target.host, target.port, target.called_ae, target.model) == (
        "h",
        11112,
        "X",
        QueryModel.STUDY,
    )
    with pytest.raises(ConfigError, match=r"target\.port"):
        apply_target(target, {"port": "abc"}, "f")
    with pytest.raises(ConfigError, match=r"target\.colour"):
        apply_target(target, {"colour": "red"}, "f")


def test_mix_respects_weights() -> None:
    _, queries = load_yaml(str(REPO / "config" / "loadtest.yaml"))
    mix = QueryMix(queries, seed=7)
    counts = Counter(mix.pick().name for _ in range(5000))
    assert counts["ct-steps"] > counts["by-patient-name"] > counts["one-station"]
    assert 0.55 < counts["ct-steps"] / 5000 < 0.65
    with pytest.raises(ConfigError, match="queries"):
        QueryMix([])


def test_command_line_overrides_yaml() -> None:
    ns = build_parser().parse_args(
        ["otherhost", "4242", "-c", str(REPO / "config" / "loadtest.yaml"), "-aec", "QR"]
    )
    target, mix, settings = configure(ns)
    assert (target.host, target.port, target.called_ae) == ("otherhost", 4242, "QR")
    assert len(mix.queries) == 3
    assert settings.count == 1000 and settings.mode == "closed"


def test_keys_query() -> None:
    (query,) = queries_from_keys(["PatientID=1", "PatientName="], QueryModel.WORKLIST)
    assert query.identifier.PatientID == "1"
    with pytest.raises(ConfigError, match="-k"):
        queries_from_keys(["Nope="], QueryModel.WORKLIST)


def test_stats_report_is_consistent() -> None:
    stats = LoadStats()
    for index in range(100):
        stats.record_final("a", 0x0000, 3, 0.001 * (index + 1))
    stats.record_final("b", 0xA700, 0, 0.5)
    stats.record_error("b", AssociationRejected(2, 3, 2), 0.01)
    stats.record_error("b", AssociationAborted("x"), 0.01)
    stats.record_error("b", DicomTimeoutError("query", 1.0), 1.0)
    stats.record_error("b", ConnectionRefusedError(111, "no"), 0.01)
    stats.stop()
    report = stats.report()
    assert report["queries"] == 105
    assert report["responses"] == 300
    assert report["statuses"] == {"0x0000": 100, "0xA700": 1}
    assert report["rejects"] == {"local-limit-exceeded": 1}
    assert (report["aborts"], report["timeouts"], report["connection_errors"]) == (1, 1, 1)
    assert report["errors"] == 5
    assert report["error_rate"] == pytest.approx(5 / 105, abs=1e-6)
    assert report["responses_per_query"] == {"a": 3.0, "b": 0.0}
    latency = report["latency_ms"]
    assert latency["p50"] == pytest.approx(50, rel=0.02)
    assert latency["p99"] == pytest.approx(500, rel=0.02)
    assert latency["max"] == pytest.approx(1000, rel=0.01)
    text = render_text(report)
    assert "queries       105" in text
    assert "local-limit-exceeded: 1" in text


def test_parser_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    from clients.loadtest.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["h", "1", "-k", "PatientID", "--count", "0"])
    assert info.value.code == 2
    assert "--count" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["h", "1"])
    assert "no queries" in capsys.readouterr().err
