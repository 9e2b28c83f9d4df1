"""The run's output records (`conversations.jsonl`, `failures.jsonl`): validated before
they are written, and again whenever a tool reads them back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.schemas import Experience

RECORD_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TurnRecord(_Record):
    speaker: str
    text: str


class RoleUsageRecord(_Record):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_calls: int = 0
    seconds: float = 0.0


class Timing(_Record):
    started_at: str
    wall_seconds: float
    llm_seconds: float


class Provenance(_Record):
    """What reproduces this conversation: seeds, shots used, prompt template versions."""

    seed: int
    shot_ids: list[str]
    prompt_versions: dict[str, str]
    num_turns_target: int
    experience_attempts: int
    experience_rejections: list[dict[str, Any]] = []


class ConversationRecord(_Record):
    record_version: int = RECORD_VERSION
    id: str
    index: int
    scenario: str
    experience: Experience
    participants: list[str]
    speaker_ids: dict[str, str] = Field(description="agent name -> display name")
    turns: list[TurnRecord]
    usage: dict[str, RoleUsageRecord]
    timing: Timing
    models: dict[str, str]
    provenance: Provenance


class FailureRecord(_Record):
    record_version: int = RECORD_VERSION
    id: str
    index: int
    scenario: str
    status: Literal["failed"] = "failed"
    stage: Literal["experience", "conversation"]
    reason: str
    attempts: list[dict[str, Any]] = []
    usage: dict[str, RoleUsageRecord]
    timing: Timing
