"""End to end: ``studypilot serve`` as a subprocess on the embedded default, over HTTP and
a real websocket; SIGTERM stops it and its embedded PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

BIN = Path(sys.executable).parent / "studypilot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(STUDYPILOT_DATA_DIR=str(data_dir), STUDYPILOT_LOG_LEVEL="warning")
    env.pop("STUDYPILOT_JWT_SECRET", None)
    return env


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path,
                 timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not become healthy")


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = env_for(data_dir)
        self.log = data_dir.parent / f"serve-{self.port}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--port", str(self.port)], env=self.env,
                stdout=out, stderr=subprocess.STDOUT)
        self.startup_s = wait_healthy(self.base, self.proc, self.log)

    def stop(self) -> int:
        """SIGTERM; uvicorn shuts down gracefully, then re-raises the signal (exit -15)."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        return 0 if code == -signal.SIGTERM else code


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "data"


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[Server]:
    srv = Server(data_dir)
    print(f"\nserve healthy after {srv.startup_s:.2f}s (first run, new data dir)")
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    out = subprocess.run([str(BIN), "token", "e2e@example.com"], env=server.env,
                         capture_output=True, check=True, text=True)
    return out.stdout.strip()


def test_graphiql_served_offline(server: Server) -> None:
    page = httpx.get(f"{server.base}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "/graphiql-assets/graphiql.min.js" in page.text
    assert "https://" not in page.text
    asset = httpx.get(f"{server.base}/graphiql-assets/graphiql.min.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_session_over_http(server: Server, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    query = ('mutation { startSession(input: {examType: "AP Biology", syllabus: "Unit 1: Cells"}) '
             "{ session { id state } userErrors { code } } }")
    body = httpx.post(f"{server.base}/graphql", json={"query": query}, headers=headers).json()
    assert body["data"]["startSession"]["session"]["state"] == "INTAKE"
    me = httpx.post(f"{server.base}/graphql", json={"query": "{ me { email } sessions { "
                                                    "totalCount } }"}, headers=headers).json()
    assert me["data"] == {"me": {"email": "e2e@example.com"}, "sessions": {"totalCount": 1}}


async def test_websocket_connection_init_auth(server: Server, token: str) -> None:
    url = f"ws://127.0.0.1:{server.port}/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {token}"}}))
        ack = await ws.recv()
        assert isinstance(ack, str), "text frames: browsers' graphql-ws cannot read binary"
        assert json.loads(ack)["type"] == "connection_ack"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": "Bearer forged"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 4403
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send("{not json")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 4400


def test_sigterm_stops_cleanly_and_restart_is_fast(server: Server, data_dir: Path) -> None:
    assert server.stop() == 0
    pgdata = data_dir / "pgdata"
    assert not (pgdata / "postmaster.pid").exists(), "embedded PostgreSQL left running"
    again = Server(data_dir)
    try:
        print(f"\nserve healthy after {again.startup_s:.2f}s (later run, existing data dir)")
        assert httpx.get(f"{again.base}/healthz").json() == {"status": "ok"}
    finally:
        assert again.stop() == 0
