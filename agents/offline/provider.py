"""The offline model, plugged into litellm as the custom provider ``studypilot``.

``studypilot/offline`` answers through the real ``litellm.acompletion`` path: litellm turns
the agent's pydantic class into a ``response_format`` JSON schema named after the class,
this provider reads that name, takes the agent's JSON input document from the last user
message that holds one, and asks the extractive engine (``agents.offline.engine``) for
the reply. Usage is a cheap deterministic estimate (never tiktoken), the cost is 0, and
``offline_latency_ms`` is simulated so the product behaves like it does over a remote model.

This is the one module besides ``agents/llm.py`` that imports litellm: litellm's plug-in
interface is a base class (``CustomLLM``), so the provider cannot be defined without it.
Only the gateway imports this module, from its lazy start, so ``import agents.llm`` stays
cheap and litellm stays off the server's start-up path.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

import litellm
from litellm.llms.custom_llm import CustomLLM, CustomLLMError

from agents.offline import engine

PROVIDER: Final = "studypilot"
MODEL: Final = f"{PROVIDER}/offline"
# The gateway sends the simulated latency with each call to this provider (litellm hands
# unknown keyword arguments to a custom provider in ``optional_params``).
LATENCY_PARAM: Final = "studypilot_latency_ms"

MODEL_INFO: Final = {
    MODEL: {
        "litellm_provider": PROVIDER,
        "mode": "chat",
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "cache_creation_input_token_cost": 0.0,
        "cache_read_input_token_cost": 0.0,
        "max_tokens": 32_768,
        "max_input_tokens": 1_000_000,
        "max_output_tokens": 32_768,
        "supports_response_schema": True,
    }
}


def count_tokens(text: str) -> int:
    """A deterministic estimate, words x 4/3: the offline model has no tokenizer to ask."""
    return len(text.split()) * 4 // 3


def schema_name(optional_params: Mapping[str, Any]) -> str:
    """The output schema's name from ``response_format`` (litellm names it after the class)."""
    response_format = optional_params.get("response_format")
    if isinstance(response_format, type):
        return response_format.__name__
    if isinstance(response_format, Mapping):
        json_schema = response_format.get("json_schema") or {}
        name = json_schema.get("name") or (json_schema.get("schema") or {}).get("title")
        if isinstance(name, str) and name:
            return name
    raise CustomLLMError(400, "the offline model needs a response_format with a named JSON schema")


def input_document(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The agent's input: the last user message that is a JSON object.

    Scanning back past non-JSON messages lets a repair turn ("Your reply did not
    validate ...") reach the offline model with the original document still in view.
    """
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, str):
            continue
        try:
            document = json.loads(content)
        except ValueError:
            continue
        if isinstance(document, dict):
            return document
    raise CustomLLMError(400, "the offline model reads a JSON object as a user message")


class OfflineProvider(CustomLLM):
    """litellm's handler for ``studypilot/*`` models."""

    def __init__(self, latency_ms: int = 0) -> None:
        super().__init__()
        self.latency_ms = latency_ms

    def _latency_s(self, optional_params: Mapping[str, Any]) -> float:
        return float(optional_params.get(LATENCY_PARAM, self.latency_ms)) / 1000

    @staticmethod
    def _answer(messages: list[Any], optional_params: Mapping[str, Any]) -> dict[str, Any]:
        name = schema_name(optional_params)
        payload = input_document(messages)
        try:
            return engine.respond(name, payload)
        except engine.UnsupportedTask as exc:
            raise CustomLLMError(400, f"the offline model cannot answer {name}: {exc}") from exc

    @staticmethod
    def _fill(response: litellm.ModelResponse, messages: list[Any],
              answer: dict[str, Any]) -> litellm.ModelResponse:
        content = json.dumps(answer, ensure_ascii=False)
        prompt = sum(count_tokens(m["content"]) for m in messages
                     if isinstance(m.get("content"), str))
        completion = count_tokens(content)
        response.choices[0].message.content = content
        response.choices[0].finish_reason = "stop"
        response.model = MODEL
        response.usage = litellm.Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
        return response

    async def acompletion(
        self, model: str, messages: list[Any], api_base: str, custom_prompt_dict: dict[str, Any],
        model_response: litellm.ModelResponse, print_verbose: Any, encoding: Any, api_key: Any,
        logging_obj: Any, optional_params: dict[str, Any], *args: Any, **kwargs: Any,
    ) -> litellm.ModelResponse:
        await asyncio.sleep(self._latency_s(optional_params))
        # The engine is CPU work; a thread keeps the event loop serving meanwhile.
        answer = await asyncio.to_thread(self._answer, messages, optional_params)
        return self._fill(model_response, messages, answer)

    def completion(
        self, model: str, messages: list[Any], api_base: str, custom_prompt_dict: dict[str, Any],
        model_response: litellm.ModelResponse, print_verbose: Any, encoding: Any, api_key: Any,
        logging_obj: Any, optional_params: dict[str, Any], *args: Any, **kwargs: Any,
    ) -> litellm.ModelResponse:
        time.sleep(self._latency_s(optional_params))
        return self._fill(model_response, messages, self._answer(messages, optional_params))


def register() -> None:
    """Make ``studypilot/offline`` a litellm model; idempotent (litellm's registry is global)."""
    if any(item["provider"] == PROVIDER for item in litellm.custom_provider_map):
        return
    litellm.custom_provider_map = [
        *litellm.custom_provider_map, {"provider": PROVIDER, "custom_handler": OfflineProvider()}
    ]
    litellm.register_model(MODEL_INFO)
