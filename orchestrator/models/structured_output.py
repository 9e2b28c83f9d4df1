"""Structured output the way a remote backend takes it (`structured_output` in its config).

Every structured call in Symposia (experience generator, speaker selector, critics, persona
expansion) asks its client for `json_output=<pydantic model>`. ModelHub puts a
`StructuredOutputClient` around every remote backend's client, which turns that request into the
backend's mode:

- `json_schema`: passed on unchanged; the client sends a strict `json_schema` response format
  (OpenAI, Azure, vLLM, Ollama, LM Studio);
- `json_object`: `{"type": "json_object", "schema": ...}`, the form llama-cpp-python's server takes
  (it turns the schema into a grammar; it answers `json_schema` with HTTP 500);
- `prompt`: no response format; the schema is appended to the request's last user message and the
  JSON object is cut out of the reply (chatty models wrap it in prose or a code fence).

The reply is validated by the caller in every mode (AssistantAgent, the selector, the critic panel,
persona expansion), each with its own bounded retries that record every rejection. In `prompt`
mode the transcript's reply is the JSON that was validated, or the raw reply if none was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, UserMessage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.errors import ConfigError
from orchestrator.config import StructuredOutputMode
from orchestrator.models.wrapper import WrappingClient

# The last line of the instruction is the schema itself, so a reader (or tests/sim_endpoint.py,
# which plays a model that follows instructions) finds it after this marker.
SCHEMA_MARKER = "It must match this JSON schema:\n"
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def schema_instruction(schema: type[BaseModel]) -> str:
    """What `prompt` mode appends to the request."""
    compact = json.dumps(schema.model_json_schema(), separators=(",", ":"), ensure_ascii=False)
    return ("Answer with one JSON object and nothing else: no explanation, no code fence. "
            + SCHEMA_MARKER + compact)


def json_object_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The `json_object` response format with the schema beside it (llama-cpp-python's server;
    the embedded client sends the same, see orchestrator/models/local.py)."""
    return {"type": "json_object", "schema": schema.model_json_schema()}


def extract_json(text: str) -> str:
    """The first JSON object in a reply, as text; the reply unchanged when it holds none (so the
    caller's validation fails on, and records, what the model really said)."""
    stripped = text.strip()
    candidates = [stripped, *(m.strip() for m in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            if isinstance(json.loads(candidate), dict):
                return candidate
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for start in (i for i, char in enumerate(text) if char == "{"):
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return text[start:end]
    return text


def with_schema_instruction(messages: Sequence[LLMMessage], schema: type[BaseModel]) -> list[LLMMessage]:
    """The messages with the schema instruction at the end of the last user message (a second
    system message is refused by some chat templates, and would sit far from the question)."""
    out = list(messages)
    instruction = schema_instruction(schema)
    last = out[-1] if out else None
    if isinstance(last, UserMessage) and isinstance(last.content, str):
        out[-1] = last.model_copy(update={"content": f"{last.content}\n\n{instruction}"})
    else:
        out.append(UserMessage(content=instruction, source="user"))
    return out


class StructuredOutputClient(WrappingClient):
    """Applies one backend's structured-output mode to every `json_output=<model>` call; other
    calls pass through untouched. Mode None: `auto` not yet settled by the preflight."""

    def __init__(self, inner: ChatCompletionClient, mode: StructuredOutputMode | None) -> None:
        super().__init__(inner)
        self.mode = mode

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        schema = json_output if isinstance(json_output, type) and issubclass(json_output, BaseModel) else None
        if schema is not None and self.mode is None:
            raise ConfigError("structured_output: auto is settled by the preflight (ModelHub.preflight), "
                              "which has not run for the roles that ask this backend for structured output")
        if schema is None or self.mode == "json_schema":
            return await self._inner.create(messages, tools=tools, tool_choice=tool_choice, json_output=json_output,
                                            extra_create_args=extra_create_args,
                                            cancellation_token=cancellation_token)
        if self.mode == "json_object":
            args = {**extra_create_args, "response_format": json_object_format(schema)}
            return await self._inner.create(messages, tools=tools, tool_choice=tool_choice, json_output=None,
                                            extra_create_args=args, cancellation_token=cancellation_token)
        result = await self._inner.create(with_schema_instruction(messages, schema), tools=tools,
                                          tool_choice=tool_choice, json_output=None,
                                          extra_create_args=extra_create_args, cancellation_token=cancellation_token)
        if isinstance(result.content, str):
            result = result.model_copy(update={"content": extract_json(result.content)})
        return result
