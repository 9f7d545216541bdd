"""The server processes a run measures: start, wait until ready, stop.

- ``studypilot``: ``studypilot serve`` (uvicorn, uvloop, httptools, log level warning so
  no access log), with the run's JWT secret and only the ``STUDYPILOT_*`` variables the
  run sets (``--studypilot-env``): the app's defaults, pool 2..10 connections.
- ``studypilot-executor``: the same with ``STUDYPILOT_COMPILED_READS=false``: every query
  through strawberry/graphql-core and the DataLoaders (what documents the compiler does
  not cover cost).
- ``floor`` / ``floor-reset``: ``bench.floor_app`` without / with asyncpg's pool reset.
- ``postgraphile``: PostGraphile 4.14.1 from ``bench/postgraphile/node_modules``
  (``npm ci`` there on first use), simple collections only, query log off,
  ``NODE_ENV=production``, pool 10, verifying the same bearer token.

Each process runs in its own session (Ctrl-C reaches only the harness, which stops them);
stopping is SIGTERM, then SIGKILL of its process group after a grace period.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.client import HttpRequest, wait_ready
from bench.database import split_url
from bench.run import REPO

POSTGRAPHILE_DIR = REPO / "bench" / "postgraphile"
HEALTHZ = HttpRequest("GET", "/healthz")
TYPENAME = HttpRequest.graphql("{ __typename }", {})


class Unavailable(Exception):
    """A server cannot run on this machine (e.g. node is missing); the line says why."""


@dataclass(frozen=True)
class ServerSpec:
    name: str
    argv: list[str]
    env: Mapping[str, str]
    ready: HttpRequest
    port: int
    cwd: Path = REPO
    pgdata: Path | None = None  # an embedded PostgreSQL this process starts, if any
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k != "DATABASE_URL" and not k.startswith("STUDYPILOT_")}


def studypilot_bin() -> list[str]:
    script = Path(sys.executable).parent / "studypilot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def studypilot(database_url: str | None, data_dir: Path, secret: str,
               extra_env: Mapping[str, str] | None = None, *,
               name: str = "studypilot") -> ServerSpec:
    port = free_port()
    env = _clean_env() | {"STUDYPILOT_DATA_DIR": str(data_dir), "STUDYPILOT_JWT_SECRET": secret,
                          "STUDYPILOT_LOG_LEVEL": "warning", **(extra_env or {})}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return ServerSpec(
        name, [*studypilot_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env, HEALTHZ, port, pgdata=None if database_url else data_dir.resolve() / "pgdata")


def floor(database_url: str, secret: str, *, reset: bool = False) -> ServerSpec:
    port = free_port()
    argv = [sys.executable, "-m", "bench.floor_app", "--port", str(port),
            "--pool-reset", "default" if reset else "none"]
    env = _clean_env() | {"DATABASE_URL": database_url, "BENCH_JWT_SECRET": secret}
    return ServerSpec("floor-reset" if reset else "floor", argv, env, HEALTHZ, port)


def postgraphile_cli() -> Path:
    """The installed CLI; runs ``npm ci`` once if need be; ``Unavailable`` without node."""
    if shutil.which("node") is None:
        raise Unavailable("node not found (PostGraphile needs node 18+ and npm)")
    cli = POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "cli.js"
    if not cli.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable("npm not found (to install bench/postgraphile)")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=POSTGRAPHILE_DIR,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0 or not cli.exists():
            raise Unavailable(f"npm ci failed in bench/postgraphile: {done.stderr[-500:]}")
    return cli


def postgraphile_version() -> str | None:
    path = POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "package.json"
    return json.loads(path.read_text())["version"] if path.exists() else None


def node_url(database_url: str) -> str:
    """node-postgres spells a unix socket as ``postgres://user@/db?host=/dir``."""
    host, port, dbname = split_url(database_url)
    if not host.startswith("/"):
        return database_url
    user = urlsplit(database_url).username or "postgres"
    return f"postgres://{user}@/{dbname}?host={host}&port={port or 5432}"


def postgraphile(database_url: str, secret: str) -> ServerSpec:
    cli = postgraphile_cli()
    port = free_port()
    argv = ["node", str(cli), "--host", "127.0.0.1", "--port", str(port),
            "--simple-collections", "only", "--disable-query-log", "--max-pool-size", "10",
            "--jwt-secret", secret, "--jwt-verify-audience", ""]
    env = _clean_env() | {"NODE_ENV": "production", "DATABASE_URL": node_url(database_url)}
    return ServerSpec("postgraphile", argv, env, TYPENAME, port, cwd=POSTGRAPHILE_DIR,
                      notes={"version": postgraphile_version() or "?"})


class ServerProcess:
    """A started server; ``startup_s`` is launch to first ready answer."""

    def __init__(self, spec: ServerSpec, log_dir: Path, timeout: float = 120) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}-{spec.port}.log"
        with self.log_path.open("wb") as log:
            launched = time.monotonic()
            self.proc = subprocess.Popen(spec.argv, env=dict(spec.env), cwd=spec.cwd,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            wait_ready(spec.base_url, spec.ready, lambda: self.proc.poll() is None, timeout)
        except RuntimeError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{spec.name} did not start: {exc}\n{tail}") from None
        except BaseException:  # Ctrl-C while waiting: leave nothing running
            self.stop()
            raise
        self.startup_s = time.monotonic() - launched

    @property
    def base_url(self) -> str:
        return self.spec.base_url

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (all its threads)."""
        return process_cpu_seconds(self.proc.pid)

    def settle(self, idle_share: float = 0.1, max_s: float = 30) -> float:
        """Wait (at most ``max_s``) until the process is idle, e.g. done with background
        imports after becoming ready; the seconds waited."""
        started = time.monotonic()
        last = self.cpu_seconds()
        while time.monotonic() - started < max_s:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - last < 0.5 * idle_share:
                break
            last = now
        return time.monotonic() - started

    def stop(self, grace: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of its own session
        except ProcessLookupError:
            pass
        self.proc.wait()
        if self.spec.pgdata is not None:
            stop_postgres(self.spec.pgdata)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def stop_postgres(pgdata: Path, grace: float = 20) -> None:
    """Stop an embedded PostgreSQL a stopped server left running (by its postmaster pid)."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().split()[0])
        # only the postmaster of this data directory, never a process that reused the pid
        if str(pgdata) not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="ignore"):
            return
        os.kill(pid, signal.SIGINT)  # "fast" shutdown
    except (ValueError, IndexError, ProcessLookupError, OSError):
        return
    deadline = time.monotonic() + grace
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_file.exists():
        try:
            os.kill(pid, signal.SIGQUIT)
        except ProcessLookupError:
            pass


NAMES = ("studypilot", "studypilot-executor", "floor", "floor-reset", "postgraphile")


def make(name: str, database_url: str, secret: str, workdir: Path,
         studypilot_env: Mapping[str, str] | None = None) -> ServerSpec:
    """The spec of server ``name`` on ``database_url`` (``Unavailable`` if it cannot run)."""
    if name in ("studypilot", "studypilot-executor"):
        data_dir = workdir / f"studypilot-data-{free_port()}"
        env = dict(studypilot_env or {})
        if name == "studypilot-executor":
            env["STUDYPILOT_COMPILED_READS"] = "false"
        return studypilot(database_url, data_dir, secret, env, name=name)
    if name in ("floor", "floor-reset"):
        return floor(database_url, secret, reset=name == "floor-reset")
    if name == "postgraphile":
        return postgraphile(database_url, secret)
    raise ValueError(f"unknown server {name!r}; known: {', '.join(NAMES)}")
