"""What the critic panel exchanges with its experts: the candidate every expert reads
(`CandidateView`) and the verdict recorded per expert (`Verdict`).

Plain pydantic, no AutoGen: run records (orchestrator/store/records.py) and the run browser
(orchestrator/store/reader.py) use these without loading any agent.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from agents.schemas import Experience, Turn

__all__ = ["CRITIC_ROLES", "VERDICT_METHODS", "VERDICT_STATUSES", "CandidateView", "CriticRole", "Verdict",
           "VerdictMethod", "VerdictStatus"]

CriticRole = Literal["gate", "quality"]
VerdictMethod = Literal["llm", "rule"]  # a model call or a rule (no model)
VerdictStatus = Literal["pass", "fail", "abstain", "skipped"]
CRITIC_ROLES: tuple[CriticRole, ...] = get_args(CriticRole)
VERDICT_METHODS: tuple[VerdictMethod, ...] = get_args(VerdictMethod)
VERDICT_STATUSES: tuple[VerdictStatus, ...] = get_args(VerdictStatus)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidateView(_Strict):
    """What every expert sees: the experience and the candidate's turns (display names)."""

    experience: Experience
    turns: list[Turn]


class Verdict(_Strict):
    """One expert's judgement of one candidate, as the panel records it."""

    expert: str
    role: CriticRole
    method: VerdictMethod
    status: VerdictStatus
    score: int | None = None
    rationale: str = ""
    attempts: int = 0
    errors: list[str] = []
