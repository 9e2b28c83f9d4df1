"""The experience generator agent (ConvoGen II.C.1): invents personas, relations, a situation,
a topic and a starter, as a structured (schema-constrained) output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import ChatCompletionClient
from pydantic import BaseModel

from agents.prompting import PromptTemplate, render
from agents.schemas import Experience

AGENT_NAME = "experience_generator"
REQUIRED_PARTS = ("system", "user")


def build_experience_generator(
    model_client: ChatCompletionClient,
    template: PromptTemplate,
    schema: type[BaseModel],
    *,
    system_part: str = "system",
) -> AssistantAgent:
    """A fresh agent per attempt: no history leaks from one experience into the next."""
    return AssistantAgent(
        name=AGENT_NAME,
        description="Invents a group of related people, a situation, a topic and a starter.",
        model_client=model_client,
        system_message=render(template, system_part),
        output_content_type=schema,
    )


def experience_request(
    template: PromptTemplate,
    *,
    num_participants: int,
    shots: Sequence[Experience],
    names: Sequence[str] = (),
    persona_hint: str = "",
) -> str:
    """The task message: the shots from the few-shot hub and the requested group size."""
    shot_dicts: list[dict[str, Any]] = [s.model_dump() for s in shots]
    return render(
        template,
        "user",
        num_participants=num_participants,
        shots=shot_dicts,
        names=list(names),
        persona_hint=persona_hint,
    )
