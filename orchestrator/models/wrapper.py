"""A ChatCompletionClient that wraps another and passes everything but `create` through.

Symposia stacks small wrappers around one shared model client (recording, retries, reply
checks); each overrides `create` and inherits the rest of the interface from here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

from autogen_core.models import ChatCompletionClient, LLMMessage, ModelInfo, RequestUsage
from autogen_core.tools import Tool, ToolSchema


class WrappingClient(ChatCompletionClient):
    def __init__(self, inner: ChatCompletionClient) -> None:
        self._inner = inner

    def create_stream(
        self,
        messages: Sequence[LLMMessage],
        **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:
        raise NotImplementedError("Symposia does not stream")

    async def close(self) -> None:
        """The shared inner client outlives its wrappers; ModelHub.close() closes it."""

    def actual_usage(self) -> RequestUsage:
        return self._inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self._inner.total_usage()

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelInfo:
        return self._inner.model_info

    @property
    def model_info(self) -> ModelInfo:
        return self._inner.model_info
