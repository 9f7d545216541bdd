"""Load generators: a fixed number of keep-alive HTTP/1.1 connections, each sending the
same request again as soon as the previous answer arrives, for a fixed time (a closed
loop: concurrency c means c requests in flight).

``wrk`` is preferred (Debian package ``wrk``): one C thread, so it takes little of the
cores the servers need; a Lua script sets the POST body and headers and prints the
summary as JSON. Without it, ``AsyncioLoad`` does the same in this process (uvloop when
installed); it costs more CPU, so its numbers sit lower on a small machine. The output
says which one was used.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from bench.client import HttpRequest


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect/read/write failures, timeouts and 4xx/5xx answers

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadGenerator(Protocol):
    name: str

    def run(self, base_url: str, request: HttpRequest, concurrency: int,
            duration_s: float) -> LoadResult: ...


WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "errors": %d, ' ..
    '"p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "max_us": %.0f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def wrk_script(request: HttpRequest) -> str:
    lines = [f"wrk.method = {_lua_string(request.method)}",
             f"wrk.path = {_lua_string(request.path)}",
             f"wrk.body = {_lua_string(request.body.decode())}"]
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}"
              for k, v in request.headers.items()]
    return "\n".join(lines) + "\n" + WRK_DONE


class Wrk:
    name = "wrk"

    def __init__(self, binary: str) -> None:
        self.binary = binary
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
        found = re.search(r"wrk (\S+)", out.stdout + out.stderr)
        self.version = found.group(1) if found else "unknown"

    def run(self, base_url: str, request: HttpRequest, concurrency: int,
            duration_s: float) -> LoadResult:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
            script.write(wrk_script(request))
            script.flush()
            argv = [self.binary, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s",
                    "--timeout", "10s", "-s", script.name, base_url + request.path]
            out = subprocess.run(argv, capture_output=True, text=True, check=False,
                                 timeout=duration_s + 60)
        found = re.search(r"^BENCH_JSON (.*)$", out.stdout, re.MULTILINE)
        if out.returncode != 0 or found is None:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
        raw = orjson.loads(found.group(1))
        seconds = raw["duration_us"] / 1e6
        return LoadResult(raw["requests"], seconds, raw["requests"] / seconds,
                          raw["p50_us"] / 1e3, raw["p90_us"] / 1e3, raw["p99_us"] / 1e3,
                          raw["max_us"] / 1e3, raw["errors"])


class AsyncioLoad:
    name = "asyncio (bench.loadgen.AsyncioLoad)"
    version = "n/a"

    def run(self, base_url: str, request: HttpRequest, concurrency: int,
            duration_s: float) -> LoadResult:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(_load(base_url, request, concurrency, duration_s))
        return uvloop.run(_load(base_url, request, concurrency, duration_s))


async def _load(base_url: str, request: HttpRequest, concurrency: int,
                duration_s: float) -> LoadResult:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = request.raw(f"{host}:{port}")
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    deadline = started + duration_s
    await asyncio.gather(*(_connection(host, port, raw, deadline, latencies, errors)
                           for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e3

    return LoadResult(len(latencies), elapsed, len(latencies) / elapsed, pct(50), pct(90),
                      pct(99), pct(100), sum(errors.values()))


async def _connection(host: str, port: int, raw: bytes, deadline: float,
                      latencies: list[float], errors: Counter[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (sent := time.perf_counter()) < deadline:
            writer.write(raw)
            status, keep_alive = await _response(reader)
            latencies.append(time.perf_counter() - sent)
            if status >= 400:
                errors["status"] += 1
            if not keep_alive:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    except (ConnectionError, asyncio.IncompleteReadError):
        errors["connection"] += 1
    finally:
        writer.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; (status, whether the connection stays open)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in head[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() != "close"


def choose(preference: str) -> LoadGenerator:
    """``wrk`` when asked for or available ("auto"), else the asyncio generator."""
    binary = shutil.which("wrk")
    if preference == "wrk" and binary is None:
        raise RuntimeError("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    if preference in ("wrk", "auto") and binary is not None:
        return Wrk(binary)
    return AsyncioLoad()


def describe(generator: LoadGenerator) -> str:
    version = getattr(generator, "version", "n/a")
    return f"{generator.name} {version}" if version != "n/a" else generator.name

