"""What the viewers (inspect, report, export) expect of a record they read, checked leniently.

Viewers read records as plain dicts so that older record versions and hand-made files still
show (orchestrator/store/reader.py). A field may be missing and unknown fields are welcome, but a
field that is present must have the type the viewers use: a record with `"turns": 5` or a
participant list of numbers is set aside with a note naming the file, line, field and value,
instead of failing a viewer halfway through with a traceback.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.config.yaml_files import validation_problems


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class TurnShape(_Shape):
    speaker: str = "?"
    text: str = ""


class MemoryShape(_Shape):
    recent: str | None = None
    long_term: str | None = None


class PersonShape(_Shape):
    name: str | None = None
    age: int | str | None = None
    qualities: list[str] | None = None
    lifestyle: str | None = None
    speech_style: str | None = None
    memory: MemoryShape | None = None
    attributes: list[str] | None = None


class RelationShape(_Shape):
    person_a: str | None = None
    person_b: str | None = None
    relation: str | None = None


class StarterShape(_Shape):
    speaker: str | None = None
    text: str | None = None


class ExperienceShape(_Shape):
    participants: list[PersonShape] | None = None
    relations: list[RelationShape] | None = None
    situation: str | None = None
    topic: str | None = None
    starter: StarterShape | None = None


class UsageShape(_Shape):
    calls: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ConversationShape(_Shape):
    id: str | None = None
    index: int | None = None
    scenario: str | None = None
    experience: ExperienceShape | None = None
    participants: list[str] | None = None
    speaker_ids: dict[str, str] | None = None
    turns: list[TurnShape] | None = None
    usage: dict[str, UsageShape] | None = None
    review: dict[str, Any] | None = None


class FailureShape(_Shape):
    id: str | None = None
    index: int | None = None
    scenario: str | None = None
    stage: str | None = None
    reason: str | None = None
    attempts: list[Any] | None = None
    usage: dict[str, UsageShape] | None = None


def shape_problem(record: dict[str, Any], shape: type[BaseModel], where: str) -> str | None:
    """The first way `record` does not fit `shape`, as "<where>: field 'a.b': ... (got v)"; None
    when it fits."""
    try:
        shape.model_validate(record)
    except ValidationError as exc:
        return validation_problems(where, exc)[0]
    except RecursionError:
        return f"{where}: nested too deeply to read"
    return None
