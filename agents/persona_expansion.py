"""Persona-expansion agents (Synthetic-Persona-Chat user generation).

- the query-induction agent names a persona category and writes the question its attributes
  answer ("What is your favourite hobby?");
- the bootstrap agent answers that question with new attribute sentences;
- the consistency agent stands in for the NLI model (none ships offline): does a candidate
  attribute contradict a profile?

Each is a fresh AssistantAgent per call with a schema-constrained output, built from the
templates in prompts/persona_expansion.yaml. The orchestrator (orchestrator/persona_expansion.py)
validates, retries a bounded number of times and records failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import StructuredMessage
from autogen_core.models import ChatCompletionClient
from pydantic import BaseModel, Field, create_model

from agents.prompting import PromptTemplate, render
from agents.schemas import _Output

REQUIRED_PARTS = (
    "query_system",
    "query_user",
    "bootstrap_system",
    "bootstrap_user",
    "consistency_system",
    "consistency_user",
)
AttributeText = Annotated[str, Field(min_length=8, max_length=120)]


class InducedQuery(_Output):
    label: str = Field(min_length=2, max_length=40)
    query: str = Field(min_length=8, max_length=100)


class BootstrappedAttributes(_Output):
    attributes: list[AttributeText] = Field(min_length=1, max_length=8)


class ConsistencyVerdict(_Output):
    # The reason comes first so a constrained decoder writes it before committing to a verdict.
    reason: str = Field(min_length=1, max_length=160)
    verdict: Literal["consistent", "contradiction"]

    @property
    def contradicts(self) -> bool:
        return self.verdict == "contradiction"


def bootstrap_schema(count: int) -> type[BootstrappedAttributes]:
    """Exactly `count` attributes: a tiny model otherwise stops after one or repeats forever."""
    return create_model(
        f"BootstrappedAttributes{count}",
        __base__=BootstrappedAttributes,
        attributes=(list[AttributeText], Field(min_length=count, max_length=count)),
    )


class OutputMissing(ValueError):
    """The agent's last message was not the structured output asked for."""


async def _ask(
    name: str,
    client: ChatCompletionClient,
    template: PromptTemplate,
    part: str,
    schema: type[BaseModel],
    task: str,
) -> BaseModel:
    agent = AssistantAgent(
        name=name,
        model_client=client,
        system_message=render(template, f"{part}_system"),
        output_content_type=schema,
    )
    result = await agent.run(task=task)
    message = result.messages[-1]
    if not isinstance(message, StructuredMessage):
        raise OutputMissing(f"expected structured output, got {type(message).__name__}")
    return message.content


async def induce_query(
    client: ChatCompletionClient, template: PromptTemplate, attributes: Sequence[str]
) -> InducedQuery:
    task = render(template, "query_user", attributes=list(attributes))
    out = await _ask("query_inducer", client, template, "query", InducedQuery, task)
    return InducedQuery.model_validate(out.model_dump())


async def bootstrap_attributes(
    client: ChatCompletionClient,
    template: PromptTemplate,
    *,
    query: str,
    examples: Sequence[str],
    count: int,
) -> list[str]:
    task = render(template, "bootstrap_user", query=query, examples=list(examples), count=count)
    out = await _ask(
        "attribute_bootstrapper", client, template, "bootstrap", bootstrap_schema(count), task
    )
    return BootstrappedAttributes.model_validate(out.model_dump()).attributes


async def check_consistency(
    client: ChatCompletionClient,
    template: PromptTemplate,
    *,
    profile: Sequence[str],
    candidate: str,
) -> ConsistencyVerdict:
    task = render(template, "consistency_user", profile=list(profile), candidate=candidate)
    out = await _ask(
        "consistency_checker", client, template, "consistency", ConsistencyVerdict, task
    )
    return ConsistencyVerdict.model_validate(out.model_dump())
