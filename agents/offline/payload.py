"""Reading the agent's input document leniently: a missing field or a value of the wrong
type reads as a default (clipped, clamped), never as an error."""

from __future__ import annotations

from typing import Any

from agents.offline.text import clip, normalize


def as_int(value: object, default: int) -> int:
    """``value`` as an int (bools and junk read as ``default``)."""
    if isinstance(value, bool):
        return default
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError, OverflowError):
        return default


def read_text(doc: dict[str, Any], key: str) -> str:
    """Field ``key`` as clean text (``""`` when missing)."""
    return normalize(doc.get(key))


def read_name(doc: dict[str, Any], key: str, default: str) -> str:
    """Field ``key`` as a one-line name of at most 200 characters, else ``default``."""
    return clip(" ".join(read_text(doc, key).split()), 200) or default


def read_int(doc: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    """Field ``key`` as an int clamped to ``low``..``high``."""
    return max(low, min(high, as_int(doc.get(key, default), default)))


def read_names(doc: dict[str, Any], key: str) -> list[str]:
    """Field ``key`` as up to 50 one-line names (a single string is a list of one)."""
    raw = doc.get(key)
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    return [n for n in (clip(" ".join(normalize(i).split()), 200) for i in items[:50]) if n]
