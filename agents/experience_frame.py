"""Experiences around given personas (ConvoGen "sampled" and "reused" personas).

When the persona source supplies complete personas (the YAML library), the experience
generator only writes the frame — relations, situation, topic, starter — with the people's
names pinned in the grammar. When it supplies free text (a PersonaHub line, PERSONA-CHAT
sentences), the generator also fills in the structured fields (age, qualities, ...) faithful to
that text, under the ordinary Experience schema with pinned names. Either way the given
sentences travel with the participant as `attributes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from agents.prompting import PromptTemplate, render
from agents.schemas import (
    Experience,
    Participant,
    Relation,
    Starter,
    _Output,
    experience_schema,
)


class ExperienceFrame(_Output):
    """Everything of an experience except the participants."""

    relations: list[Relation] = Field(min_length=1, max_length=10)
    situation: str = Field(min_length=1, max_length=300)
    topic: str = Field(min_length=1, max_length=120)
    starter: Starter


@dataclass(frozen=True)
class GivenPersona:
    """A persona handed in by a persona source: complete (`participant`) or free text only."""

    name: str
    attributes: tuple[str, ...] = ()
    participant: Participant | None = None
    origin: str = ""

    @property
    def complete(self) -> bool:
        return self.participant is not None

    def as_prompt(self) -> dict[str, Any]:
        if self.participant is not None:
            return self.participant.model_dump()
        return {"name": self.name, "attributes": list(self.attributes)}


def frame_schema(names: Sequence[str] | None, num_participants: int) -> type[ExperienceFrame]:
    """The frame with relation ends and the starter speaker pinned to `names` (if given)."""
    max_relations = min(10, num_participants * (num_participants - 1) // 2)
    fields: dict[str, Any] = {}
    relation: type[BaseModel] = Relation
    if names is not None:
        name_enum: Any = Literal[tuple(names)]
        relation = create_model(
            "FrameRelation", __base__=Relation, person_a=(name_enum, ...), person_b=(name_enum, ...)
        )
        starter = create_model("FrameStarter", __base__=Starter, speaker=(name_enum, ...))
        fields["starter"] = (starter, ...)
    fields["relations"] = (list[relation], Field(min_length=1, max_length=max_relations))  # type: ignore[valid-type]
    return create_model(f"ExperienceFrame{num_participants}", __base__=ExperienceFrame, **fields)


def needs_details(people: Sequence[GivenPersona]) -> bool:
    return not all(p.complete for p in people)


def framed_schema(people: Sequence[GivenPersona], *, pin: bool) -> type[BaseModel]:
    names = [p.name for p in people] if pin else None
    if needs_details(people):
        return experience_schema(len(people), names)
    return frame_schema(names, len(people))


def assemble_experience(output: BaseModel, people: Sequence[GivenPersona]) -> Experience:
    """The Experience from the model's output and the given personas.

    Raises ValueError when the output does not describe exactly the given people.
    """
    data = output.model_dump()
    generated: dict[str, dict[str, Any]] = {}
    for person in data.pop("participants", []):
        generated[str(person["name"]).strip().casefold()] = person
    participants = []
    for given in people:
        if given.participant is not None:
            participants.append(given.participant.model_dump())
            continue
        person = generated.get(given.name.casefold())
        if person is None:
            names = ", ".join(sorted(generated)) or "none"
            raise ValueError(f"no details written for '{given.name}' (written: {names})")
        person["name"] = given.name
        person["attributes"] = list(given.attributes)
        participants.append(person)
    return Experience.model_validate({"participants": participants, **data})


def frame_request(
    template: PromptTemplate, people: Sequence[GivenPersona], *, shots: Sequence[Experience]
) -> str:
    return render(
        template,
        "sampled_user",
        people=[p.as_prompt() for p in people],
        write_details=needs_details(people),
        shots=[s.model_dump() for s in shots],
    )
