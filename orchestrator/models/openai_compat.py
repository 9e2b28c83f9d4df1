"""A lean ChatCompletionClient for OpenAI-compatible `/chat/completions` endpoints.

Same request and result semantics as autogen-ext's OpenAIChatCompletionClient (messages,
name prefixes, structured output as a strict `json_schema` response format, tools, usage,
finish reasons), without the openai SDK's per-call cost: its request transform, response
model construction and a parsed-response generic class per output schema took ~7 ms CPU per
call at scale, and httpx's pool more (see orchestrator/models/http_pool.py).

Differences on purpose: no SDK retries (ResilientClient retries), and a structured reply is
not validated here: callers validate it (AssistantAgent, the speaker selector, the critics),
so the raw reply of an invalid answer reaches the transcript instead of only an error.
Non-2xx replies raise `EndpointStatusError` (status code and headers, so Retry-After is
honoured), unreadable bodies `json.JSONDecodeError` or `EndpointBodyError`.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    ChatCompletionTokenLogprob,
    CreateResult,
    FinishReasons,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    TopLogprob,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.errors import SymposiaError
from orchestrator.models.http_pool import HttpPool, HttpxPool

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_STOP: dict[str, FinishReasons] = {"stop": "stop", "length": "length", "content_filter": "content_filter",
                                   "function_calls": "function_calls", "end_turn": "stop",
                                   "tool_calls": "function_calls"}
_DISALLOWED = {"stream", "messages", "function_call", "functions", "n", "model"}


class EndpointStatusError(SymposiaError):
    """The endpoint answered with a non-2xx status. `status_code` and `response.headers`
    are what orchestrator/models/resilience.py classifies and reads Retry-After from."""

    def __init__(self, status: int, headers: Mapping[str, str], detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status_code = status
        self.response = _Reply(dict(headers))


class EndpointBodyError(SymposiaError):
    """A 2xx reply whose JSON is not a chat completion."""


class _Reply:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def _error_detail(body: bytes) -> str:
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message)[:500] if message else body[:500].decode("utf-8", "replace")
    except (ValueError, AttributeError):
        return body[:500].decode("utf-8", "replace")


# one strict json_schema response format per output class, computed once (the SDK's rules)
_FORMATS: weakref.WeakKeyDictionary[type[BaseModel], dict[str, Any]] = weakref.WeakKeyDictionary()


def response_format_for(schema: type[BaseModel]) -> dict[str, Any]:
    found = _FORMATS.get(schema)
    if found is None:
        from openai.lib._parsing._completions import type_to_response_format_param

        found = _FORMATS[schema] = dict(type_to_response_format_param(schema))  # type: ignore[arg-type]
    return found


class LeanOpenAIClient(ChatCompletionClient):
    """One model on one OpenAI-compatible endpoint, over a shared connection pool."""

    def __init__(self, *, model: str, pool: HttpPool | HttpxPool, timeout: float, model_info: ModelInfo | None = None,
                 add_name_prefixes: bool = False, include_name_in_message: bool = True) -> None:
        from autogen_ext.models.openai import _model_info
        from autogen_ext.models.openai._transformation import get_transformer

        if model_info is None:
            try:
                model_info = _model_info.get_info(model)
            except KeyError:
                raise ValueError("model_info is required when model name is not a valid OpenAI model") from None
        self._model = model
        self._pool = pool
        self._timeout = timeout
        self._model_info = model_info
        self._prefixes = add_name_prefixes
        self._include_name = include_name_in_message
        self._transformers = get_transformer("openai", model, model_info["family"])
        # the plain-text cases are converted inline when this model uses the default conversions
        self._fast = self._transformers is get_transformer("openai", "gpt-4o", ModelFamily.GPT_4O)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    # ------------------------------------------------------------------ request
    def _messages(self, messages: Sequence[LLMMessage], *, merged: bool = False) -> list[dict[str, Any]]:
        single_system = not merged and not self._model_info.get("multiple_system_messages", False)
        context = {"prepend_name": self._prefixes, "include_name_in_message": self._include_name}
        out: list[dict[str, Any]] = []
        seen_system = False
        for m in messages:
            kind = type(m)
            if isinstance(m, SystemMessage) and single_system:
                if seen_system or not m.content or m.content[-1].isspace():  # rare: merge, as autogen-ext does
                    return self._messages(_merge_system_messages(messages), merged=True)
                seen_system = True
            if self._fast and kind is SystemMessage:
                out.append({"content": m.content, "role": "system"})
            elif self._fast and kind is UserMessage and isinstance(m, UserMessage) and isinstance(m.content, str):
                if not _NAME.match(m.source):
                    raise ValueError(f"Invalid name: {m.source}. Only letters, numbers, '_' and '-' are allowed.")
                entry: dict[str, Any] = {"role": "user"}
                if self._include_name:
                    entry["name"] = m.source
                entry["content"] = f"{m.source} said:\n{m.content}" if self._prefixes else m.content
                out.append(entry)
            elif (self._fast and kind is AssistantMessage and isinstance(m, AssistantMessage)
                  and isinstance(m.content, str)):
                if not _NAME.match(m.source):
                    raise ValueError(f"Invalid name: {m.source}. Only letters, numbers, '_' and '-' are allowed.")
                out.append({"role": "assistant", "content": m.content})
            else:
                convert = self._transformers.get(kind)
                if convert is None:
                    raise ValueError(f"Unknown message type: {kind}")
                out.extend(dict(x) for x in convert(m, context))
        return out

    def _body(self, messages: Sequence[LLMMessage], tools: Sequence[Tool | ToolSchema],
              tool_choice: Tool | Literal["auto", "required", "none"], json_output: bool | type[BaseModel] | None,
              extra: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        info = self._model_info
        bad = _DISALLOWED.intersection(extra)
        if bad:
            raise ValueError(f"Extra create args are invalid: {sorted(bad)}")
        args = dict(extra)
        timeout = float(args.pop("timeout", None) or self._timeout)
        extra_body = args.pop("extra_body", None) or {}
        legacy = args.get("response_format")
        if isinstance(legacy, type) and issubclass(legacy, BaseModel):
            del args["response_format"]
            json_output = json_output if json_output is not None else legacy
        if json_output is True:
            if not info["json_output"]:
                raise ValueError("Model does not support JSON output.")
            args["response_format"] = {"type": "json_object"}
        elif json_output is False:
            args["response_format"] = {"type": "text"}
        elif isinstance(json_output, type) and issubclass(json_output, BaseModel):
            if info["structured_output"] is False:
                raise ValueError("Model does not support structured output.")
            args["response_format"] = response_format_for(json_output)
        elif json_output is not None:
            raise ValueError(f"json_output must be a boolean or a Pydantic model class, got {type(json_output)}")
        if not info["vision"]:
            for m in messages:
                if isinstance(m, UserMessage) and not isinstance(m.content, str) and any(
                        not isinstance(part, str) for part in m.content):
                    raise ValueError("Model does not support vision and image was provided")
        body: dict[str, Any] = {"model": self._model, "messages": self._messages(messages), **args}
        if tools:
            from autogen_ext.models.openai._openai_client import convert_tool_choice, convert_tools

            if not info["function_calling"]:
                raise ValueError("Model does not support function calling")
            names = {t.schema["name"] if isinstance(t, Tool) else t["name"] for t in tools}
            if isinstance(tool_choice, Tool) and tool_choice.schema["name"] not in names:
                raise ValueError(f"tool_choice references '{tool_choice.schema['name']}' but it's not in the tools")
            body["tools"] = convert_tools(tools)
            body["tool_choice"] = convert_tool_choice(tool_choice)
        body.update(extra_body)
        return body, timeout

    # ------------------------------------------------------------------ call
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
        body, timeout = self._body(messages, tools, tool_choice, json_output, extra_create_args)
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        call = self._pool.request("POST", "/chat/completions", payload, timeout=timeout)
        if cancellation_token is None:
            reply = await call
        else:  # the token cancels a future; a task is only needed then
            task = asyncio.ensure_future(call)
            cancellation_token.link_future(task)
            reply = await task
        if not 200 <= reply.status < 300:
            raise EndpointStatusError(reply.status, reply.headers, _error_detail(reply.body))
        result = self._result(json.loads(reply.body))
        usage = result.usage
        self._total = RequestUsage(prompt_tokens=self._total.prompt_tokens + usage.prompt_tokens,
                                   completion_tokens=self._total.completion_tokens + usage.completion_tokens)
        return result

    def _result(self, data: Any) -> CreateResult:
        try:
            if "error" in data and "choices" not in data:
                raise EndpointBodyError(f"error in a 2xx reply: {_error_detail(json.dumps(data).encode())}")
            choice = data["choices"][0]
            message = choice["message"]
            usage = data.get("usage") or {}
            counts = RequestUsage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                  completion_tokens=int(usage.get("completion_tokens") or 0))
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            raise EndpointBodyError(f"not a chat completion ({type(exc).__name__}: {exc})") from None
        if message.get("function_call") is not None:
            raise ValueError("function_call is deprecated and is not supported by this model client.")
        thought: str | None = None
        content: str | list[FunctionCall]
        tool_calls = message.get("tool_calls")
        if tool_calls:
            from autogen_ext.models.openai._openai_client import normalize_name

            thought = message.get("content") or None
            content = []
            for call in tool_calls:
                arguments = call["function"]["arguments"]
                if not isinstance(arguments, str):
                    arguments = json.dumps(arguments)
                content.append(FunctionCall(id=call["id"], name=normalize_name(call["function"]["name"]),
                                            arguments=arguments))
            finish = "tool_calls"
        else:
            finish = choice.get("finish_reason")
            content = message.get("content") or ""
            thought = message.get("reasoning_content")
        if isinstance(content, str) and self._model_info["family"] == ModelFamily.R1 and thought is None:
            from autogen_ext.models._utils.parse_r1_content import parse_r1_content

            thought, content = parse_r1_content(content)
        return CreateResult(finish_reason=_STOP.get(str(finish).lower(), "unknown") if finish else "unknown",
                            content=content, usage=counts, cached=False, logprobs=_logprobs(choice), thought=thought)

    # ------------------------------------------------------------------ the rest of the interface
    def create_stream(
        self, messages: Sequence[LLMMessage], **kwargs: Any
    ) -> AsyncGenerator[str | CreateResult, None]:
        raise NotImplementedError("Symposia does not stream")

    async def close(self) -> None:
        await self._pool.aclose()

    def actual_usage(self) -> RequestUsage:
        return self._total

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        from autogen_ext.models.openai._openai_client import count_tokens_openai

        return count_tokens_openai(messages, self._model, add_name_prefixes=self._prefixes, tools=tools,
                                   model_family=self._model_info["family"],
                                   include_name_in_message=self._include_name)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        from autogen_ext.models.openai import _model_info

        return _model_info.get_token_limit(self._model) - self.count_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelInfo:
        return self._model_info

    @property
    def model_info(self) -> ModelInfo:
        return self._model_info


def _merge_system_messages(messages: Sequence[LLMMessage]) -> Sequence[LLMMessage]:
    """Consecutive system messages become one (as autogen-ext does for such models)."""
    indices = [i for i, m in enumerate(messages) if isinstance(m, SystemMessage)]
    if indices[-1] - indices[0] != len(indices) - 1:
        raise ValueError("Multiple and Not continuous system messages are not supported if "
                         "model_info['multiple_system_messages'] is False")
    merged = "\n".join(str(messages[i].content) for i in indices).rstrip()
    rest: list[LLMMessage] = [m for m in messages if not isinstance(m, SystemMessage)]
    if merged:
        rest.insert(indices[0], SystemMessage(content=merged))
    return rest


def _token_bytes(entry: Mapping[str, Any]) -> list[int] | None:
    """autogen keeps a candidate token's text only as bytes; servers that send none (e.g.
    llama-cpp-python's) would lose it, so they are taken from the token string then."""
    found = entry.get("bytes")
    if found is None and isinstance(entry.get("token"), str):
        return list(entry["token"].encode())
    return found


def _logprobs(choice: Mapping[str, Any]) -> list[ChatCompletionTokenLogprob] | None:
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    return [ChatCompletionTokenLogprob(token=x["token"], logprob=x["logprob"], bytes=_token_bytes(x),
                                       top_logprobs=[TopLogprob(logprob=y["logprob"], bytes=_token_bytes(y))
                                                     for y in x.get("top_logprobs") or []])
            for x in content]
