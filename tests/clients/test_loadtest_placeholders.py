"""Parameterised load-test queries (#19.1): placeholders, generators and the values file,
and a run whose every send carries another patient ID (the SCP's log shows each one)."""

from __future__ import annotations

import datetime
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiodicom.errors import ConfigError
from aiodicom.proto.negotiation import QueryModel
from clients.loadtest.__main__ import main
from clients.loadtest.config import QueryMix, load_yaml, queries_from_keys
from clients.loadtest.placeholders import Draw, parse_text
from clients.loadtest.values import load_values
from tests.clients.bundled_worklist import AE, REPO, bundled_worklist

PATIENTS = REPO / "config" / "loadtest-patients.csv"
SAMPLE_IDS = [f"PID{n:07d}" for n in range(20)] + ["WALKIN001", "FUP0001"]


def _render(text: str, seed: int = 1, row: dict[str, str] | None = None) -> str:
    template = parse_text(text, "test")
    assert template is not None
    return template.render(Draw(random.Random(seed), row))


def test_the_bundled_csv_holds_the_sample_patient_ids() -> None:
    table = load_values(str(PATIENTS))
    assert table.columns == ("patient_id",)
    assert [row["patient_id"] for row in table.rows] == SAMPLE_IDS


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=30))
def test_text_without_braces_is_no_template(text: str) -> None:
    assert parse_text(text, "k") is None


@given(st.lists(st.text(alphabet="abcXYZ09 *-", max_size=8), min_size=1, max_size=4))
def test_columns_and_escaped_braces_render_in_place(pieces: list[str]) -> None:
    text = "{{" + "{col}".join(pieces) + "}}"
    assert _render(text, row={"col": "V"}) == "{" + "V".join(pieces) + "}"


def test_generators_draw_within_their_ranges() -> None:
    dates = {_render("{date:20240227..20240302}", seed) for seed in range(200)}
    assert dates == {"20240227", "20240228", "20240229", "20240301", "20240302"}
    today = datetime.date.today()
    assert _render("{date:today..today}") == today.strftime("%Y%m%d")
    assert _render("{date:today+1..today+1}") == (today + datetime.timedelta(1)).strftime("%Y%m%d")
    assert {_render("{choice:CT|MR}", seed) for seed in range(50)} == {"CT", "MR"}
    assert {_render("PID{int:0..2:07d}", seed) for seed in range(50)} == {
        "PID0000000", "PID0000001", "PID0000002"
    }  # fmt: skip


def test_counters_count_wrap_and_split_among_processes() -> None:
    template = parse_text("A{counter:5..7:02d}", "k")
    assert template is not None
    draw = Draw(random.Random(0))
    assert [template.render(draw) for _ in range(5)] == ["A05", "A06", "A07", "A05", "A06"]
    shards = []
    for shard in range(3):
        counter = parse_text("{counter:100}", "k")
        assert counter is not None
        shards.append([counter.render(Draw(random.Random(0), None, shard, 3)) for _ in range(4)])
    values = sorted(int(v) for values in shards for v in values)
    assert values == list(range(100, 112))  # every value once across the processes


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("{nope:1}", "{nope:1}"),
        ("{date:2024..x}", "{date:2024..x}"),
        ("{int:5..1}", "{int:5..1}"),
        ("{counter:1..2:q}", "{counter:1..2:q}"),
        ("a{b", "k"),
    ],
)
def test_bad_placeholders_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "k")
    assert key in info.value.key


