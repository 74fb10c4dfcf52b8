"""Packaging: a plain ``pip install .`` gives working apps under the ``aiodicom`` namespace.

The wheel test builds the wheel, installs it with pip into a fresh virtual environment (its
dependencies come from the test venv through a ``.pth`` file, so no download is needed),
and runs ``aiodicom-worklist`` with no argument at all, as the README does, inside a
network namespace of its own: there it may take its default ports 11112 and 8080 without
touching the machine's. A C-ECHO by DCMTK's echoscu must then succeed.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
ECHOSCU = Path("/usr/bin/echoscu")
NAMESPACES = {"aiodicom": "aiodicom", "aiodicom.servers": "servers",
              "aiodicom.clients": "clients", "aiodicom.bundled": "config"}  # fmt: skip


def _setuptools() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as handle:
        tool: dict[str, Any] = tomllib.load(handle)["tool"]["setuptools"]
    return tool


def test_package_list_names_every_package_folder() -> None:
    tool = _setuptools()
    assert tool["package-dir"] == NAMESPACES
    found = set()
    for name, folder in NAMESPACES.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            found.add(".".join([name, *relative.parts]))
    assert set(tool["packages"]) == found


def test_license_is_an_spdx_expression() -> None:
    with (REPO / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    assert project["license"] == "MIT"  # PEP 639; the table form is deprecated


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")  # a copy: no stale build/ folder of the checkout
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    assert "Deprecat" not in build.stdout + build.stderr  # e.g. the old license table
    (path,) = out.glob("aiodicom-*.whl")
    return path


def test_wheel_has_no_generic_top_level_packages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"aiodicom"}
    for shipped in ("aiodicom/bundled/worklist.yaml", "aiodicom/bundled/qrscp.yaml",
                    "aiodicom/bundled/worklist-data/WLMSCP/walk_in_ct.yaml",
                    "aiodicom/bundled/worklist-data/WLMSCP/item_000000.wl",
                    "aiodicom/webapi/openapi.yaml", "aiodicom/webapi/static/app.js",
                    "aiodicom/servers/worklist/__main__.py"):  # fmt: skip
        assert shipped in names


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed by pip (console scripts included)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    (purelib,) = venv.glob("lib/python3*/site-packages")
    deps = [path for path in site.getsitepackages() if Path(path).is_dir()]
    (purelib / "test-deps.pth").write_text("\n".join(deps) + "\n")  # pydicom, aiohttp, ...
    return venv


def _in_netns(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "--net", "sh", "-c", "ip link set lo up && " + script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
        check=False,
    )


@pytest.mark.slow
@pytest.mark.interop
def test_installed_worklist_serves_with_no_arguments(installed: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or not ECHOSCU.exists():
        pytest.fail(
            "unshare (util-linux) and DCMTK echoscu are needed; scripts/test.sh installs them"
        )
    server = installed / "bin" / "aiodicom-worklist"
    lister = f"{server} list --date today"
    script = (
        f"{server} > {tmp_path}/server.log 2>&1 & pid=$!; "
        "for i in $(seq 100); do "
        f"  TCP_NODELAY=1 {ECHOSCU} -aec WLMSCP 127.0.0.1 11112 && ok=1 && break; sleep 0.1; "
        "done; "
        f"{lister} > {tmp_path}/today.txt; "
        'kill $pid; wait $pid; test -n "$ok"'
    )
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(tmp_path / "home"),
           "LANG": "C.UTF-8"}  # fmt: skip
    result = _in_netns(script, env)
    log = (tmp_path / "server.log").read_text()
    assert result.returncode == 0, result.stderr + log
    assert "Traceback" not in log
    today = (tmp_path / "today.txt").read_text().splitlines()
    assert today, "the sample served by default has items for today"
    copy = tmp_path / "home" / ".local" / "share" / "aiodicom" / "worklist-data" / "WLMSCP"
    assert sorted(path.name for path in copy.glob("*.yaml")) == [
        "mr_followup.yaml",
        "walk_in_ct.yaml",
    ]
