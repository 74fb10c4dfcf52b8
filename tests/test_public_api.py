"""The apps in ``servers/`` and ``clients/`` use only aiodicom's public API.

Every ``aiodicom`` import in an app names ``aiodicom`` itself or one public name below it
(``aiodicom.<package>``), never a module inside a package, and every imported name is in
that package's ``__all__``. Relative imports (within an app) are the app's own business.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP_FOLDERS = ("servers", "clients")
APP_NAMESPACES = ("aiodicom.servers", "aiodicom.clients")


def _app_files() -> list[Path]:
    return sorted(path for folder in APP_FOLDERS for path in (REPO / folder).rglob("*.py"))


def _aiodicom_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every absolute ``aiodicom`` import in ``path``."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, [alias.name for alias in node.names])]
        elif isinstance(node, ast.Import):
            modules = [(alias.name, []) for alias in node.names]
        else:
            continue
        for module, names in modules:
            if module.split(".")[0] == "aiodicom" and not module.startswith(APP_NAMESPACES):
                found.append((node.lineno, module, names))
    return found


def public_api_violations(path: Path) -> list[str]:
    """What in ``path`` reaches past the public API, one line each (empty when clean)."""
    problems: list[str] = []
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    for line, module, names in _aiodicom_imports(path):
        if module.count(".") > 1:
            problems.append(f"{where}:{line}: imports private module {module}")
            continue
        public = set(getattr(importlib.import_module(module), "__all__", ()))
        for name in names:
            if name not in public:
                problems.append(f"{where}:{line}: {module}.{name} is not in its __all__")
    return problems


def test_app_files_are_found() -> None:
    files = _app_files()
    assert any(path.parts[-3:] == ("servers", "worklist", "__main__.py") for path in files)
    assert any(path.parts[-3:] == ("clients", "findscu", "run.py") for path in files)
    assert sum(len(_aiodicom_imports(path)) for path in files) > 20


@pytest.mark.parametrize("path", _app_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_app_imports_only_public_api(path: Path) -> None:
    assert public_api_violations(path) == []


def test_checker_flags_private_module_and_unexported_name(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "from aiodicom.net.client import connect\n"
        "from aiodicom.net import connect as ok\n"
        "from aiodicom.store import FolderLoader\n"
        "import aiodicom.proto.pdus\n"
        "from .sibling import thing\n",
        encoding="utf-8",
    )
    problems = public_api_violations(app)
    assert [problem.split(": ", 1)[1] for problem in problems] == [
        "imports private module aiodicom.net.client",
        "aiodicom.store.FolderLoader is not in its __all__",
        "imports private module aiodicom.proto.pdus",
    ]


@pytest.mark.parametrize(
    "package",
    ["aiodicom", "aiodicom.config", "aiodicom.errors", "aiodicom.log", "aiodicom.matching",
     "aiodicom.net", "aiodicom.ops", "aiodicom.proto", "aiodicom.qr", "aiodicom.resources",
     "aiodicom.store", "aiodicom.webapi", "aiodicom.worklist"],
)  # fmt: skip
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert exported and len(exported) == len(set(exported))
    assert [name for name in exported if not hasattr(module, name)] == []
