"""Persona-expansion agents (Synthetic-Persona-Chat user generation).

- the query-induction agent names a persona category and writes the question its attributes
  answer ("What is your favourite hobby?");
- the bootstrap agent answers that question with new attribute sentences;
- the consistency agent stands in for the NLI model (none ships offline): can two attributes
  be true of one person, or do they contradict?

Each is a fresh AssistantAgent per call with a schema-constrained output, built from the
templates in prompts/persona_expansion.yaml. The orchestrator (orchestrator/personas/expansion.py)
validates, retries a bounded number of times and records failures.

Regex `pattern`s ride in the JSON schema only (json_schema_extra): on the local backend the
llama.cpp grammar then makes every attribute a first-person sentence of plain words and every
query a question, while validation stays per item in the orchestrator's gates, so one bad
attribute is rejected and counted instead of failing its whole batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal

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
# A word: ASCII letters/digits with inner apostrophes or hyphens, at most 18 characters (the
# tiny model otherwise drifts into other scripts and run-on non-words), optionally a comma.
_PLAIN = "[A-Za-z0-9'-]{1,18}"
_WORD = _PLAIN + ",?"
MAX_PER_CALL = 12  # attributes one bootstrap call may be asked for
MAX_WORDS = 20  # the orchestrator's gate: persona attributes are short (the seeds: 3-12 words)
# "I ..." / "My ..." and up to MAX_WORDS + 1 words ending in a full stop: one more than the gate
# allows, so a sentence cut off at the grammar's limit is rejected and counted, not kept.
ATTRIBUTE_PATTERN = rf"^(I|I'm|My)( {_WORD}){{2,{MAX_WORDS - 1}}} {_PLAIN}[.!]$"
# A question of 2-14 words; other openings ("Is ...") drifted into statements.
QUERY_PATTERN = rf"^(What|Which|How|Where|Who|When|Do|Does|Did|Are|Have|Can)( {_WORD}){{0,12}} {_PLAIN}\?$"
LABEL_PATTERN = "^[A-Za-z]{1,15}( [A-Za-z]{1,15}){0,2}$"
AttributeText = Annotated[str, Field(min_length=8, max_length=420, json_schema_extra={"pattern": ATTRIBUTE_PATTERN})]


class InducedQuery(_Output):
    label: str = Field(min_length=2, max_length=48, json_schema_extra={"pattern": LABEL_PATTERN})
    query: str = Field(min_length=8, max_length=300, json_schema_extra={"pattern": QUERY_PATTERN})


class BootstrappedAttributes(_Output):
    attributes: list[AttributeText] = Field(min_length=1, max_length=MAX_PER_CALL)


class PairVerdict(_Output):
    # Verdict only: with a reason first, the 135M model wrote "does not contradict" and then
    # "contradiction" regardless; the reason never informed the verdict and cost ~50 tokens.
    verdict: Literal["compatible", "contradiction"]

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
    out = await _ask("attribute_bootstrapper", client, template, "bootstrap", bootstrap_schema(count), task)
    return BootstrappedAttributes.model_validate(out.model_dump()).attributes


async def check_pair(client: ChatCompletionClient, template: PromptTemplate, *, first: str, second: str) -> PairVerdict:
    """One pair at a time: the 135M model loses track of a list of known facts."""
    task = render(template, "consistency_user", first=first, second=second)
    out = await _ask("consistency_checker", client, template, "consistency", PairVerdict, task)
    return PairVerdict.model_validate(out.model_dump())


# Held-out probe for the consistency agent (none of these is a few-shot example in the prompt):
# twelve pairs that cannot both be true of one person and twelve that can, several sharing the
# first sentence with a contradicting pair so that only the pair decides.
PROBE_CONTRADICTIONS = (
    ("I am an only child.", "My brother and I share a flat."),
    ("I am afraid of water.", "I swim in the sea every morning."),
    ("I do not have a driving licence.", "I drive a taxi for a living."),
    ("I have never had a pet.", "My dog sleeps on my bed."),
    ("I am a retired teacher.", "I am seventeen and still at school."),
    ("I hate music.", "I play the piano every day."),
    ("I never drink coffee.", "I drink five cups of coffee a day."),
    ("I live alone.", "I live with my wife and three children."),
    ("I have never been married.", "My husband and I just celebrated our anniversary."),
    ("I hate cold weather.", "Winter is my favourite season because I love the cold."),
    ("I cannot swim.", "I won a swimming race last week."),
    ("I am scared of heights.", "I love climbing tall mountains."),
)
PROBE_COMPATIBLE = (
    ("I am vegan.", "I play the guitar."),
    ("I am a police officer.", "My son just left home for university."),
    ("I keep bees in my garden.", "I ride a scooter to work."),
    ("I love spicy food.", "I have asthma."),
    ("I work night shifts in a warehouse.", "I read a book every week."),
    ("I grow roses in my garden.", "I am afraid of flying."),
    ("I play football on Saturdays.", "I am a software engineer."),
    ("I live in a small flat.", "I collect old vinyl records."),
    ("I am a retired teacher.", "I volunteer at the library."),
    ("I never drink coffee.", "I like green tea."),
    ("I live alone.", "I have a cat called Tom."),
    ("I am scared of heights.", "I love gardening."),
)
# Probe skill (hit rate minus false-alarm rate) below which the report calls the consistency
# agent's verdicts no reliable signal.
USABLE_PROBE_SKILL = 0.5


async def probe_consistency(judge: Callable[[str, str], Awaitable[bool | None]]) -> dict[str, Any]:
    """Score a judge (True: contradiction, None: failed) on the probe pairs, with a plain finding."""
    flagged = {"contradicting": 0, "compatible": 0}
    failed = 0
    for kind, pairs in (("contradicting", PROBE_CONTRADICTIONS), ("compatible", PROBE_COMPATIBLE)):
        for a, b in pairs:
            verdict = await judge(a, b)
            failed += verdict is None
            flagged[kind] += verdict is True
    n_bad, n_ok = len(PROBE_CONTRADICTIONS), len(PROBE_COMPATIBLE)
    skill = round(flagged["contradicting"] / n_bad - flagged["compatible"] / n_ok, 2)
    summary = (
        f"the agent flags {flagged['contradicting']}/{n_bad} known contradictions and "
        f"{flagged['compatible']}/{n_ok} compatible pairs (skill = hit rate - false-alarm rate = {skill})"
    )
    return {
        "contradicting_flagged": flagged["contradicting"],
        "contradicting_pairs": n_bad,
        "compatible_flagged": flagged["compatible"],
        "compatible_pairs": n_ok,
        "failed": failed,
        "skill": skill,
        "finding": f"usable: {summary}"
        if skill >= USABLE_PROBE_SKILL
        else f"no reliable signal: {summary}; its profile-stage rejections are close to random, "
        "so profiles are effectively unchecked for contradictions",
    }
