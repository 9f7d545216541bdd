"""Refuse and record every network connection that is not to this machine.

Installed by ``tests/__init__.py``, so it is in place before any test module or conftest
imports litellm or anything else. Unix sockets and loopback (127.0.0.0/8, ::1) pass;
anything else raises ``NonLoopbackConnection`` and is recorded, so a test fails even if
the code under test swallowed the error.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

attempts: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NonLoopbackConnection(ConnectionRefusedError):
    pass


def _loopback_host(host: Any) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _loopback_host(host):
        attempts.append(f"connect to {address!r}")
        raise NonLoopbackConnection(f"test suite tried to reach {address!r}")


def _connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode()
    if not _loopback_host(host):
        attempts.append(f"resolve {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"test suite tried to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
