"""One run of the harness: its options, its shared fixtures, and its clean-up stack.

Everything a workload starts (processes, databases, temporary directories) is pushed on
``Run.stack``; ``__main__`` closes it on success, failure, Ctrl-C or SIGTERM. Fixtures
that several workloads use (the PostgreSQL server, the seeded database) are made on first
use and shared.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench import database, loadgen
from bench.seed import Seed, seed

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    quick: bool = False
    rounds: int = 5
    duration_s: float = 10.0
    warmup_s: float = 2.0
    concurrencies: tuple[int, ...] = (1, 16, 64)
    servers: tuple[str, ...] = ("studypilot", "studypilot-executor", "floor", "postgraphile")
    workloads: tuple[str, ...] = ()  # empty: all
    loadgen: str = "auto"
    count_requests: int = 200
    startup_rounds: int = 5
    database_url: str | None = None
    embedded: bool = False  # the bench database on an embedded server even if one answers
    studypilot_env: dict[str, str] = field(default_factory=dict)
    autopilot_sessions: int = 1000  # concurrent sessions in the autopilot workload
    out_dir: Path = REPO / "bench" / "results"
    chart: bool = True


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    seed: Seed


class Run:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.stack = ExitStack()
        self.jwt_secret = secrets.token_urlsafe(48)
        self.loadgen = loadgen.choose(options.loadgen)
        self._server: database.PgServer | None = None
        self._database: BenchDatabase | None = None
        self.workdir = Path(".")
        self.load_at_start = os.getloadavg()

    def __enter__(self) -> Run:
        self.workdir = Path(self.stack.enter_context(
            tempfile.TemporaryDirectory(prefix="studypilot-bench-")))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.log("cleaning up: servers, databases, temporary files")
        self.stack.close()

    @staticmethod
    def log(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    def pg_server(self) -> database.PgServer:
        if self._server is None:
            self._server = database.find_server(self.options.database_url, self.workdir,
                                                self.stack, self.options.embedded)
            self.log(f"PostgreSQL {self._server.version} ({self._server.kind})")
        return self._server

    def database(self) -> BenchDatabase:
        """The migrated, seeded bench database (made once per run, dropped at the end)."""
        if self._database is None:
            url = database.create_database(self.pg_server(), self.stack)
            self._database = BenchDatabase(url, seed(url))
            self.log(f"seeded {url.rsplit('/', 1)[-1].split('?')[0]}")
        return self._database

    def token(self) -> str:
        """A bearer token for the seeded user, minted by the app's own Authenticator."""
        from app.auth import Authenticator

        user = self.database().seed
        return Authenticator(self.jwt_secret).mint(user.user_id, user.email, ttl_seconds=86400)
