"""A counting PostgreSQL wire-protocol proxy: the SQL statements a server really sends.

Why a proxy: ``pg_stat_statements`` needs ``shared_preload_libraries`` (empty on the CI
service, and a restart on any server); ``log_statement = 'all'`` needs the server's log,
which on a shared service is stderr of another process; an asyncpg query logger needs an
app hook and does not see PostGraphile. The proxy needs none of that: the server under
test is started with its database URL pointed here, and every client message is parsed:

- a simple-protocol ``Query`` (``Q``) is one statement (asyncpg's ``execute()`` with no
  arguments, ``BEGIN``/``COMMIT``, asyncpg's pool reset on release);
- an extended-protocol ``Execute`` (``E``) is one statement, whose text is the one its
  portal was bound (``B``) to, from the ``Parse`` (``P``) that prepared it;
- a round trip is a ``Q`` or a ``Sync`` (``S``).

It answers ``N`` to an SSL or GSS encryption request so the stream stays readable: use it
only for the counting pass, never for a timed run. Runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from bench.database import split_url

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
RESET_MARKERS = ("pg_advisory_unlock_all", "RESET ALL")


def is_pool_reset(sql: str) -> bool:
    return any(marker in sql for marker in RESET_MARKERS)


@dataclass
class Tally:
    statements: Counter[str] = field(default_factory=Counter)  # SQL text -> executions
    round_trips: int = 0

    def copy(self) -> Tally:
        return Tally(Counter(self.statements), self.round_trips)

    def __sub__(self, other: Tally) -> Tally:
        diff = Counter(self.statements)
        diff.subtract(other.statements)
        return Tally(diff, self.round_trips - other.round_trips)


def _cstring(payload: bytes, start: int) -> tuple[str, int]:
    end = payload.index(b"\0", start)
    return payload[start:end].decode(errors="replace"), end + 1


class _ClientStream:
    """Parses the frontend messages of one connection (after start-up) into a Tally."""

    def __init__(self, tally: Tally, lock: threading.Lock) -> None:
        self._tally, self._lock = tally, lock
        self._buffer = bytearray()
        self._prepared: dict[str, str] = {}
        self._portals: dict[str, str] = {}

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 5:
            kind = self._buffer[0:1]
            (length,) = struct.unpack_from("!i", self._buffer, 1)
            if len(self._buffer) < 1 + length:
                return
            payload = bytes(self._buffer[5:1 + length])
            del self._buffer[:1 + length]
            self._message(kind, payload)

    def _message(self, kind: bytes, payload: bytes) -> None:
        if kind == b"P":
            name, at = _cstring(payload, 0)
            self._prepared[name] = " ".join(_cstring(payload, at)[0].split())
        elif kind == b"B":
            portal, at = _cstring(payload, 0)
            self._portals[portal] = self._prepared.get(_cstring(payload, at)[0], "?")
        elif kind == b"E":
            self._count(self._portals.get(_cstring(payload, 0)[0], "?"), round_trip=False)
        elif kind == b"Q":
            self._count(" ".join(_cstring(payload, 0)[0].split()), round_trip=True)
        elif kind == b"S":
            with self._lock:
                self._tally.round_trips += 1

    def _count(self, sql: str, *, round_trip: bool) -> None:
        with self._lock:
            self._tally.statements[sql[:200]] += 1
            self._tally.round_trips += round_trip


class CountingProxy:
    """``with CountingProxy(url) as proxy:`` then point a server at ``proxy.url``."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url
        self._host, port, _ = split_url(upstream_url)
        self._port = port or 5432
        self._tally = Tally()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pgwire-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``upstream_url`` re-pointed at the proxy (TCP on 127.0.0.1)."""
        parts = urlsplit(self.upstream_url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc, query=""))

    def snapshot(self) -> Tally:
        with self._lock:
            return self._tally.copy()

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting proxy did not start")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self._host}/.s.PGSQL.{self._port}")
        return await asyncio.open_connection(self._host, self._port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            startup = await self._startup(reader, writer)
            up_reader, upstream = await self._upstream()
            upstream.write(startup)
            stream = _ClientStream(self._tally, self._lock)
            pipes = [asyncio.ensure_future(self._pipe(reader, upstream, stream)),
                     asyncio.ensure_future(self._pipe(up_reader, writer, None))]
            _, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    w.close()

    @staticmethod
    async def _startup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """The start-up message, after refusing encryption requests."""
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            rest = await reader.readexactly(length - 8)
            if code not in (SSL_REQUEST, GSSENC_REQUEST):
                return head + rest
            writer.write(b"N")
            await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    stream: _ClientStream | None) -> None:
        while data := await reader.read(65536):
            if stream is not None:
                stream.feed(data)
            writer.write(data)
            await writer.drain()
