"""A persona's reply is checked before it is spoken; a reply that cannot be spoken is sampled
again, a bounded number of times (the per-call seed changes with every call).

What counts as unspeakable is `agents.reply_check.reply_findings` (empty, a speaker label or
prompt text inside, a word-for-word repeat of an earlier line, stage text, a lone word, a roll call
of names, the speaker addressing themselves, an opening that repeats an earlier line's, a switch
of language): the rules the format_leak, repetition, speech, openings and language critics apply to
the finished conversation. Every rejected reply is kept in the transcript with its problems and
the rules they broke. When the attempts run out the last reply is kept as it is and
marked, so the critics, not this wrapper, decide the conversation's fate.

A reply wrapped whole in quotation marks loses them. A reply the token limit cut off (finish
reason "length") ends at its last whole sentence (`reply_trimmed` records what was dropped; the
model_call event keeps the raw reply); one with no whole sentence at all is rejected as `cut_off`
and sampled again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import AssistantMessage, ChatCompletionClient, CreateResult, LLMMessage, UserMessage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.speech_rules import unquoted, whole_sentences
from orchestrator.models.wrapper import WrappingClient
from orchestrator.store.transcript import Transcript

# (reply, earlier lines) -> problems by rule; empty: the reply can be spoken
ReplyCheck = Callable[[str, Sequence[str]], dict[str, list[str]]]


def spoken_lines(messages: Sequence[LLMMessage]) -> list[str]:
    """The conversation so far as the agent sees it: every user/assistant text."""
    return [m.content for m in messages if isinstance(m, UserMessage | AssistantMessage) and isinstance(m.content, str)]


class CheckedReplyClient(WrappingClient):
    def __init__(self, inner: ChatCompletionClient, *, check: ReplyCheck, attempts: int, agent: str,
                 transcript: Transcript) -> None:
        super().__init__(inner)
        self._check = check
        self._attempts = max(1, attempts)
        self._agent = agent
        self._transcript = transcript

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
        earlier = spoken_lines(messages)
        for attempt in range(1, self._attempts + 1):
            result = await self._inner.create(messages, tools=tools, tool_choice=tool_choice, json_output=json_output,
                                              extra_create_args=extra_create_args,
                                              cancellation_token=cancellation_token)
            if not isinstance(result.content, str):
                return result
            text = result.content
            if unquoted(text) != text:  # said, not quoted: the marks go, the transcript's model_call keeps them
                text = unquoted(text)
                result = result.model_copy(update={"content": text})
            found: dict[str, list[str]] = {}
            if result.finish_reason == "length":
                whole = whole_sentences(text)
                if whole:
                    self._transcript.add("reply_trimmed", agent=self._agent, attempt=attempt,
                                         dropped=text[len(whole):].strip()[:500])
                    text = whole
                    result = result.model_copy(update={"content": text})
                else:
                    found["cut_off"] = ["stops at the token limit before its first sentence ends"]
            found |= self._check(text, earlier)
            if not found:
                return result
            final = attempt == self._attempts
            problems = [why for reasons in found.values() for why in reasons]
            self._transcript.add("reply_rejected", agent=self._agent, attempt=attempt, problems=problems,
                                 rules=sorted(found), reply=result.content[:500], kept=final)
        return result
