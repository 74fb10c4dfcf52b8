"""The Q/R SCP application: index a folder, serve C-ECHO, Q/R C-FIND (PS3.4 C.4.1) and
C-STORE into the folder and the index (PS3.4 B.2).

The index is an SQLite file or a PostgreSQL database (``qr.index`` / ``--index``).

:class:`QRApp` owns the store, the folder index (with its watcher) and the server, so the
CLI and the tests start exactly the same thing.
"""

from __future__ import annotations

import asyncio

from aiodicom.config import QRServerConfig
from aiodicom.log import get_logger
from aiodicom.net import Server, ServerConfig
from aiodicom.qr import QROptions, QRService, QRStorage, StorageOptions
from aiodicom.store import MODEL_UIDS, QRIndex, ReceivedFolder, ScanReport, open_qr_store

from ..network import network_policy


def server_config(config: QRServerConfig, extended_negotiation: bytes) -> ServerConfig:
    """The network policy of the ``server`` section.

    ``extended_negotiation``: the SOP class extended negotiation bytes we support for each
    Q/R FIND model; requests are answered AND-ed with them (PS3.7 D.3.3.5).
    """
    supported = dict.fromkeys(MODEL_UIDS, extended_negotiation)
    return network_policy(config.server, extended_negotiation=supported)


class QRApp:
    """Index + service + server, started and stopped together."""

    def __init__(self, config: QRServerConfig, *, reindex: bool = False) -> None:
        self.config = config
        self.reindex = reindex
        self.log = get_logger(app="qrscp")
        url = config.index_url()
        excluded: list[str] = []
        if url is None:  # the embedded SQLite file (and its journals) is not data
            index_file = config.index_path()
            index_file.parent.mkdir(parents=True, exist_ok=True)
            excluded = [str(index_file) + suffix for suffix in ("", "-wal", "-shm", "-journal")]
        self.store = open_qr_store(url or config.index_path())
        self.received = ReceivedFolder(config.storage_folder(), durable=config.storage.fsync)
        self.index = QRIndex(
            config.qr.data,
            self.store,
            exclude=excluded,
            poll_interval=config.qr.poll_interval,
            quiet=self.received.root if config.storage.enabled else None,
        )
        self.storage = QRStorage(
            self.received,
            self.index,
            StorageOptions(
                duplicates=config.storage.duplicates,
                max_instance_size=config.storage.max_instance_size,
            ),
        )
        qr = config.qr
        self.service = QRService(
            self.store,
            QROptions(
                max_matches=qr.max_matches,
                batch_size=qr.batch_size,
                pn_case_sensitive=config.matching.pn_case_sensitive,
                fuzzy_pn=config.matching.fuzzy_pn,
            ),
        )
        self.server = Server(
            server_config(config, self.service.options.extended_negotiation),
            self.service.handlers(),
        )
        self.serve_storage(self.server)

    def serve_storage(self, server: Server) -> None:
        """C-STORE on ``server`` (same port and AE title as C-FIND) unless switched off."""
        storage = self.config.storage
        if storage.enabled:
            self.storage.register(server, storage.sop_classes, storage.transfer_syntaxes)

    def prepare_storage(self) -> None:
        """Create the received folder, drop temporary files a killed server left."""
        if not self.config.storage.enabled:
            return
        try:
            stale = self.received.prepare()
        except OSError as exc:  # C-STOREs will be refused with 0xA700 naming the cause
            self.log.warning(
                "qr_storage_folder_unusable", folder=str(self.received.root), error=str(exc)
            )
            return
        if stale:
            self.log.info("qr_storage_partial_files_removed", count=stale)

    async def start_index(self) -> ScanReport:
        """Check the data folder, clear the index when reindexing, scan it and watch it."""
        if not self.config.qr.data.is_dir():
            from aiodicom.errors import ConfigError

            raise ConfigError(
                self.config.source, "qr.data", "an existing folder", str(self.config.qr.data)
            )
        await asyncio.to_thread(self.prepare_storage)
        if self.reindex and self.config.index_url() is None:
            await asyncio.to_thread(self.store.clear)
        elif self.reindex:  # a shared index: the other nodes' files stay
            await self.index.forget()
        return await self.index.start(watch=self.config.qr.watch)

    async def start(self, host: str | None = None, port: int | None = None) -> ScanReport:
        """Build/refresh the index, start watching, then listen."""
        report = await self.start_index()
        counts = await asyncio.to_thread(self.store.counts)
        self.log.info(
            "qr_index_ready",
            data=str(self.config.qr.data),
            index=self.store.path,
            seconds=round(report.seconds, 3),
            skipped=report.skipped,
            **counts,
        )
        net = self.config.server
        await self.server.start(
            host if host is not None else net.host, port if port is not None else net.port
        )
        return report

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    async def stop(self) -> None:
        """Stop the server, the watcher and close the store."""
        try:
            await self.server.shutdown(5.0)
        finally:
            self.storage.close()
            await self.index.close()
            self.store.close()
