"""The README's recipes, run exactly as written, against the README's own servers.

The commands are read out of README.md's code blocks, not copied here, so a recipe that
changes is tested as it then reads. They run inside a network namespace of their own
(``unshare --net``, as root, as the test command runs): there the servers take their
default ports 11112, 11113 and 8080 without touching the machine's, and
``config/loadtest.yaml`` reaches 127.0.0.1:11112 as the README says. HOME is a fresh
folder, so the worklist serves a new working copy of the sample, dated from today.
Commands that name a placeholder host or folder (``pacs.example``, ``/path/to/...``,
``/srv/dicom``) are examples of form, not recipes to run.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDERS = ("pacs.example", "/path/to/", "/srv/")
SERVERS = {
    ".venv/bin/aiodicom-worklist": 11112,
    ".venv/bin/aiodicom-qrscp": 11113,
    ".venv/bin/aiodicom-worklist --port 11114 --no-http --hl7-port 2575": 11114,
}

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def _blocks(language: str) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    recipes = text[text.index("## Recipes") : text.index("## Architecture")]
    return re.findall(rf"```{language}\n(.*?)```", recipes, flags=re.S)


def readme_commands() -> list[str]:
    """Each shell command of the recipes, continuation lines joined, comments dropped."""
    commands = []
    for block in _blocks("sh"):
        for command in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", command).strip()
            if command and not command.startswith("#"):
                commands.append(" ".join(command.split()))
    return commands


def _runnable(commands: list[str]) -> tuple[list[str], list[str]]:
    chosen = [c for c in commands if not any(p in c for p in PLACEHOLDERS)]
    servers = [c for c in chosen if c in SERVERS]
    return servers, [c for c in chosen if c not in servers]


def _api_snippet() -> str:
    (snippet,) = [b for b in _blocks("python") if "aiodicom.connect" in b]
    return snippet + (
        "\nimport asyncio, json\n"
        "found = asyncio.run(todays_ct())\n"
        "print(json.dumps([str(ds.PatientName) for ds in found]))\n"
    )


def test_readme_has_the_recipes_the_issue_names() -> None:
    servers, clients = _runnable(readme_commands())
    assert sorted(servers) == sorted(SERVERS)
    kinds = " ".join(clients)
    for needed in ("aiodicom-worklist add", "aiodicom-worklist list", "aiodicom-findscu -W",
                   "aiodicom-findscu -S", "aiodicom-loadtest -c", "mllp_send"):  # fmt: skip
        assert needed in kinds


def test_recipes_run_as_written(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or not Path("/usr/sbin/ip").exists():
        pytest.fail("needs unshare and ip (scripts/test.sh installs util-linux and iproute2)")
    servers, clients = _runnable(readme_commands())
    (tmp_path / "snippet.py").write_text(_api_snippet(), encoding="utf-8")
    lines = ["set -u", "ip link set lo up", "cd " + shlex.quote(str(REPO))]
    for index, server in enumerate(servers):
        port = SERVERS[server]
        lines += [
            f"{server} > {tmp_path}/server{index}.log 2>&1 & echo $! >> {tmp_path}/pids",
            f"for i in $(seq 300); do (echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null && break;"
            " sleep 0.1; done",
        ]
    for index, client in enumerate(clients):
        lines.append(
            f"{client} > {tmp_path}/out{index}.txt 2> {tmp_path}/err{index}.txt;"
            f" echo $? > {tmp_path}/rc{index}"
        )
    lines += [
        f".venv/bin/python {tmp_path}/snippet.py > {tmp_path}/snippet.txt"
        f" 2> {tmp_path}/snippet.err; echo $? > {tmp_path}/snippet.rc",
        f"kill $(cat {tmp_path}/pids); wait",
    ]
    script = tmp_path / "recipes.sh"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(tmp_path / "home"),
           "LANG": "C.UTF-8", "TCP_NODELAY": "1"}  # fmt: skip
    subprocess.run(["unshare", "--net", "bash", str(script)], env=env, timeout=400, check=False,
                   cwd=REPO)  # fmt: skip
    logs = "".join(path.read_text() for path in tmp_path.glob("server*.log"))
    for index, client in enumerate(clients):
        rc = (tmp_path / f"rc{index}").read_text().strip()
        err = (tmp_path / f"err{index}.txt").read_text()
        assert rc == "0", f"{client}\n{err}\n{logs[-3000:]}"
        assert "Traceback" not in err
    outputs = {c: (tmp_path / f"out{i}.txt").read_text() for i, c in enumerate(clients)}
    listed = next(out for c, out in outputs.items() if "aiodicom-worklist list" in c)
    assert listed.strip(), "the sample served by default has items for today"
    worklist = next(out for c, out in outputs.items() if "aiodicom-findscu -W" in c)
    assert json.loads(worklist), "the worklist findscu recipe finds today's items"
    ack = next(out for c, out in outputs.items() if "mllp_send" in c)
    assert "MSA|AA|" in ack, ack
    ordered = next(out for c, out in outputs.items() if "PatientID=HL7P0001" in c)
    assert len(json.loads(ordered)) == 1, "the HL7 order is in the worklist after its ACK"
    study = next(out for c, out in outputs.items() if "aiodicom-findscu -S" in c)
    assert json.loads(study), "the Q/R findscu recipe finds the sample studies"
    assert (tmp_path / "snippet.rc").read_text().strip() == "0", (
        tmp_path / "snippet.err"
    ).read_text()
    assert json.loads((tmp_path / "snippet.txt").read_text()), "the API recipe finds CT items"
    assert "Traceback" not in logs
    if any("--json report.json" in client for client in clients):
        report = json.loads((REPO / "report.json").read_text())
        (REPO / "report.json").unlink()  # the recipe writes it into the working folder
        assert report["queries"] > 0
        assert all(result["passed"] for result in report["thresholds"]), report["thresholds"]
    if any("--report-html loadtest-report.html" in client for client in clients):
        page = (REPO / "loadtest-report.html").read_text(encoding="utf-8")
        (REPO / "loadtest-report.html").unlink()
        assert 'id="latency-over-time"' in page
