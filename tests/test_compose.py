"""Structure of docker-compose.yml and the Dockerfile (no Docker engine is needed).

Checks: both SCP services exist with their ports, every bind-mounted host path exists
and is mounted where the config expects it, each command and health check runs a
console script declared in pyproject.toml whose target imports, and the Dockerfile
builds from python:3.11-slim with ``pip install .``. The worklist's web page and REST
API are published, off loopback inside the container, with the token compose requires
from the environment (#14.29).
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiodicom.errors import ConfigError
from aiodicom.webapi.settings import TOKEN_ENV, is_loopback

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_PORTS = {"worklist": "11112:11112", "qrscp": "11113:11113"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["scripts"])


def _entry_point_imports(target: str) -> bool:
    module_name, _, function = target.partition(":")
    module = importlib.import_module(module_name)
    return callable(getattr(module, function, None))


def _flag(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """``environment:`` in its map or its list (``KEY=value``) form."""
    value = service.get("environment") or {}
    if isinstance(value, list):
        return dict(item.split("=", 1) for item in value)
    return {str(k): str(v) for k, v in value.items()}


def _host_path(service: dict[str, Any], in_container: str) -> Path:
    """The repository file bind-mounted at ``in_container``."""
    source, _mode = _mounts(service).get(in_container, ("", ""))
    assert source.startswith("."), f"{in_container} is not bind-mounted from the repository"
    return ROOT / source


def test_services_and_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(EXPECTED_PORTS) <= set(services)
    for name, ports in EXPECTED_PORTS.items():
        assert ports in services[name]["ports"]
        command = services[name]["command"]
        assert ports.split(":")[0] in command  # listens on the published port
        assert "0.0.0.0" in command  # reachable from outside the container


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Target in the container -> (source, mode) of each ``volumes:`` entry."""
    mounts = {}
    for volume in service["volumes"]:
        source, target, *mode = str(volume).split(":")
        mounts[target] = (source, mode[0] if mode else "rw")
    return mounts


def _data_in_container(name: str, service: dict[str, Any]) -> str:
    """Where the service's mounted config puts its data folder (relative to the config)."""
    config_in_container = str(_flag(service["command"], "--config"))
    config = yaml.safe_load(_host_path(service, config_in_container).read_text())
    section = "worklist" if name == "worklist" else "qr"
    return str(Path(config_in_container).parent / config[section]["data"])


def test_volumes_exist_and_match_the_configs(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        mounts = _mounts(service)
        for source, _mode in mounts.values():
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} missing"
            else:
                assert source in named, f"{name}: undeclared volume {source}"
        assert _data_in_container(name, service) in mounts, f"{name}: data folder not mounted"


def test_commands_and_healthchecks_are_entry_points(
    compose: dict[str, Any], scripts: dict[str, str]
) -> None:
    for name, service in compose["services"].items():
        program = service["command"][0]
        assert program in scripts and _entry_point_imports(scripts[program])
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD"
        assert test[1] in scripts and _entry_point_imports(scripts[test[1]])
        port = EXPECTED_PORTS[name].split(":")[1]
        assert port in test, f"{name}: health check probes another port"
        for key in ("interval", "timeout", "retries"):
            assert key in service["healthcheck"]


def test_dockerfile_structure(scripts: dict[str, str]) -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install") and '"."' not in line for line in lines)
    assert any('pip install ".[metrics]"' in line for line in lines)
    for line in lines:
        if line.startswith("COPY "):
            source = line.split()[1]
            assert (ROOT / source).exists(), source
    expose = " ".join(line for line in lines if line.startswith("EXPOSE")).split()
    assert {"11112", "11113", "8080"} <= set(expose)
    health = next(line for line in lines if line.startswith('CMD ["aiodicom-healthcheck"'))
    assert health and "aiodicom-healthcheck" in scripts


def test_web_api_published_with_a_token_from_the_environment(compose: dict[str, Any]) -> None:
    """#14.29: page + REST API reachable from the host; compose refuses to run tokenless."""
    service = compose["services"]["worklist"]
    command = [str(part) for part in service["command"]]
    host, port = _flag(command, "--http-host"), _flag(command, "--http-port") or "8080"
    assert host is not None and not is_loopback(host), "API bound to loopback in the container"
    assert "--no-http" not in command
    assert "--http-token" not in command, "the token would show in the process list"
    published = [str(p) for p in service["ports"] if str(p).rsplit(":", 1)[-1] == port]
    assert published, f"container port {port} (the API) is not published"
    token = _environment(service).get(TOKEN_ENV, "")
    assert re.fullmatch(r"\$\{" + TOKEN_ENV + r":\?[^}]+\}", token), (
        f"{TOKEN_ENV} must be passed as ${{{TOKEN_ENV}:?message}} so compose refuses to "
        f"start without it, got {token!r}"
    )


def test_compose_worklist_command_needs_and_accepts_the_env_token(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server, given the compose command, refuses it without the token, runs with it."""
    from servers.worklist.__main__ import build_config, parse_args

    service = compose["services"]["worklist"]
    command = [str(part) for part in service["command"]]
    config = _flag(command, "--config")
    assert config is not None
    command[command.index("--config") + 1] = str(_host_path(service, config))
    args = parse_args(command[1:])
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"http\.token"):
        build_config(args)
    monkeypatch.setenv(TOKEN_ENV, "compose-token")
    built = build_config(args)
    assert built.http.enabled and not is_loopback(built.http.host)
    assert built.http.token is None  # no token in the mounted config file: it comes from env


def _dockerfile_instructions() -> list[str]:
    """Instructions with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def test_worklist_data_is_writable_by_the_container_user(compose: dict[str, Any]) -> None:
    """#14.30: the REST API writes items into the data folder, as user ``dicom``.

    So the folder is mounted read-write from a named volume, which compose seeds from
    the image on first use, ownership included: the image's copy must be chowned to
    the user the container runs as, by root (before ``USER``), after it is copied in.
    """
    service = compose["services"]["worklist"]
    data = _data_in_container("worklist", service)
    source, mode = _mounts(service)[data]
    assert "ro" not in mode.split(","), f"{data} is mounted read-only"
    assert source in (compose.get("volumes") or {}), f"{data}: not a declared named volume"
    steps = _dockerfile_instructions()
    user_step = max(i for i, step in enumerate(steps) if step.startswith("USER "))
    user = steps[user_step].split()[1]
    copied = max(
        i for i, step in enumerate(steps)
        if step.startswith("COPY ") and data.startswith(step.split()[-1].rstrip("/"))
    )  # fmt: skip
    chown = re.compile(rf"chown -R {re.escape(user)}(:\S+)? (\S+ )*{re.escape(data)}(/| |$)")
    chowned = [i for i, step in enumerate(steps) if step.startswith("RUN") and chown.search(step)]
    assert chowned and copied < chowned[-1] < user_step, (
        f"the image's {data} must be chowned to {user} after COPY and before USER"
    )
