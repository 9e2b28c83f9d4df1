"""Persona sources (ConvoGen Table I): generated, sampled from a hub, or reused groups.

`build_persona_source(config, names)` loads and checks the source's files at load time (a bad
file is a UserError before any model call); `draw(index, num_participants)` returns the given
personas of conversation `index` (None for generated mode, where the experience generator
invents everyone). Draws are seeded per conversation, so a run is reproducible whatever the
concurrency.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import ConfigError, UserError
from agents.experience_frame import GivenPersona, assemble_experience, frame_request, framed_schema
from agents.prompting import PromptTemplate
from agents.schemas import Experience
from orchestrator.config import PROJECT_ROOT, PersonaSourceConfig
from orchestrator.config.yaml_files import describe_validation_error, load_model
from orchestrator.personas.library import load_library
from orchestrator.stages.experience import FramedRequest
from orchestrator.store.jsonl import split_lines

Sentence = Annotated[str, Field(min_length=3, max_length=300)]


class HubLine(BaseModel):
    """One line of a PersonaHub-shaped JSONL file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    persona: str = Field(min_length=10, max_length=600)


class ReusedGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(min_length=1, max_length=60)
    # PERSONA-CHAT style: each user is a list of first-person attribute sentences.
    users: list[list[Sentence]] = Field(min_length=2, max_length=8)


class ReusedGroupsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[ReusedGroup] = Field(min_length=1)


def resolve(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate


def load_hub_jsonl(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"personas.jsonl: file not found: {path}")
    descriptions: list[str] = []
    for line in split_lines(path.read_bytes()):
        if line.not_utf8 is not None:
            raise ConfigError(f"{path}: line {line.number} {line.not_utf8}")
        try:
            descriptions.append(HubLine.model_validate_json(line.text).persona)
        except ValidationError as exc:
            detail = describe_validation_error(f"{path}:{line.number}", exc)
            raise ConfigError(
                f'{detail} (expected one JSON object per line: {{"persona": "..."}})'
            ) from None
    if not descriptions:
        raise ConfigError(f'{path}: no personas (expected one {{"persona": "..."}} per line)')
    return descriptions


def load_groups(path: Path) -> list[ReusedGroup]:
    groups = load_model(path, ReusedGroupsFile).groups
    ids = [g.id for g in groups]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{path}: field 'groups': duplicate group ids {', '.join(duplicates)}")
    return groups


@dataclass
class PersonaSource:
    """Draws the given personas of each conversation."""

    config: PersonaSourceConfig
    names: Sequence[str]
    seed: int
    library: Sequence[GivenPersona] = ()
    descriptions: Sequence[str] = ()
    groups: Sequence[ReusedGroup] = ()

    @property
    def mode(self) -> str:
        return self.config.source

    def group_size(self, index: int) -> int | None:
        """Reused groups fix the number of participants; other modes leave it to the scenario."""
        if self.mode != "reused":
            return None
        return len(self.groups[index % len(self.groups)].users)

    def _fresh_names(self, rng: random.Random, count: int, taken: Sequence[str] = ()) -> list[str]:
        free = [n for n in self.names if n.casefold() not in {t.casefold() for t in taken}]
        if len(free) < count:
            raise UserError(
                f"prompts/names.yaml: need {count} names for free-text personas, have {len(free)}"
            )
        return rng.sample(free, count)

    def draw(self, index: int, num_participants: int) -> list[GivenPersona] | None:
        if self.mode == "generated":
            return None
        rng = random.Random(self.seed * 7_919 + index)
        if self.mode == "reused":
            group = self.groups[index % len(self.groups)]
            names = self._fresh_names(rng, len(group.users))
            return [
                GivenPersona(name, tuple(user), origin=f"{group.id}/{i}")
                for i, (name, user) in enumerate(zip(names, group.users, strict=True))
            ]
        if self.config.hub == "library":
            if num_participants > len(self.library):
                raise UserError(
                    f"personas.library: {len(self.library)} persona(s) match, "
                    f"the scenario needs {num_participants}"
                )
            return rng.sample(list(self.library), num_participants)
        if num_participants > len(self.descriptions):
            raise UserError(
                f"personas.jsonl: {len(self.descriptions)} persona(s), "
                f"the scenario needs {num_participants}"
            )
        picked = rng.sample(range(len(self.descriptions)), num_participants)
        names = self._fresh_names(rng, num_participants)
        return [
            GivenPersona(name, (self.descriptions[i],), origin=f"jsonl:{i + 1}")
            for name, i in zip(names, picked, strict=True)
        ]


def build_persona_source(
    config: PersonaSourceConfig, names: Sequence[str], *, seed: int
) -> PersonaSource:
    source = PersonaSource(config, names, seed)
    if config.source == "sampled" and config.hub == "library":
        personas = load_library(resolve(config.library), tags=config.tags)
        if len(personas) < 2:
            wanted = f" with tags {', '.join(config.tags)}" if config.tags else ""
            raise ConfigError(
                f"personas.library: fewer than 2 personas{wanted} in {resolve(config.library)}"
            )
        source.library = [
            GivenPersona(
                p.persona.name,
                tuple(p.persona.attributes),
                p.persona.participant(),
                origin=str(p.path.name),
            )
            for p in personas
        ]
    elif config.source == "sampled":
        source.descriptions = load_hub_jsonl(resolve(config.jsonl))
    elif config.source == "reused":
        source.groups = load_groups(resolve(config.groups))
    return source


def describe_draw(people: Sequence[GivenPersona]) -> list[dict[str, object]]:
    """What the transcript records about a draw."""
    return [{"name": p.name, "origin": p.origin, "complete": p.complete} for p in people]


def framed_request(
    people: Sequence[GivenPersona],
    template: PromptTemplate,
    *,
    shots: Sequence[Experience],
    pin: bool,
) -> FramedRequest:
    """The experience generator's request around drawn personas (names pinned when `pin`)."""
    return FramedRequest(
        schema=framed_schema(people, pin=pin),
        request=frame_request(template, people, shots=shots),
        assemble=lambda output: assemble_experience(output, people),
        system_part="sampled_system",
    )
