"""Relay global ids: base64("<TypeName>:<uuid>"). A bare UUID is accepted as input too."""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from agents.errors import InvalidInput


def encode(type_name: str, raw: UUID) -> str:
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()


def parse(value: str) -> tuple[str | None, UUID]:
    """(type name or None for a bare UUID, uuid); ValueError when it is neither."""
    if len(value) > 200:
        raise ValueError("id too long")
    try:
        return None, UUID(value)
    except ValueError:
        pass
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a global id") from exc
    type_name, _, raw = decoded.partition(":")
    return type_name, UUID(raw)


def decode(value: str, type_name: str, field: str) -> UUID:
    """The uuid inside ``value``; ``InvalidInput`` naming ``field`` unless a ``type_name`` id."""
    try:
        found, raw = parse(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} is not a valid id", field=[field]) from exc
    if found is not None and found != type_name:
        raise InvalidInput(f"{field} is a {found} id, expected a {type_name} id", field=[field])
    return raw
