"""Relay connections: opaque cursors, capped page sizes."""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

import strawberry

from agents.errors import InvalidInput

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


def encode_cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, field: str = "after") -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{field} is not a cursor from this API", field=[field]) from exc


def page_size(first: int | None, cap: int, default: int = 20) -> int:
    if first is None:
        return min(default, cap)
    if first < 0:
        raise InvalidInput("first must not be negative", field=["first"])
    if first > cap:
        raise InvalidInput(f"first must be at most {cap}", field=["first"])
    return first
