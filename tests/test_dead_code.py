"""The apps carry no dead entry points: every top-level function of servers/ and clients/
is called in its own module, imported by name from it, or named in pyproject's scripts."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APPS = ("servers", "clients")
FOLDERS = ("aiodicom", "servers", "clients", "tests", "bench", "config")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, importer: str) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")[: -node.level]
    return ".".join([*base, *([node.module] if node.module else [])])


def _references(trees: dict[str, ast.Module]) -> set[tuple[str, str]]:
    """(module, name) pairs used: names loaded in their own module, names imported from a
    module, and ``alias.name`` where ``alias`` is an imported module."""
    used: set[tuple[str, str]] = set()
    for module, tree in trees.items():
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _absolute(node, module)
                for alias in node.names:
                    used.add((source, alias.name))
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                used.add((module, node.id))
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                used.add((aliases[node.value.id], node.attr))
    return used


def _app_module(name: str) -> str:
    """pyproject's ``aiodicom.servers.x`` is the checkout's ``servers.x``."""
    return (
        name.removeprefix("aiodicom.")
        if name.split(".")[1:2] in (["servers"], ["clients"])
        else name
    )


def test_every_app_function_is_used() -> None:
    paths = [path for folder in FOLDERS for path in (REPO / folder).rglob("*.py")]
    trees = {_module_name(path): ast.parse(path.read_text(encoding="utf-8")) for path in paths}
    used = {(_app_module(module), name) for module, name in _references(trees)}
    scripts = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    unused = [
        f"{module}.{node.name}"
        for module, tree in trees.items()
        if module.split(".")[0] in APPS
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (module, node.name) not in used
        and f"{module}:{node.name}" not in scripts.replace("aiodicom.", "")
    ]
    assert unused == []