def test_values_orders_and_reuse(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("id,name\n1,a\n2,b\n3,c\n")
    rng = random.Random(3)
    sequential = load_values(str(path))
    assert [sequential.next_row(rng)["id"] for _ in range(5)] == ["1", "2", "3", "1", "2"]  # type: ignore[index]
    once = load_values(str(path), "random", reuse=False)
    drawn = [once.next_row(rng) for _ in range(4)]
    assert drawn[3] is None
    assert sorted(row["id"] for row in drawn[:3] if row) == ["1", "2", "3"]
    anyhow = load_values(str(path), "random")
    assert Counter(anyhow.next_row(rng)["name"] for _ in range(300)).keys() == {"a", "b", "c"}  # type: ignore[index]
    shards = [sequential.shard(i, 2).rows for i in range(2)]
    assert [[r["id"] for r in rows] for rows in shards] == [["1", "3"], ["2"]]


def test_values_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id\n1\n2,extra\n")
    with pytest.raises(ConfigError, match="line 3"):
        load_values(str(bad))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ConfigError, match="header"):
        load_values(str(tmp_path / "empty.csv"))
    queries = queries_from_keys(["PatientID={pid}"], QueryModel.WORKLIST)
    with pytest.raises(ConfigError, match="--values"):
        QueryMix(queries).check_values()
    with pytest.raises(ConfigError, match="pid"):
        QueryMix(queries, values=load_values(str(PATIENTS))).check_values()


def test_a_query_renders_one_row_for_all_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("pid,name\nP1,DOE^J\nP2,ROE^R\n")
    (tmp_path / "q.yaml").write_text(
        "queries:\n  - name: q\n    keys:\n      PatientID: '{pid}'\n      PatientName: '{name}'\n"
        "      ScheduledProcedureStepSequence[0].Modality: '{choice:CT|MR}'\n"
    )
    _, queries = load_yaml(str(tmp_path / "q.yaml"))
    mix = QueryMix(queries, seed=1, values=load_values(str(path)))
    mix.check_values()
    first, second = mix.render(queries[0]), mix.render(queries[0])
    assert first is not None and second is not None
    assert (first.PatientID, str(first.PatientName)) == ("P1", "DOE^J")
    assert (second.PatientID, str(second.PatientName)) == ("P2", "ROE^R")
    assert first.ScheduledProcedureStepSequence[0].Modality in ("CT", "MR")
    assert queries[0].identifier.PatientID in ("", None)  # the fixed shape: a return key


def test_each_send_carries_the_next_patient_id(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    with bundled_worklist(tmp_path, ["--log-format", "json"]) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, "-k", "PatientID={patient_id}",
                     "-k", "PatientName=", "--values", str(PATIENTS), "--values-once",
                     "-n", "4", "--duration", "20", "--no-progress",
                     "--json", str(report_path)])  # fmt: skip
        lines = server.json_lines()
    report = json.loads(report_path.read_text())
    assert code == 0
    assert report["queries"] == len(SAMPLE_IDS)  # --values-once: the rows ended the run
    assert report["responses_per_query"] == {"cli": 1.0}  # each ID matches its one item
    asked = [
        line["keys"]["match"]["PatientID"] for line in lines if line.get("event") == "audit.query"
    ]
    assert sorted(asked) == sorted(SAMPLE_IDS)
    assert report["generator"]["encoded_queries"] == len(SAMPLE_IDS)
    assert report["generator"]["encode_us_per_query"] > 0


def test_a_row_drawn_again_reuses_its_encoding(tmp_path: Path) -> None:
    """88 sends over 22 rows: 22 identifiers built and encoded, 88 sent, each ID 4 times."""
    report_path = tmp_path / "report.json"
    with bundled_worklist(tmp_path, ["--log-format", "json"]) as server:
        code = main(["127.0.0.1", str(server.port), "-aec", AE, "-k", "PatientID={patient_id}",
                     "--values", str(PATIENTS), "-n", "3", "--count", "88", "--no-progress",
                     "--json", str(report_path)])  # fmt: skip
        lines = server.json_lines()
    generator = json.loads(report_path.read_text())["generator"]
    assert code == 0
    assert (generator["encoded_queries"], generator["built_queries"]) == (88, 22)
    asked = Counter(
        line["keys"]["match"]["PatientID"] for line in lines if line.get("event") == "audit.query"
    )
    assert asked == dict.fromkeys(SAMPLE_IDS, 4)
