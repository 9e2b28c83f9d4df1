"""Critic experts (Synthetic-Persona-Chat's "mixture of expert critics"), each an AutoGen agent.

Two kinds of expert judge one candidate conversation together with its experience:
- LLM experts: an AssistantAgent per expert whose system message and request come from
  `prompts/critic_<name>.yaml`, answering with a schema-constrained verdict (`GateOutput`
  for gate experts, `QualityOutput` for quality experts);
- rule experts: agents that call no model (`RuleCritic`), running the checks of
  agents/critic_rules.py.

This module declares agents only: no loops over candidates, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from autogen_agentchat.agents import AssistantAgent, BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient
from pydantic import BaseModel, ConfigDict, Field

from agents.critic_rules import RULE_CHECKS, RuleLimits
from agents.prompting import PromptTemplate, render
from agents.verdicts import CandidateView, CriticRole

REQUIRED_PARTS = ("system", "user")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- structured outputs
# One line, no quote or backslash: under a llama.cpp grammar a plain JSON string lets a tiny model
# emit raw newlines (invalid JSON); the bounded pattern also caps the length.
Rationale = Annotated[str, Field(min_length=1, max_length=200, pattern=r'^[^\x00-\x1f"\\]{1,200}$')]


class GateOutput(_Strict):
    """What a gate expert (faithfulness, toxicity) answers: a short reason, then pass or fail."""

    rationale: Rationale
    verdict: Literal["pass", "fail"]


class QualityOutput(_Strict):
    """What a quality expert answers: a short reason, then a 1-5 score for its criterion."""

    rationale: Rationale
    score: Literal[1, 2, 3, 4, 5]


class RuleOutput(_Strict):
    """What a rule expert answers (no model, so no grammar constraints on the rationale)."""

    rationale: str
    verdict: Literal["pass", "fail"]


# --------------------------------------------------------------------------- LLM experts
def critic_agent_name(expert: str) -> str:
    return f"critic_{expert}"


def build_llm_critic(
    expert: str,
    *,
    role: CriticRole,
    template: PromptTemplate,
    model_client: ChatCompletionClient,
) -> AssistantAgent:
    """A fresh agent per verdict attempt: no history leaks from one candidate into the next."""
    return AssistantAgent(
        name=critic_agent_name(expert),
        description=f"Critic expert judging a conversation for {expert}.",
        model_client=model_client,
        system_message=render(template, "system"),
        output_content_type=GateOutput if role == "gate" else QualityOutput,
    )


def critic_request(template: PromptTemplate, view: CandidateView) -> str:
    """The request message: the experience and the numbered conversation."""
    exp = view.experience
    return render(
        template,
        "user",
        participants=[p.model_dump() for p in exp.participants],
        relations=[r.model_dump() for r in exp.relations],
        situation=exp.situation,
        topic=exp.topic,
        turns=[t.model_dump() for t in view.turns],
    )


# --------------------------------------------------------------------------- rule experts
class RuleCritic(BaseChatAgent):
    """A critic expert that calls no model: it reads a `StructuredMessage[CandidateView]` and
    answers a `StructuredMessage[RuleOutput]`."""

    def __init__(self, expert: str, limits: RuleLimits) -> None:
        if expert not in RULE_CHECKS:
            raise ValueError(f"unknown rule expert {expert!r}; known: {', '.join(RULE_CHECKS)}")
        super().__init__(critic_agent_name(expert), f"Rule-based critic expert: {expert}.")
        self._check = RULE_CHECKS[expert]
        self._limits = limits

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage[RuleOutput],)

    async def on_messages(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> Response:
        views = [m.content for m in messages
                 if isinstance(m, StructuredMessage) and isinstance(m.content, CandidateView)]
        if not views:
            raise ValueError(f"{self.name} needs a StructuredMessage[CandidateView]")
        passed, rationale = self._check(views[-1], self._limits)
        output = RuleOutput(rationale=rationale[:300], verdict="pass" if passed else "fail")
        return Response(chat_message=StructuredMessage[RuleOutput](content=output, source=self.name))

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """Stateless."""


def candidate_message(view: CandidateView) -> StructuredMessage[CandidateView]:
    return StructuredMessage[CandidateView](content=view, source="panel")
