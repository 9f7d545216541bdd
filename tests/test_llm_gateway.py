"""The LLM gateway over the real litellm path.

Faults come from litellm itself: ``mock_response`` raises litellm's own rate-limit,
server and refusal errors; a timeout is real (the offline model made slower than the
timeout). Where the faults must change from one attempt to the next, which
``mock_response`` cannot do, ``Script`` wraps ``litellm.acompletion`` with a different
``mock_response`` per attempt. Every attempt is read back from ``llm_calls``.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import os
import subprocess
import sys
import time
import types
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agents import session_store
from agents.errors import AgentFailed
from agents.llm import LlmGateway, load_litellm
from agents.llm_calls import LlmCall, record_call
from agents.models import StudyPlan
from app.auth import Identity
from app.database import Db
from app.settings import Settings
from app.users import UserDirectory

ROOT = Path(__file__).resolve().parents[1]
CLAUDE = "anthropic/claude-3-5-haiku-20241022"


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: str
    score: int = Field(ge=0, le=10)


VALID = '{"topic": "cells", "score": 7}'
OUT_OF_RANGE = '{"topic": "cells", "score": 11}'
MALFORMED = '{"topic": "cells", "score": '
MESSAGES = [{"role": "system", "content": "Grade it."}, {"role": "user", "content": '{"a": 1}'}]
PLAN_MESSAGES = [
    {"role": "system", "content": "Plan the study."},
    {"role": "user", "content": json.dumps({
        "task": "plan", "exam_type": "AP Biology", "exam_date": None, "max_topics": 8,
        "syllabus": "Unit 1: Cells\n- Membranes\n- Respiration\n"
                    "Unit 2: Genetics\n- DNA replication\n- Mendelian inheritance\n",
    })},
]


@pytest.fixture(scope="session")
def lm() -> types.ModuleType:
    """litellm, loaded (and warmed) as the gateway loads it."""
    return load_litellm()


@pytest.fixture
async def session_id(db: Db) -> UUID:
    user = Identity(uuid.uuid4(), None)
    await UserDirectory(db).ensure(user)
    record = await session_store.create_session(
        db, user.user_id, "AP Biology", date(2030, 5, 1), "Unit 1: Cells", {}, {}, "test"
    )
    return record.id


def fast(**changes: Any) -> Settings:
    base = Settings(model="gpt-4o-mini", llm_retries=2, llm_backoff_s=0.01, llm_timeout_s=5)
    return base.replace(**changes)


def gateway(db: Db, settings: Settings, **kwargs: Any) -> LlmGateway:
    return LlmGateway(settings, functools.partial(record_call, db), **kwargs)


async def calls(db: Db, session_id: UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT model, outcome, prompt_tokens, completion_tokens, cost_usd, latency_ms "
        "FROM llm_calls WHERE session_id = $1 ORDER BY id", session_id)
    return [dict(row) for row in rows]


class Script:
    """``litellm.acompletion`` with the next ``mock_response`` of the model's list per call
    (the last one repeats); keeps a copy of every request."""

    def __init__(self, lm: types.ModuleType, replies: dict[str, list[Any]]) -> None:
        self.lm = lm
        self.replies = {model: list(queue) for model, queue in replies.items()}
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> Any:
        self.requests.append(copy.deepcopy({k: v for k, v in kwargs.items()
                                            if k != "response_format"}))
        queue = self.replies[kwargs["model"]]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return await self.lm.acompletion(**kwargs, mock_response=reply)


def test_import_does_not_load_litellm():
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}
    code = ("import os, sys, agents.llm, agents.llm_calls; "
            "assert 'litellm' not in sys.modules, 'litellm imported'; "
            "assert not any(k.startswith('LITELLM_') for k in os.environ), 'env changed'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


NO_NETWORK = """
import asyncio, socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args[:2])
    raise OSError("no network in this test")
socket.getaddrinfo = socket.create_connection = socket.socket.connect = refuse

