"""The run's output records (`conversations.jsonl`, `failures.jsonl`): validated before
they are written, and again whenever a tool reads them back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.schemas import Experience, Turn
from agents.verdicts import Verdict
from orchestrator.store.usage import RoleUsage

RECORD_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class Review(_Record):
    """The critic panel's summary for one candidate (every verdict is also in the transcript)."""

    iteration: int
    candidate: int = Field(description="index of this candidate among the experience's K")
    candidates: int = Field(description="K: candidates generated for the experience")
    decision: Literal["accepted", "rejected"]
    reason: str
    rejected_by: list[str] = []
    votes: int = 0
    mean_quality: float | None = None
    verdicts: list[Verdict]


class ConversationRecord(_Record):
    record_version: int = RECORD_VERSION
    id: str
    index: int
    scenario: str
    experience: Experience
    participants: list[str]
    speaker_ids: dict[str, str] = Field(description="agent name -> display name")
    turns: list[Turn]
    usage: dict[str, RoleUsage]
    timing: Timing
    models: dict[str, str]
    provenance: Provenance
    review: Review | None = None


class FailureRecord(_Record):
    record_version: int = RECORD_VERSION
    id: str
    index: int
    scenario: str
    status: Literal["failed"] = "failed"
    stage: Literal["experience", "conversation", "review"]  # review: every candidate was rejected
    reason: str
    attempts: list[dict[str, Any]] = []
    usage: dict[str, RoleUsage]
    timing: Timing


class RejectedRecord(_Record):
    """A candidate the critic panel did not accept (`rejected.jsonl`), kept with its verdicts so
    rejection reasons can be studied. Its events are in transcripts/<experience_id>.jsonl."""

    record_version: int = RECORD_VERSION
    id: str
    experience_id: str
    index: int
    scenario: str
    experience: Experience
    turns: list[Turn]
    review: Review
    transcript: str
