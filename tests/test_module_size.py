"""The project's rule: every Python module stays at 500 lines or fewer (split by concept)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("aiodicom", "servers", "clients", "config", "bench", "tests", "scripts")
LIMIT = 500


def test_no_module_is_longer_than_500_lines() -> None:
    modules = [path for folder in FOLDERS for path in (ROOT / folder).rglob("*.py")]
    assert len(modules) > 100  # the folders were found
    too_long = {
        str(path.relative_to(ROOT)): count
        for path in modules
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert too_long == {}
