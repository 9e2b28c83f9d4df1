"""Structured outputs the agents produce: the experience (ConvoGen), the speaker choice and the
turns of a conversation.

The experience and the speaker choice are LLM outputs, an untrusted edge: `extra="forbid"`,
bounded strings and lists (a tiny model under a grammar repeats list items until max_tokens
without `maxItems`/`maxLength`).
Structural rules live in the schema, so constrained decoding enforces them; cross-field rules
(unique names, starter speaker is a participant) live in `experience_findings`, because a
grammar cannot express them, beside the rules for degenerate content (template debris, cloned
participants, a situation that is no sentence...: agents/experience_rules.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from agents.experience_rules import DEGENERATE_RULES, cut_off, shot_copy_problems
from agents.speech_rules import whole_sentences


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


Quality = Annotated[str, Field(min_length=1, max_length=40)]


TOPIC_MAX_LENGTH = 120
# what no character of a topic may be: a sentence end, or what plain text leaves out
# (orchestrator/models/schema_grammar.py: JSON and template debris, control characters)
_NOT_IN_TOPIC = r'.!?"\\{}<>|`\[\]\x00-\x1F'
# The topic is one sentence. The pattern rides in the JSON schema only (json_schema_extra, as in
# agents/persona_expansion_agents.py): a grammar or a guided decoder then ends the topic at its
# first full stop instead of letting a tiny model run on into the length limit (15 of 36
# attempts of a default run were topics cut off there), while validation stays with the
# experience rules, which record what they reject. A sentence that reaches the limit is forced
# to end there, fills it, and `not_a_sentence` rejects it as cut off.
TOPIC_PATTERN = rf"^[^ {_NOT_IN_TOPIC}][^{_NOT_IN_TOPIC}]{{0,{TOPIC_MAX_LENGTH - 2}}}[.!?]$"


class Memory(_Output):
    recent: str = Field(min_length=1, max_length=160)
    long_term: str = Field(min_length=1, max_length=160)


class Participant(_Output):
    name: str = Field(min_length=1, max_length=40)
    age: int = Field(ge=5, le=100)
    qualities: list[Quality] = Field(min_length=1, max_length=4)
    lifestyle: str = Field(min_length=1, max_length=160)
    speech_style: str = Field(min_length=1, max_length=120)
    memory: Memory
    # Free-form persona sentences from a persona source (library, PersonaHub JSONL, reused
    # groups). Never in the generation grammar, and left out of dumps when empty, so generated
    # experiences (and the prompts that show them as shots) are unchanged.
    attributes: SkipJsonSchema[list[Annotated[str, Field(max_length=300)]]] = Field(
        default_factory=list, max_length=12, exclude_if=lambda value: not value
    )


class Relation(_Output):
    person_a: str = Field(min_length=1, max_length=40)
    person_b: str = Field(min_length=1, max_length=40)
    relation: str = Field(min_length=1, max_length=120)


class Starter(_Output):
    speaker: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=200)


class Experience(_Output):
    """A group of related personas, a situation that brings them together, a topic, a starter."""

    participants: list[Participant] = Field(min_length=2, max_length=8)
    relations: list[Relation] = Field(min_length=1, max_length=10)
    situation: str = Field(min_length=1, max_length=300)
    topic: str = Field(min_length=1, max_length=TOPIC_MAX_LENGTH, json_schema_extra={"pattern": TOPIC_PATTERN})
    starter: Starter


class Turn(BaseModel):
    """One turn of a conversation: the speaker's display name and what they said. The one turn
    type: the group chat returns it, critics read it, run records and the evaluation keep it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speaker: str
    text: str


def experience_schema(num_participants: int, names: Sequence[str] | None = None) -> type[Experience]:
    """The Experience schema with the participant count fixed, for constrained decoding.

    With `names` (pinned, one per participant) every name, the starter's speaker and the
    relation ends become constants/enums in the grammar: a tiny model otherwise copies the
    shot's names and produces duplicates most of the time.
    """
    return _experience_schema(num_participants, None if names is None else tuple(names))


