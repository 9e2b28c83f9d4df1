"""The persona group chat: a SelectorGroupChat whose next speaker an LLM picks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import TextMessage
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core.models import ChatCompletionClient

from agents.schemas import Experience
from agents.speaker_ids import id_of, speaker_ids
from agents.speaker_selection import Thread

SelectorFunc = Callable[[Thread], Awaitable[str | None]]
CandidateFunc = Callable[[Thread], list[str]]
OPENING_SOURCE = "user"


def build_group_chat(
    agents: Sequence[AssistantAgent],
    *,
    selector_client: ChatCompletionClient,
    num_turns: int,
    candidate_func: CandidateFunc,
    selector_func: SelectorFunc | None,
    selector_prompt: str,
    max_selector_attempts: int,
) -> SelectorGroupChat:
    """`num_turns` persona lines, the starter included; the opening message is not a turn."""
    return SelectorGroupChat(
        list(agents),
        model_client=selector_client,
        # The task carries the opening message and the starter; both count as messages.
        termination_condition=MaxMessageTermination(max_messages=num_turns + 1),
        selector_prompt=selector_prompt,
        allow_repeated_speaker=False,
        selector_func=selector_func,
        candidate_func=candidate_func,
        max_selector_attempts=max_selector_attempts,
    )


def opening_messages(experience: Experience, opening_text: str, ids: dict[str, str] | None = None
                     ) -> list[TextMessage]:
    """The user proxy's message (situation, relations, topic) and the starter line spoken by
    the designated participant (`ids`: the conversation's display name -> agent identifier)."""
    ids = ids if ids is not None else speaker_ids([p.name for p in experience.participants])
    return [
        TextMessage(source=OPENING_SOURCE, content=opening_text),
        TextMessage(source=id_of(experience.starter.speaker, ids), content=experience.starter.text),
    ]
