"""The suite's network guard itself: it must refuse and record a non-loopback connection."""

from __future__ import annotations

import socket

import pytest

from tests import network_guard


def test_guard_refuses_and_records_outside_connections() -> None:
    before = len(network_guard.attempts)
    with socket.socket() as s, pytest.raises(network_guard.NonLoopbackConnection):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed, never reached
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("api.openai.com", 443)
    assert network_guard.attempts[before:] == ["connect to ('192.0.2.1', 443)",
                                               "resolve 'api.openai.com'"]
    del network_guard.attempts[before:]  # recorded on purpose here; not a leak


def test_guard_lets_loopback_through() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