@functools.lru_cache(maxsize=1024)
def _experience_schema(num_participants: int, names: tuple[str, ...] | None) -> type[Experience]:
    # one class per shape: a new class per conversation cost ~7 ms (its JSON schema for the
    # endpoint, AutoGen's StructuredMessage[...] class), where a cached one costs nothing
    max_relations = min(10, num_participants * (num_participants - 1) // 2)
    fields: dict[str, Any] = {
        "relations": (list[Relation], Field(min_length=1, max_length=max_relations)),
    }
    if names is None:
        fields["participants"] = (
            list[Participant],
            Field(min_length=num_participants, max_length=num_participants),
        )
    else:
        if len(names) != num_participants:
            raise ValueError(f"need {num_participants} names, got {len(names)}")
        name_enum = one_of(names)
        pinned = tuple(
            create_model(f"Participant{i}", __base__=Participant, name=(one_of([name]), ...))
            for i, name in enumerate(names)
        )
        participants_type: Any = tuple[pinned]  # type: ignore[valid-type]
        fields["participants"] = (participants_type, ...)
        relation = create_model(
            "PinnedRelation", __base__=Relation, person_a=(name_enum, ...), person_b=(name_enum, ...)
        )
        fields["relations"] = (list[relation], Field(min_length=1, max_length=max_relations))  # type: ignore[valid-type]
        starter = create_model("PinnedStarter", __base__=Starter, speaker=(name_enum, ...))
        fields["starter"] = (starter, ...)
    model: type[Experience] = create_model(f"Experience{num_participants}", __base__=Experience, **fields)
    return model


def _blank(text: str) -> bool:
    return not text.strip()


def experience_problems(experience: Experience, num_participants: int | None = None) -> list[str]:
    """Every reason this experience is unusable; empty means usable."""
    return [why for reasons in experience_findings(experience, num_participants).values() for why in reasons]


def experience_findings(experience: Experience, num_participants: int | None = None,
                        shots: Sequence[Experience] = ()) -> dict[str, list[str]]:
    """Every reason this experience is unusable, by rule: `structure` (the cross-field rules below),
    then each degenerate-content rule of agents/experience_rules.py, and `shot_copy` against the
    shots it was prompted with; empty means usable."""
    found = {"structure": _structure_problems(experience, num_participants)}
    found |= {rule: check(experience) for rule, check in DEGENERATE_RULES.items()}
    found["shot_copy"] = shot_copy_problems(experience, shots)
    return {rule: problems for rule, problems in found.items() if problems}


def _structure_problems(experience: Experience, num_participants: int | None) -> list[str]:
    problems: list[str] = []
    names = [p.name.strip() for p in experience.participants]
    if num_participants is not None and len(names) != num_participants:
        problems.append(f"expected {num_participants} participants, got {len(names)}")
    lowered = [n.casefold() for n in names]
    duplicates = sorted({n for n in names if lowered.count(n.casefold()) > 1})
    if duplicates:
        problems.append(f"duplicate participant names: {', '.join(duplicates)}")
    for i, person in enumerate(experience.participants):
        texts = {
            "name": person.name,
            "lifestyle": person.lifestyle,
            "speech_style": person.speech_style,
            "memory.recent": person.memory.recent,
            "memory.long_term": person.memory.long_term,
        }
        for field, value in texts.items():
            if _blank(value):
                problems.append(f"participants[{i}].{field} is empty")
        if any(_blank(q) for q in person.qualities):
            problems.append(f"participants[{i}].qualities has an empty entry")
    for field, value in {
        "situation": experience.situation,
        "topic": experience.topic,
        "starter.text": experience.starter.text,
    }.items():
        if _blank(value):
            problems.append(f"{field} is empty")
    known = set(lowered)
    if experience.starter.speaker.strip().casefold() not in known:
        problems.append(
            f"starter.speaker '{experience.starter.speaker}' is not a participant "
            f"(participants: {', '.join(names)})"
        )
    for i, rel in enumerate(experience.relations):
        for side in (rel.person_a, rel.person_b):
            if side.strip().casefold() not in known:
                problems.append(f"relations[{i}] names '{side}', who is not a participant")
        if rel.person_a.strip().casefold() == rel.person_b.strip().casefold():
            problems.append(f"relations[{i}] relates '{rel.person_a}' to themself")
        if _blank(rel.relation):
            problems.append(f"relations[{i}].relation is empty")
    return problems


def _limit(model: type[BaseModel], field: str) -> int:
    return next(int(m.max_length) for m in model.model_fields[field].metadata if hasattr(m, "max_length"))


def _finished(text: str, max_length: int) -> str:
    """A text the grammar's limit or a dangling word cut off, up to its last whole sentence; as it
    is when it was finished or has no whole sentence (then the rules judge it)."""
    return (cut_off(text, max_length) and whole_sentences(text)) or text


def canonical_experience(experience: Experience) -> Experience:
    """Strip whitespace, make the starter speaker spelling match the participant's, and end the
    starter, the persona descriptions and the relations that were cut off ("... I'm going to
    start my family and", "... When you see a ch") at their last whole sentence (the model_call
    event keeps the raw output). The situation and topic are not mended: the rules reject them."""
    data: dict[str, Any] = experience.model_dump()
    data["starter"]["text"] = _finished(data["starter"]["text"], _limit(Starter, "text"))
    for person in data["participants"]:
        for field in ("lifestyle", "speech_style"):
            person[field] = _finished(person[field], _limit(Participant, field))
        for field in ("recent", "long_term"):
            person["memory"][field] = _finished(person["memory"][field], _limit(Memory, field))
    for relation in data["relations"]:
        relation["relation"] = _finished(relation["relation"], _limit(Relation, "relation"))
    for person in data["participants"]:
        person["name"] = person["name"].strip()
    by_key = {p["name"].casefold(): p["name"] for p in data["participants"]}
    data["starter"]["speaker"] = by_key.get(
        data["starter"]["speaker"].strip().casefold(), data["starter"]["speaker"]
    )
    for rel in data["relations"]:
        rel["person_a"] = by_key.get(rel["person_a"].strip().casefold(), rel["person_a"])
        rel["person_b"] = by_key.get(rel["person_b"].strip().casefold(), rel["person_b"])
    return Experience.model_validate(data)


def speaker_choice_schema(candidates: list[str]) -> type[BaseModel]:
    """{"next_speaker": <one of candidates>} as a pydantic model, for a grammar-constrained pick."""
    return _speaker_choice_schema(tuple(candidates))


def one_of(values: Sequence[str]) -> Any:
    """A Literal type of these values, built at run time (an enum in the JSON schema)."""
    return Literal[tuple(values)]


@functools.lru_cache(maxsize=4096)
def _speaker_choice_schema(candidates: tuple[str, ...]) -> type[BaseModel]:
    # building a pydantic model costs milliseconds, and the OpenAI SDK builds a parsed-response
    # type per schema class: one class per candidate set keeps both cached
    model: type[BaseModel] = create_model(
        "SpeakerChoice",
        __config__=ConfigDict(extra="forbid"),
        next_speaker=(one_of(candidates), ...),
    )
    return model
