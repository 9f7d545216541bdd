"""Settings: read once from the environment, typed, documented.

This is the only module that reads the environment. Every setting is data with its
help text (``SETTINGS``); the README lists them all and a test checks it. A bad value
stops start-up with a ``SettingsError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.datastructures import Secret


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Setting:
    key: str
    field: str
    parse: Callable[[str], Any]
    help: str


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"expected zero or a positive integer, got {value}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError(f"expected zero or a positive number, got {raw!r}")
    return value


def _probability(raw: str) -> float:
    value = float(raw)
    if not 0 < value < 1:
        raise ValueError(f"expected a probability strictly between 0 and 1, got {raw!r}")
    return value


def _percent(raw: str) -> int:
    value = int(raw)
    if not 0 < value <= 100:
        raise ValueError(f"expected 1..100, got {value}")
    return value


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _optional_str(raw: str) -> str | None:
    return raw or None


def _optional_secret(raw: str) -> Secret | None:
    if not raw:
        return None
    if len(raw) < 32:
        raise ValueError("a JWT secret must be at least 32 characters")
    return Secret(raw)


def _database_url(raw: str) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL")
    return raw.replace("postgres://", "postgresql://", 1)


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "database_url", _database_url,
            "PostgreSQL URL. Unset: an embedded PostgreSQL is started in the data dir."),
    Setting("STUDYPILOT_DATA_DIR", "data_dir", Path,
            "Directory for the embedded database and the generated JWT secret."),
    Setting("STUDYPILOT_JWT_SECRET", "jwt_secret", _optional_secret,
            "HS256 secret (32+ chars) for bearer tokens. Unset: generated into the data dir."),
    Setting("STUDYPILOT_JWT_AUDIENCE", "jwt_audience", _optional_str,
            "If set, tokens must carry this `aud` claim (Supabase uses `authenticated`)."),
    Setting("STUDYPILOT_HOST", "host", str,
            "Interface `studypilot serve` binds to (overridden by --host)."),
    Setting("STUDYPILOT_PORT", "port", _positive_int,
            "Port `studypilot serve` listens on (overridden by --port)."),
    Setting("STUDYPILOT_MODEL", "model", str,
            "litellm model for the agents; default the built-in offline model."),
    Setting("STUDYPILOT_MODEL_PLANNER", "model_planner", _optional_str,
            "Model for the planner agent only (default: STUDYPILOT_MODEL)."),
    Setting("STUDYPILOT_MODEL_TUTOR", "model_tutor", _optional_str,
            "Model for the tutor agent and tutor chats (default: STUDYPILOT_MODEL)."),
    Setting("STUDYPILOT_MODEL_QUIZ", "model_quiz", _optional_str,
            "Model for the quiz agent (default: STUDYPILOT_MODEL)."),
    Setting("STUDYPILOT_MODEL_MISCONCEPTION", "model_misconception", _optional_str,
            "Model for the misconception agent (default: STUDYPILOT_MODEL)."),
    Setting("STUDYPILOT_MODEL_FALLBACKS", "model_fallbacks", _csv,
            "Comma-separated models tried in order when the main one keeps failing."),
    Setting("STUDYPILOT_LLM_TIMEOUT_S", "llm_timeout_s", _positive_float,
            "Seconds one model call may take before it counts as a timeout (enforced by us)."),
    Setting("STUDYPILOT_LLM_RETRIES", "llm_retries", _non_negative_int,
            "Retries of a model call after a timeout, rate limit, provider error or invalid "
            "reply (with backoff), before the step fails."),
    Setting("STUDYPILOT_LLM_BACKOFF_S", "llm_backoff_s", _non_negative_float,
            "First backoff between retries in seconds (doubles each retry, with jitter)."),
    Setting("STUDYPILOT_OFFLINE_LATENCY_MS", "offline_latency_ms", _non_negative_int,
            "Simulated latency of the offline model per call, to behave like a remote one."),
    Setting("STUDYPILOT_PLAN_CACHE_TTL_S", "plan_cache_ttl_s", _positive_int,
            "How long a generated plan is reused for the same exam and syllabus."),
    Setting("STUDYPILOT_QUIZ_QUESTIONS", "quiz_questions", _positive_int,
            "Questions per quiz."),
    Setting("STUDYPILOT_CHAT_WINDOW", "chat_window", _positive_int,
            "Most recent chat messages given to the tutor with a new question."),
    Setting("STUDYPILOT_BKT_PRIOR", "bkt_prior", _probability,
            "Bayesian Knowledge Tracing: P(known) before any answer."),
    Setting("STUDYPILOT_BKT_LEARN", "bkt_learn", _probability,
            "BKT: P(learning the skill) at each practice opportunity."),
    Setting("STUDYPILOT_BKT_GUESS", "bkt_guess", _probability,
            "BKT: P(right answer without knowing)."),
    Setting("STUDYPILOT_BKT_SLIP", "bkt_slip", _probability,
            "BKT: P(wrong answer despite knowing)."),
    Setting("STUDYPILOT_MASTERY_THRESHOLD", "mastery_threshold", _percent,
            "Mastery (0..100) at which a topic counts as mastered."),
    Setting("STUDYPILOT_AUTOPILOT_LEASE_S", "autopilot_lease_s", _positive_float,
            "How long a process's claim on a running autopilot session lasts without a "
            "heartbeat; after a crash another process takes over within lease + recovery."),
    Setting("STUDYPILOT_AUTOPILOT_RECOVERY_S", "autopilot_recovery_s", _positive_float,
            "How often each process looks for running sessions whose owner died."),
    Setting("STUDYPILOT_AUTOPILOT_MAX_QUIZZES_PER_TOPIC", "autopilot_max_quizzes_per_topic",
            _positive_int,
            "The autopilot completes the session when every topic is mastered or has been "
            "quizzed this many times."),
    Setting("STUDYPILOT_SHUTDOWN_GRACE_S", "shutdown_grace_s", _positive_float,
            "On SIGTERM, how long running autopilot steps may take to finish and persist."),
    Setting("STUDYPILOT_EVENTS_RECONNECT_S", "events_reconnect_s", _positive_float,
            "Longest wait between attempts to re-open the LISTEN connection after it drops."),
    Setting("STUDYPILOT_EVENTS_CACHE", "events_cache", _positive_int,
            "Recent events kept per watched session, so live subscribers share one read."),
    Setting("STUDYPILOT_IDEMPOTENCY_TTL_S", "idempotency_ttl_s", _positive_int,
            "How long a mutation's response is kept for replay under its Idempotency-Key."),
    Setting("STUDYPILOT_DB_POOL_MIN", "db_pool_min", _non_negative_int,
            "Minimum connections kept in the database pool."),
    Setting("STUDYPILOT_DB_POOL_MAX", "db_pool_max", _positive_int,
            "Maximum connections in the database pool."),
    Setting("STUDYPILOT_MAX_BODY_BYTES", "max_body_bytes", _positive_int,
            "Largest accepted HTTP request body; larger bodies get 413."),
    Setting("STUDYPILOT_MAX_SYLLABUS_CHARS", "max_syllabus_chars", _positive_int,
            "Longest accepted syllabus; longer is refused with INVALID_INPUT."),
    Setting("STUDYPILOT_MAX_CONTEXT_BYTES", "max_context_bytes", _positive_int,
            "Largest accepted session context (JSON) in saveSession."),
    Setting("STUDYPILOT_MAX_QUERY_DEPTH", "max_query_depth", _positive_int,
            "Deepest accepted GraphQL selection."),
    Setting("STUDYPILOT_MAX_ALIASES", "max_aliases", _positive_int,
            "Most aliases accepted in one GraphQL document."),
    Setting("STUDYPILOT_MAX_TOKENS", "max_tokens", _positive_int,
            "Most lexical tokens accepted in one GraphQL document."),
    Setting("STUDYPILOT_MAX_CACHED_QUERY_CHARS", "max_cached_query_chars", _positive_int,
            "Documents up to this length are kept in the parse, validation and compiled-read "
            "caches (1,024 each); longer ones are handled every time and never kept."),
    Setting("STUDYPILOT_MAX_PAGE_SIZE", "max_page_size", _positive_int,
            "Cap on `first` for every connection."),
    Setting("STUDYPILOT_DEBUG", "debug", _bool,
            "Show unexpected errors' messages instead of masking them. Never in production."),
    Setting("STUDYPILOT_WS_COMPRESSION", "ws_compression", _bool,
            "permessage-deflate on websockets; off by default: steps are small and "
            "compressing each frame for each subscriber costs ~20 us of CPU."),
    Setting("STUDYPILOT_COMPILED_READS", "compiled_reads", _bool,
            "Answer read queries over `session`/`sessions`/`node`, topics and quizzes with "
            "one SQL statement (schema/compiled.py); other documents go through the executor."),
    Setting("STUDYPILOT_ACCESS_LOG", "access_log", _bool,
            "Log every HTTP request (uvicorn's access log); off by default, it costs CPU."),
    Setting("STUDYPILOT_LOG_LEVEL", "log_level", str,
            "Log level: debug, info, warning, error."),
)


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".studypilot")
    jwt_secret: Secret | None = None
    jwt_audience: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    model: str = "studypilot/offline"
    model_planner: str | None = None
    model_tutor: str | None = None
    model_quiz: str | None = None
    model_misconception: str | None = None
    model_fallbacks: tuple[str, ...] = ()
    llm_timeout_s: float = 60.0
    llm_retries: int = 2
    llm_backoff_s: float = 0.5
    offline_latency_ms: int = 0
    plan_cache_ttl_s: int = 7 * 86400
    quiz_questions: int = 5
    chat_window: int = 12
    bkt_prior: float = 0.2
    bkt_learn: float = 0.15
    bkt_guess: float = 0.25
    bkt_slip: float = 0.1
    mastery_threshold: int = 85
    autopilot_lease_s: float = 5.0
    autopilot_recovery_s: float = 1.0
    autopilot_max_quizzes_per_topic: int = 3
    shutdown_grace_s: float = 25.0
    idempotency_ttl_s: int = 86_400
    events_reconnect_s: float = 2.0
    events_cache: int = 256
    db_pool_min: int = 2
    db_pool_max: int = 10
    max_body_bytes: int = 8 * 1024 * 1024
    max_syllabus_chars: int = 200_000
    max_context_bytes: int = 64 * 1024
    max_query_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_page_size: int = 100
    max_cached_query_chars: int = 16_384
    debug: bool = False
    access_log: bool = False
    compiled_reads: bool = True
    ws_compression: bool = False
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.key)
            if raw is None:
                continue
            try:
                values[setting.field] = setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{setting.key}: {exc}") from exc
        settings = cls(**values)
        if settings.db_pool_min > settings.db_pool_max:
            raise SettingsError("STUDYPILOT_DB_POOL_MIN: larger than STUDYPILOT_DB_POOL_MAX")
        return settings

    def model_for(self, agent: str) -> str:
        """The model an agent uses: its own setting, else STUDYPILOT_MODEL."""
        own: str | None = getattr(self, f"model_{agent}", None)
        return own or self.model

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def settings_table() -> str:
    """The README's settings table (a test keeps the README equal to it)."""
    defaults = Settings()
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for s in SETTINGS:
        value = getattr(defaults, s.field)
        shown = "unset" if value in (None, ()) else f"`{value}`"
        lines.append(f"| `{s.key}` | {shown} | {s.help} |")
    return "\n".join(lines)
