"""SQL statements per request, counted on the wire (``bench.pgwire``).

For each server: a separate instance is started with its database URL pointed at the
counting proxy (never the instance that is timed). Per request label: a warm-up (one
second at concurrency 16, so every pooled connection is open and has prepared its
statements, then 20 sequential requests: first-request costs such as the user upsert
are not the steady state), then ``n`` sequential requests, then an idle window as long
as the busy one; what the idle window counts (background work) is subtracted, per SQL
text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench import servers
from bench.client import HttpRequest, Session
from bench.pgwire import CountingProxy, Tally, is_pool_reset

WARMUP_REQUESTS = 20
Warm = Callable[[str, HttpRequest], object]  # (base URL, request): load to fill the pools


def _per_request(busy: Tally, idle: Tally, n: int) -> dict[str, Any]:
    by_sql = {sql: (busy.statements[sql] - idle.statements.get(sql, 0)) / n
              for sql in busy.statements}
    by_sql = {sql: round(v, 3) for sql, v in by_sql.items() if v > 0.005}
    resets = sum(v for sql, v in by_sql.items() if is_pool_reset(sql))
    total = sum(by_sql.values())
    return {
        "statements": round(total, 3),
        "pool_resets": round(resets, 3),
        "app_statements": round(total - resets, 3),
        "round_trips": round((busy.round_trips - idle.round_trips) / n, 3),
        "by_sql": [{"sql": sql, "per_request": v}
                   for sql, v in sorted(by_sql.items(), key=lambda kv: -kv[1])],
    }


def _measure(proxy: CountingProxy, base_url: str, request: HttpRequest, n: int,
             warm: Warm) -> dict[str, Any]:
    warm(base_url, request)
    session = Session(base_url)
    try:
        for _ in range(WARMUP_REQUESTS):
            session.send(request)
        before = proxy.snapshot()
        started = time.monotonic()
        for _ in range(n):
            status, _ = session.send(request)
            if status != 200:
                raise RuntimeError(f"{base_url}: HTTP {status} while counting statements")
        busy_s = time.monotonic() - started
        middle = proxy.snapshot()
        time.sleep(max(busy_s, 0.5))
        idle = proxy.snapshot() - middle
    finally:
        session.close()
    return _per_request(middle - before, idle, n) | {"requests": n}


def count(database_url: str, names: Sequence[str],
          make: Callable[[str, str], servers.ServerSpec],
          requests: Mapping[str, Mapping[str, HttpRequest]], n: int,
          log_dir: Any, warm: Warm) -> dict[str, dict[str, Any]]:
    """{server: {label: per-request counts}}; ``make(name, url)`` builds a server's spec."""
    found: dict[str, dict[str, Any]] = {}
    with CountingProxy(database_url) as proxy:
        for name in names:
            process = servers.ServerProcess(make(name, proxy.url), log_dir)
            try:
                found[name] = {label: _measure(proxy, process.base_url, by_server[name], n, warm)
                               for label, by_server in requests.items()}
            finally:
                process.stop()
    return found
