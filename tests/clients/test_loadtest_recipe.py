"""The load-test recipes of README.md and docs/clients.md work as written against the
README's own server (#14.12): ``aiodicom-worklist`` with its bundled config and sample.

Each ``aiodicom-loadtest`` command of a ``sh`` block that targets this machine runs
as written, from a folder holding the repository's ``config/``, with two changes: the
server's free port instead of 11112, and ``--duration 2`` appended (the last
``--duration`` wins) so that a 60 s recipe takes 2 s. Commands aimed at another host
(``pacs.example``) are not run.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from clients.loadtest.__main__ import main
from clients.loadtest.config import load_yaml
from tests.clients.bundled_worklist import REPO, bundled_worklist

DOCUMENTS = (REPO / "README.md", REPO / "docs" / "clients.md")


def loadtest_commands(path: Path) -> list[list[str]]:
    """The arguments of every ``aiodicom-loadtest`` command in the ``sh`` blocks."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0].endswith("aiodicom-loadtest"):
                commands.append(words[1:])
    return commands


def local_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in DOCUMENTS:
        for args in loadtest_commands(path):
            host = args[0] if args and not args[0].startswith("-") else None
            if host in (None, "127.0.0.1"):
                found.append((f"{path.name}: {shlex.join(args)}", args))
    return found


def test_the_documents_hold_the_readme_recipe() -> None:
    recipe = (
        "-c config/loadtest.yaml -k PatientID={patient_id} -k PatientName= "
        "--values config/loadtest-patients.csv --mode open --warmup 5s "
        "--stage 10s:300 --stage 40s:300 --stage 5s:0 --threshold p99<100ms "
        "--threshold error_rate<1% --json report.json --report-html loadtest-report.html"
    )
    assert recipe.split() in loadtest_commands(REPO / "README.md")
    assert len(local_commands()) >= 4


def test_sample_config_targets_the_readme_server() -> None:
    target, queries = load_yaml(str(REPO / "config" / "loadtest.yaml"))
    assert (target["host"], target["port"], target["called_ae"]) == ("127.0.0.1", 11112, "WLMSCP")
    assert {query.model.value for query in queries} == {"worklist"}  # all the server serves


@pytest.mark.parametrize(
    ("where", "args"), local_commands(), ids=[where[:70] for where, _ in local_commands()]
)
def test_recipe_works_against_the_readme_server(
    where: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").symlink_to(REPO / "config")  # relative -c config/... as written
    monkeypatch.chdir(tmp_path)
    report_path = tmp_path / "report.json"
    with bundled_worklist(tmp_path) as server:
        if args[0] == "127.0.0.1":
            argv = ["127.0.0.1", str(server.port), *args[2:]]
        else:
            argv = ["127.0.0.1", str(server.port), *args]
        if "--json" not in argv:
            argv += ["--json", str(report_path)]
        code = main([*argv, "--duration", "2", "--no-progress"])
    report = json.loads(report_path.read_text())
    assert report["errors"] == 0, (where, report)
    assert code == 0, where
    assert report["queries"] > 0
    # every query of the mix finds something in the bundled sample worklist
    assert all(mean > 0 for mean in report["responses_per_query"].values()), report
