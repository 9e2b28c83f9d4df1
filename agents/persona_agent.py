"""Persona agents: one fresh AssistantAgent per participant per conversation."""

from __future__ import annotations

from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import ChatCompletionClient

from agents.prompting import PromptTemplate, render
from agents.schemas import Experience, Participant
from agents.speaker_ids import speaker_id

REQUIRED_PARTS = ("system", "description")


def persona_variables(
    participant: Participant,
    experience: Experience,
    *,
    reply_style: str,
    max_reply_words: int,
) -> dict[str, object]:
    others = [p.name for p in experience.participants if p.name != participant.name]
    return {
        "persona": participant.model_dump(),
        "others": others,
        "relations": [r.model_dump() for r in experience.relations],
        "situation": experience.situation,
        "topic": experience.topic,
        "reply_style": reply_style,
        "max_reply_words": max_reply_words,
    }


def build_persona_agent(
    participant: Participant,
    experience: Experience,
    *,
    template: PromptTemplate,
    model_client: ChatCompletionClient,
    name: str | None = None,
    reply_style: str,
    max_reply_words: int,
) -> AssistantAgent:
    """Never share the result across conversations: agents keep their model context, and
    agents shared between concurrently running teams mix their histories. `name` is the agent's
    identifier in its conversation (agents/speaker_ids.py); by default the name's own."""
    variables = persona_variables(
        participant, experience, reply_style=reply_style, max_reply_words=max_reply_words
    )
    return AssistantAgent(
        name=name or speaker_id(participant.name),
        description=render(template, "description", **variables),
        system_message=render(template, "system", **variables),
        model_client=model_client,
    )