import tests.test_llm_gateway as t
from agents.errors import AgentFailed
from agents.llm import LlmGateway, load_litellm

async def main():
    llm = LlmGateway(t.fast(model="studypilot/offline", llm_retries=0))
    try:
        await llm.run("tutor", t.Answer, t.MESSAGES)
    except AgentFailed as exc:
        assert exc.reason == "PROVIDER_ERROR", exc
    await llm.run("planner", t.StudyPlan, t.PLAN_MESSAGES)
    mocked = LlmGateway(t.fast(), completion_kwargs={"mock_response": t.VALID})
    await mocked.run("tutor", t.Answer, t.MESSAGES)
    litellm = load_litellm()
    for model in ("gpt-4o", "gpt-3.5-turbo", "claude-3-5-haiku-20241022", "llama3"):
        assert litellm.token_counter(model=model, messages=t.MESSAGES) > 0

asyncio.run(main())
assert attempts == [], attempts
"""


def test_no_network_is_used_from_import_to_tokens():
    # litellm fetches a cost map at import and tokenizers on demand unless told not to.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}
    done = subprocess.run([sys.executable, "-c", NO_NETWORK], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_only_the_gateway_imports_litellm():
    importers = sorted(
        str(path.relative_to(ROOT)) for package in ("agents", "app", "schema")
        for path in (ROOT / package).rglob("*.py")
        if any(line.strip().startswith(("import litellm", "from litellm"))
               for line in path.read_text().splitlines())
    )
    assert importers == ["agents/llm.py", "agents/offline/provider.py"]


async def test_ok_records_tokens_and_cost(lm, db, session_id):
    llm = gateway(db, fast(), completion_kwargs={"mock_response": VALID})
    assert await llm.run("tutor", Answer, MESSAGES, session_id=session_id) == Answer(
        topic="cells", score=7)
    [row] = await calls(db, session_id)
    assert (row["model"], row["outcome"]) == ("gpt-4o-mini", "ok")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (10, 20)  # litellm's mock usage
    assert row["cost_usd"] > 0  # priced from litellm's bundled cost map


async def test_rate_limit_is_retried_with_backoff_then_fails(lm, db, session_id):
    llm = gateway(db, fast(llm_backoff_s=0.05),
                  completion_kwargs={"mock_response": "litellm.RateLimitError"})
    started = time.perf_counter()
    with pytest.raises(AgentFailed) as failed:
        await llm.run("quiz", Answer, MESSAGES, session_id=session_id)
    assert (failed.value.code, failed.value.reason) == ("AGENT_FAILED", "RATE_LIMITED")
    assert time.perf_counter() - started >= 0.05 * 0.5 + 0.1 * 0.5  # two jittered backoffs
    assert [r["outcome"] for r in await calls(db, session_id)] == ["rate_limited"] * 3


@pytest.mark.parametrize("fault", [
    "litellm.InternalServerError",
    "connection",
    "unavailable",
])
async def test_provider_error_is_retried_then_fails(lm, db, session_id, fault):
    mock = {
        "connection": lm.APIConnectionError("reset", llm_provider="openai", model="gpt-4o-mini"),
        "unavailable": lm.ServiceUnavailableError("503", llm_provider="openai",
                                                  model="gpt-4o-mini"),
    }.get(fault, fault)
    llm = gateway(db, fast(), completion_kwargs={"mock_response": mock})
    with pytest.raises(AgentFailed) as failed:
        await llm.run("planner", Answer, MESSAGES, session_id=session_id)
    assert failed.value.reason == "PROVIDER_ERROR"
    assert [r["outcome"] for r in await calls(db, session_id)] == ["provider_error"] * 3


async def test_refused_request_is_not_retried(lm, db, session_id):
    refusal = lm.AuthenticationError("bad key", llm_provider="openai", model="gpt-4o-mini")
    llm = gateway(db, fast(), completion_kwargs={"mock_response": refusal})
    with pytest.raises(AgentFailed) as failed:
        await llm.run("planner", Answer, MESSAGES, session_id=session_id)
    assert failed.value.reason == "PROVIDER_ERROR"
    assert [r["outcome"] for r in await calls(db, session_id)] == ["provider_error"]


async def test_timeout_is_enforced_by_the_gateway(lm, db, session_id):
    # A real timeout: the offline model takes 300 ms, the gateway waits 100 ms.
    llm = gateway(db, fast(model="studypilot/offline", offline_latency_ms=300,
                           llm_timeout_s=0.1, llm_retries=1))
    started = time.perf_counter()
    with pytest.raises(AgentFailed) as failed:
        await llm.run("tutor", Answer, MESSAGES, session_id=session_id)
    assert failed.value.reason == "TIMEOUT"
    assert time.perf_counter() - started < 0.45
    rows = await calls(db, session_id)
    assert [r["outcome"] for r in rows] == ["timeout"] * 2
    assert all(90 <= r["latency_ms"] < 250 for r in rows), rows


async def test_litellm_timeout_counts_as_timeout(lm, db, session_id):
    timeout = lm.Timeout("slow", model="gpt-4o-mini", llm_provider="openai")
    llm = gateway(db, fast(llm_retries=0), completion_kwargs={"mock_response": timeout})
    with pytest.raises(AgentFailed) as failed:
        await llm.run("tutor", Answer, MESSAGES, session_id=session_id)
    assert failed.value.reason == "TIMEOUT"


async def test_invalid_reply_is_repaired_with_the_validation_error(lm, db, session_id):
    script = Script(lm, {"gpt-4o-mini": [MALFORMED, VALID]})
    llm = gateway(db, fast(), acompletion=script)
    assert (await llm.run("quiz", Answer, MESSAGES, session_id=session_id)).score == 7
    first, second = script.requests
    assert first["messages"] == MESSAGES
    assert second["messages"][:2] == MESSAGES
    assert second["messages"][2] == {"role": "assistant", "content": MALFORMED}
    repair = second["messages"][3]
    assert repair["role"] == "user"
    assert repair["content"].startswith("Your reply did not validate: ")
    assert "Invalid JSON" in repair["content"]
    assert repair["content"].endswith("Reply again with JSON matching the schema.")
    assert [r["outcome"] for r in await calls(db, session_id)] == ["invalid_output", "ok"]


async def test_reply_that_never_validates_fails_without_fallback(lm, db, session_id):
    script = Script(lm, {"gpt-4o-mini": [OUT_OF_RANGE], "gpt-4o": [VALID]})
    llm = gateway(db, fast(model_fallbacks=("gpt-4o",)), acompletion=script)
    with pytest.raises(AgentFailed) as failed:
        await llm.run("misconception", Answer, MESSAGES, session_id=session_id)
    assert failed.value.reason == "INVALID_OUTPUT"
    assert "score: Input should be less than or equal to 10" in failed.value.message
    rows = await calls(db, session_id)
    assert [(r["model"], r["outcome"]) for r in rows] == [("gpt-4o-mini", "invalid_output")] * 3
    assert all(r["completion_tokens"] == 20 for r in rows)  # a reply came; it is counted


async def test_fallbacks_are_tried_in_order(lm, db, session_id):
    script = Script(lm, {
        "gpt-4o-mini": ["litellm.RateLimitError"],
        "gpt-4o": ["litellm.InternalServerError"],
        CLAUDE: [VALID],
    })
    settings = fast(llm_retries=1, model_fallbacks=("gpt-4o", CLAUDE))
    llm = gateway(db, settings, acompletion=script)
    assert await llm.run("planner", Answer, MESSAGES, session_id=session_id) == Answer(
        topic="cells", score=7)
    assert [(r["model"], r["outcome"]) for r in await calls(db, session_id)] == [
        ("gpt-4o-mini", "rate_limited"), ("gpt-4o-mini", "rate_limited"),
        ("gpt-4o", "provider_error"), ("gpt-4o", "provider_error"),
        (CLAUDE, "ok"),
    ]


async def test_all_models_failing_names_each(lm, db, session_id):
    settings = fast(llm_retries=0, model_fallbacks=("gpt-4o",))
    llm = gateway(db, settings, completion_kwargs={"mock_response": "litellm.RateLimitError"})
    with pytest.raises(AgentFailed) as failed:
        await llm.run("planner", Answer, MESSAGES, session_id=session_id)
    assert failed.value.reason == "RATE_LIMITED"
    assert "gpt-4o-mini: " in failed.value.message and "; gpt-4o: " in failed.value.message


async def test_offline_latency_reaches_the_provider(lm, db, session_id):
    # An unknown schema: the offline model waits its latency, then refuses (not retried).
    llm = gateway(db, fast(model="studypilot/offline", offline_latency_ms=150))
    with pytest.raises(AgentFailed) as failed:
        await llm.run("tutor", Answer, MESSAGES, session_id=session_id)
    assert failed.value.reason == "PROVIDER_ERROR"
    [row] = await calls(db, session_id)
    assert (row["outcome"], row["cost_usd"]) == ("provider_error", 0)
    assert row["latency_ms"] >= 150


async def test_offline_model_needs_a_json_input_document(lm, db, session_id):
    llm = gateway(db, fast(model="studypilot/offline"))
    with pytest.raises(AgentFailed) as failed:
        await llm.run("tutor", StudyPlan, [{"role": "user", "content": "plain words"}],
                      session_id=session_id)
    assert failed.value.reason == "PROVIDER_ERROR"


async def test_offline_model_answers_through_litellm(lm, db, session_id):
    llm = gateway(db, fast(model="studypilot/offline"))
    plan = await llm.run("planner", StudyPlan, PLAN_MESSAGES, session_id=session_id)
    assert plan.exam_type == "AP Biology" and plan.topics
    [row] = await calls(db, session_id)
    assert (row["model"], row["outcome"], row["cost_usd"]) == ("studypilot/offline", "ok", 0)
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0


async def test_offline_provider_reads_past_a_repair_turn(lm):
    # The repair turn is not JSON: the provider answers from the document before it.
    messages = [*PLAN_MESSAGES, {"role": "assistant", "content": "{"},
                {"role": "user", "content": "Your reply did not validate: ..."}]
    response = await lm.acompletion(model="studypilot/offline", messages=messages,
                                    response_format=StudyPlan)
    plan = StudyPlan.model_validate_json(response.choices[0].message.content)
    assert plan.exam_type == "AP Biology"
    assert response.model == "studypilot/offline"
    assert response.usage.completion_tokens > 0
    assert lm.completion_cost(completion_response=response) == 0


async def test_offline_provider_sync_completion(lm):
    response = await asyncio.to_thread(
        lm.completion, model="studypilot/offline", messages=PLAN_MESSAGES,
        response_format=StudyPlan)
    assert StudyPlan.model_validate_json(response.choices[0].message.content).topics


async def test_offline_model_is_deterministic(lm):
    replies = [
        (await lm.acompletion(model="studypilot/offline", messages=PLAN_MESSAGES,
                              response_format=StudyPlan)).choices[0].message.content
        for _ in range(2)
    ]
    assert replies[0] == replies[1]


async def test_record_call_without_a_session(db):
    call = LlmCall(None, "planner", "m", 1, 2, 0.5, 3, "ok")
    await record_call(db, call)
    assert await db.fetchval(
        "SELECT count(*) FROM llm_calls WHERE session_id IS NULL AND model = 'm'") >= 1


async def test_unknown_agent_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown agent"):
        await LlmGateway(Settings()).run("grader", Answer, MESSAGES)
