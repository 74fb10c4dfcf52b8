"""Helpers for worklist interop tests: our SCP in-process, DCMTK tools as subprocesses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset

from aiodicom.net.server import Server, ServerConfig, serve
from aiodicom.store.worklist import WorklistStore
from aiodicom.worklist.service import WorklistOptions, WorklistService
from tests.clients.peers import DCMTK_ENV, FINDSCU, WLMSCPFS, free_port

__all__ = ["FINDSCU", "WLMSCPFS", "findscu", "our_scp", "wlmscpfs"]


@asynccontextmanager
async def our_scp(root: Path, max_matches: int = 1000) -> AsyncIterator[Server]:
    store = WorklistStore(root)
    service = WorklistService(store, WorklistOptions(max_matches=max_matches))
    config = ServerConfig(ae_title="WLMSCP", accept_called_ae=store.has_ae)
    async with serve(config, service.handlers(), "127.0.0.1", 0, shutdown_deadline=2.0) as server:
        yield server


async def findscu(
    port: int, keys: list[str], out_dir: Path, *extra: str, called_ae: str = "WLMSCP"
) -> tuple[list[Dataset], str]:
    """Run ``findscu -W -X``; return the extracted responses (in order) and its log text."""
    await asyncio.to_thread(_clean, out_dir)
    args = [FINDSCU, "-W", "-v", "-X", "-od", str(out_dir), "-aec", called_ae, *extra]
    for key in keys:
        args += ["-k", key]
    process = await asyncio.create_subprocess_exec(
        *args, "127.0.0.1", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=DCMTK_ENV,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    responses = await asyncio.to_thread(_read_responses, out_dir)
    return responses, output.decode("utf-8", "replace")


def _clean(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("rsp*.dcm"):
        old.unlink()


def _read_responses(out_dir: Path) -> list[Dataset]:
    return [dcmread(path, force=True) for path in sorted(out_dir.glob("rsp*.dcm"))]


def _touch_lockfiles(root: Path) -> None:
    for folder in root.iterdir():
        if folder.is_dir():
            (folder / "lockfile").touch()


@asynccontextmanager
async def wlmscpfs(root: Path) -> AsyncIterator[int]:
    """DCMTK's worklist SCP on ``root`` (-dfr: no lockfile check issues; -csk: keep charset)."""
    await asyncio.to_thread(_touch_lockfiles, root)
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        WLMSCPFS, "-csk", "-dfr", "-dfp", str(root), str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=DCMTK_ENV,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        yield port
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
