"""Settings are typed, checked at start-up, and all documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SETTINGS, Settings, SettingsError, settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    assert settings_table() in text, "README settings table is stale: paste settings_table()"
    for setting in SETTINGS:
        assert f"`{setting.key}`" in text


@pytest.mark.parametrize(("key", "value"), [
    ("STUDYPILOT_PORT", "eighty"), ("STUDYPILOT_PORT", "-1"), ("STUDYPILOT_DEBUG", "maybe"),
    ("STUDYPILOT_JWT_SECRET", "short"), ("DATABASE_URL", "mysql://x"),
    ("STUDYPILOT_BKT_SLIP", "1.5"), ("STUDYPILOT_LLM_TIMEOUT_S", "0"),
])
def test_bad_value_names_the_key(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        Settings.from_env({key: value})


def test_pool_bounds_are_checked() -> None:
    with pytest.raises(SettingsError, match="STUDYPILOT_DB_POOL_MIN"):
        Settings.from_env({"STUDYPILOT_DB_POOL_MIN": "20", "STUDYPILOT_DB_POOL_MAX": "5"})


def test_values_are_parsed() -> None:
    s = Settings.from_env({"STUDYPILOT_PORT": "9000", "STUDYPILOT_DEBUG": "true",
                           "DATABASE_URL": "postgres://u@h/db"})
    assert (s.port, s.debug, s.database_url) == (9000, True, "postgresql://u@h/db")
