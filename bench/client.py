"""HTTP on loopback: the request a workload sends, one-off requests, and readiness polls.

The load itself is sent by ``bench.loadgen``; this module is for the few requests around
it (checking the answers, polling until a server is ready, counting statements).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def graphql(cls, query: str, variables: Mapping[str, object],
                headers: Mapping[str, str] | None = None) -> HttpRequest:
        body = orjson.dumps({"query": query, "variables": dict(variables)})
        return cls("POST", "/graphql", body,
                   {"Content-Type": "application/json", **(headers or {})})

    def raw(self, host: str) -> bytes:
        """The whole HTTP/1.1 keep-alive request, as sent on the wire."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body or self.method == "POST":
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


class Session:
    """A keep-alive connection to ``base_url`` for sequential requests."""

    def __init__(self, base_url: str, timeout: float = 10) -> None:
        parts = urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                                timeout=timeout)

    def send(self, request: HttpRequest) -> tuple[int, bytes]:
        self._conn.request(request.method, request.path, body=request.body or None,
                           headers=dict(request.headers))
        response = self._conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._conn.close()


def fetch(base_url: str, request: HttpRequest, timeout: float = 10) -> tuple[int, bytes]:
    session = Session(base_url, timeout)
    try:
        return session.send(request)
    finally:
        session.close()


def wait_ready(base_url: str, request: HttpRequest, alive: Callable[[], bool],
               timeout: float = 120, interval: float = 0.02) -> None:
    """Poll until ``request`` answers 200; ``RuntimeError`` if the process dies or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the process exited before it was ready")
        try:
            if fetch(base_url, request, timeout=2)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(interval)
    raise RuntimeError(f"not ready after {timeout:.0f}s")
