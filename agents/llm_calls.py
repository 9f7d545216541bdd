"""Model calls as recorded (``llm_calls``): one row per attempt, summed into a session's usage.

``LlmCall`` lives here rather than in the gateway so that this store module and
``agents/llm.py`` can both use it without importing each other. The app hands the gateway
``functools.partial(record_call, db)`` as its recorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from uuid import UUID

if TYPE_CHECKING:  # the gateway imports LlmCall from here; it need not load the driver
    from app.database import Db

OK: Final = "ok"
INVALID_OUTPUT: Final = "invalid_output"
TIMEOUT: Final = "timeout"
RATE_LIMITED: Final = "rate_limited"
PROVIDER_ERROR: Final = "provider_error"
CACHE_HIT: Final = "cache_hit"
OUTCOMES: Final = frozenset({OK, INVALID_OUTPUT, TIMEOUT, RATE_LIMITED, PROVIDER_ERROR, CACHE_HIT})


@dataclass(frozen=True)
class LlmCall:
    """One attempt at one model: what it cost and how it ended (``OUTCOMES``)."""

    session_id: UUID | None
    agent: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: int
    outcome: str


INSERT_CALL: Final = """
INSERT INTO llm_calls (session_id, agent, model, prompt_tokens, completion_tokens, cost_usd,
                       latency_ms, outcome)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""


async def record_call(db: Db, call: LlmCall) -> None:
    await db.execute(
        INSERT_CALL, call.session_id, call.agent, call.model, call.prompt_tokens,
        call.completion_tokens, call.cost_usd, call.latency_ms, call.outcome,
    )
