"""The LLM gateway: every model call of every agent goes through ``LlmGateway.run``.

One call = the agent's model, then each of ``STUDYPILOT_MODEL_FALLBACKS`` in order, each
tried up to ``1 + STUDYPILOT_LLM_RETRIES`` times through ``litellm.acompletion``:

- a reply is parsed as JSON and validated against the agent's pydantic class; an invalid
  one is sent back with the validation error, and the model tries again at once;
- a timeout (``STUDYPILOT_LLM_TIMEOUT_S``, enforced here: litellm does not for custom
  providers), a rate limit or a transient provider error is retried after an exponential
  backoff with jitter (``STUDYPILOT_LLM_BACKOFF_S``); a request the provider refuses
  (bad request, auth, unknown model) is not retried on that model;
- when a model is exhausted by timeouts, rate limits or provider errors, the next
  fallback is tried; replies that never validate end the call.

Every attempt is recorded (``LlmCall``: tokens, cost, latency, outcome). What the agents
see is the result, or one error::

    AgentFailed(agent, reason)   reason: TIMEOUT | RATE_LIMITED | PROVIDER_ERROR | INVALID_OUTPUT

This is the only module that imports litellm (with ``agents/offline/provider.py``, its
plug-in). The import takes ~3 s, so it happens on first use (or ``await gateway.start()``
in the lifespan) in a worker thread, never at ``import agents.llm``; and before it,
litellm is told to stay offline (no remote cost map fetch at import).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError

from agents.errors import AgentFailed
from agents.llm_calls import (
    INVALID_OUTPUT,
    OK,
    PROVIDER_ERROR,
    RATE_LIMITED,
    TIMEOUT,
    LlmCall,
)
from app.settings import Settings

__all__ = ["AGENTS", "LlmCall", "LlmGateway", "load_litellm"]

T = TypeVar("T", bound=BaseModel)
Recorder = Callable[[LlmCall], Awaitable[None]]
Completion = Callable[..., Awaitable[Any]]

AGENTS: Final = frozenset({"planner", "tutor", "quiz", "misconception"})
OFFLINE_PREFIX: Final = "studypilot/"
REPAIR_PROMPT: Final = (
    "Your reply did not validate: {errors}. Reply again with JSON matching the schema."
)

# Read by litellm at import and at call time: the cost map and tokenizers come from the
# package (no fetch from GitHub or Hugging Face). Both names, because litellm has used
# LITELLM_LOCAL_MODEL_COST_MAP for longer than LITELLM_OFFLINE_MODE (which covers more).
LITELLM_ENV: Final = {"LITELLM_OFFLINE_MODE": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

log = logging.getLogger(__name__)
_load_lock = threading.Lock()
_loaded: list[ModuleType] = []


class _WarmUp(BaseModel):
    ok: bool


def load_litellm() -> ModuleType:
    """Import litellm offline, register the offline model and warm the call path.

    Idempotent and thread-safe; blocking (~3 s the first time), so the gateway runs it in
    a worker thread.
    """
    with _load_lock:
        if not _loaded:
            for key, value in LITELLM_ENV.items():
                os.environ.setdefault(key, value)
            import litellm

            from agents.offline import provider

            litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" print per error
            provider.register()
            # litellm imports much of its call path, and its tokenizer, on the first call
            # (~0.3 s): make that call here, off the event loop. It is refused before it
            # reaches the engine (no JSON input document), through the real provider path.
            try:
                litellm.completion(model=provider.MODEL, response_format=_WarmUp,
                                   messages=[{"role": "user", "content": "warm-up"}])
            except litellm.BadRequestError:
                pass
            _loaded.append(litellm)
        return _loaded[0]


@dataclass(frozen=True)
class _Failure:
    reason: str  # AgentFailed reason
    outcome: str  # LlmCall outcome
    detail: str
    retry: bool = True  # worth another attempt on the same model
    reply: str | None = None  # the invalid reply, for the repair turn


_REASONS: Final = {
    TIMEOUT: "TIMEOUT", RATE_LIMITED: "RATE_LIMITED",
    PROVIDER_ERROR: "PROVIDER_ERROR", INVALID_OUTPUT: "INVALID_OUTPUT",
}


def _failure(outcome: str, detail: str, *, retry: bool = True,
             reply: str | None = None) -> _Failure:
    return _Failure(_REASONS[outcome], outcome, detail, retry, reply)


def _validation_summary(exc: ValidationError, limit: int = 10) -> str:
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def _content(response: Any) -> str:
    choices = getattr(response, "choices", None) or []
    message = getattr(choices[0], "message", None) if choices else None
    content = getattr(message, "content", None)
    return content if isinstance(content, str) else ""


def _tokens(response: Any) -> tuple[int, int]:
    usage = getattr(response, "usage", None)
    prompt = getattr(usage, "prompt_tokens", 0) or 0
    completion = getattr(usage, "completion_tokens", 0) or 0
    return int(prompt), int(completion)


class LlmGateway:
    """The agents' one way to a model. Built once in the lifespan and handed down.

    ``recorder`` receives every attempt (the app passes ``partial(record_call, db)``).
    ``completion_kwargs`` are merged into every ``litellm.acompletion`` call (e.g.
    ``api_base``; tests pass litellm's own ``mock_response`` to make a call fail on
    demand). ``acompletion`` replaces ``litellm.acompletion`` and exists for tests only:
    a wrapper that changes ``mock_response`` from one attempt to the next, which litellm
    cannot do by itself; it must keep litellm's signature and errors.
    """

    def __init__(
        self,
        settings: Settings,
        recorder: Recorder | None = None,
        *,
        completion_kwargs: Mapping[str, Any] | None = None,
        acompletion: Completion | None = None,
    ) -> None:
        self.settings = settings
        self._recorder = recorder
        self._completion_kwargs = dict(completion_kwargs or {})
        self._acompletion = acompletion
        self._litellm: ModuleType | None = None
        self._formats: dict[type[BaseModel], dict[str, Any]] = {}

    async def start(self) -> None:
        """Load litellm (in a thread, so the event loop keeps serving); idempotent."""
        if self._litellm is None:
            self._litellm = await asyncio.to_thread(load_litellm)

    async def aclose(self) -> None:
        """Close litellm's cached HTTP clients (remote providers only)."""
        if self._litellm is not None:
            await self._litellm.close_litellm_async_clients()

    async def run(
        self,
        agent: str,
        output: type[T],
        messages: list[dict[str, str]],
        *,
        session_id: UUID | None = None,
    ) -> T:
        """The agent's validated output, or ``AgentFailed`` once every model gave up."""
        if agent not in AGENTS:
            raise ValueError(f"unknown agent {agent!r}")
        await self.start()
        models = dict.fromkeys((self.settings.model_for(agent), *self.settings.model_fallbacks))
        failures: list[str] = []
        last: _Failure | None = None
        for model in models:
            result = await self._run_model(agent, model, output, messages, session_id)
            if not isinstance(result, _Failure):
                return result
            last = result
            failures.append(f"{model}: {result.detail}")
            if result.outcome == INVALID_OUTPUT:
                break  # a fallback is for an unavailable model, not a confused one
        assert last is not None
        log.warning("the %s agent failed: %s", agent, "; ".join(failures))
        raise AgentFailed(agent, last.reason, "; ".join(failures))

    async def _run_model(
        self, agent: str, model: str, output: type[T], messages: list[dict[str, str]],
        session_id: UUID | None,
    ) -> T | _Failure:
        conversation = list(messages)
        attempts = self.settings.llm_retries + 1
        failure: _Failure | None = None
        for attempt in range(1, attempts + 1):
            if failure is not None and failure.outcome != INVALID_OUTPUT:
                await asyncio.sleep(self._backoff(attempt - 1))
            result = await self._attempt(agent, model, output, conversation, session_id)
            if not isinstance(result, _Failure):
                return result
            failure = result
            log.info("%s attempt %d/%d on %s: %s", agent, attempt, attempts, model, result.detail)
            if not result.retry:
                break
            if result.reply is not None:  # a new list: the last request may still hold the old
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": result.reply},
                    {"role": "user", "content": REPAIR_PROMPT.format(errors=result.detail)},
                ]
        assert failure is not None
        return _Failure(failure.reason, failure.outcome,
                        f"{failure.detail} (after {attempt} attempt(s))")

    def _backoff(self, retry: int) -> float:
        """Exponential from STUDYPILOT_LLM_BACKOFF_S, with +-50 % jitter."""
        return float(self.settings.llm_backoff_s * 2 ** (retry - 1) * (0.5 + random.random()))

    async def _attempt(
        self, agent: str, model: str, output: type[T], conversation: list[dict[str, str]],
        session_id: UUID | None,
    ) -> T | _Failure:
        started = time.perf_counter()
        response, result = await self._complete(model, output, conversation)
        latency_ms = round((time.perf_counter() - started) * 1000)
        if response is not None:
            result = self._parse(output, _content(response))
        prompt_tokens, completion_tokens = _tokens(response)
        if self._recorder is not None:
            await self._recorder(LlmCall(
                session_id=session_id, agent=agent, model=model,
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                cost_usd=self._cost(model, response), latency_ms=latency_ms,
                outcome=result.outcome if isinstance(result, _Failure) else OK,
            ))
        return result

    async def _complete(
        self, model: str, output: type[BaseModel], conversation: list[dict[str, str]]
    ) -> tuple[Any, Any]:
        """(response, None), or (None, the failure) for a call that got no reply."""
        lm = self._litellm
        assert lm is not None
        timeout = self.settings.llm_timeout_s
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": conversation,
            "response_format": self._response_format(output),
            "timeout": timeout,
            # Retries are ours (validation feedback, our timeout, fallbacks): litellm's
            # wrapper retries (num_retries, through tenacity) and the provider SDK's own
            # (max_retries, 2 by default for OpenAI) are off. tenacity is still pinned:
            # without it litellm's num_retries does nothing, silently, wherever it is used.
            "num_retries": 0,
            **self._completion_kwargs,
        }
        if model.startswith(OFFLINE_PREFIX):
            kwargs["studypilot_latency_ms"] = self.settings.offline_latency_ms
        acompletion = self._acompletion or lm.acompletion
        try:
            return await asyncio.wait_for(acompletion(**kwargs), timeout), None
        except (TimeoutError, lm.Timeout):
            return None, _failure(TIMEOUT, f"no reply within {timeout:g} s")
        except lm.RateLimitError as exc:
            return None, _failure(RATE_LIMITED, f"rate limited ({exc.status_code})")
        except (lm.APIConnectionError, lm.InternalServerError, lm.ServiceUnavailableError,
                lm.BadGatewayError, lm.APIError, lm.MockException) as exc:
            return None, _failure(PROVIDER_ERROR, type(exc).__name__)
        except (lm.BadRequestError, lm.AuthenticationError, lm.PermissionDeniedError,
                lm.NotFoundError, lm.UnprocessableEntityError,
                lm.APIResponseValidationError) as exc:
            return None, _failure(PROVIDER_ERROR, type(exc).__name__, retry=False)

    def _response_format(self, output: type[BaseModel]) -> dict[str, Any]:
        """The JSON-schema ``response_format`` litellm would derive from ``output``, made
        once per class: litellm rebuilds it on every call (~4% of a call's CPU)."""
        made = self._formats.get(output)
        if made is None:
            from litellm.llms.base_llm.base_utils import type_to_response_format_param

            made = type_to_response_format_param(output)
            assert made is not None
            self._formats[output] = made
        return made

    @staticmethod
    def _parse(output: type[T], content: str) -> T | _Failure:
        try:
            return output.model_validate_json(content)
        except ValidationError as exc:
            return _failure(INVALID_OUTPUT, _validation_summary(exc), reply=content)

    def _cost(self, model: str, response: Any) -> float:
        if response is None or model.startswith(OFFLINE_PREFIX):
            return 0.0
        lm = self._litellm
        assert lm is not None
        try:
            return float(lm.completion_cost(completion_response=response, model=model))
        except (ValueError, lm.exceptions.ModelNotMappedError, lm.NotFoundError):
            return 0.0  # a model litellm has no price for
