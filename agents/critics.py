"""Critic experts (Synthetic-Persona-Chat's "mixture of expert critics"), each an AutoGen agent.

Two kinds of expert judge one candidate conversation together with its experience:
- LLM experts: an AssistantAgent per expert whose system message and request come from
  `prompts/critic_<name>.yaml`, answering with a schema-constrained verdict (`GateOutput`
  for gate experts, `QualityOutput` for quality experts);
- rule experts: agents that call no model (`RuleCritic`), cheap and reliable even when the
  model is tiny: degenerate repetition, format leaks, length bounds, a silent speaker, profanity.

This module declares agents and pure checks only: no loops over candidates, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from autogen_agentchat.agents import AssistantAgent, BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient
from pydantic import BaseModel, ConfigDict, Field

from agents.prompting import PromptTemplate, render
from agents.reply_check import leak_problems
from agents.reply_check import words as _words
from agents.schemas import speaker_slug
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
@dataclass(frozen=True)
class RuleLimits:
    ngram: int = 4
    max_ngram_repeats: int = 3
    max_duplicate_turns: int = 0
    min_turns: int = 4
    max_turns: int = 40
    min_words_per_turn: int = 1
    max_words_per_turn: int = 80
    profanity_threshold: float = 0.8


RuleResult = tuple[bool, str]


def check_repetition(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Degenerate repetition: a turn repeated verbatim, or one word n-gram over and over."""
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for i, turn in enumerate(view.turns):
        key = " ".join(_words(turn.text))
        if key and key in seen:
            duplicates.append(f"turn {i + 1} repeats turn {seen[key] + 1} ({turn.text[:60]!r})")
        seen.setdefault(key, i)
    if len(duplicates) > limits.max_duplicate_turns:
        return False, "; ".join(duplicates[:3])
    grams: Counter[tuple[str, ...]] = Counter()
    n = limits.ngram
    for turn in view.turns:
        words = _words(turn.text)
        grams.update(tuple(words[j : j + n]) for j in range(len(words) - n + 1))
    if grams:
        gram, count = grams.most_common(1)[0]
        if count > limits.max_ngram_repeats:
            return False, f"the {n}-gram {' '.join(gram)!r} occurs {count} times (limit {limits.max_ngram_repeats})"
    return True, f"no repeated turns; no {n}-gram over {limits.max_ngram_repeats} times"


def check_format_leak(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Speaker labels inside an utterance, prompt/schema text, 'as an AI'."""
    people = view.experience.participants
    labels = {p.name for p in people} | {speaker_slug(p.name) for p in people}
    problems = [f"turn {i + 1} ({turn.speaker}) contains {problem}"
                for i, turn in enumerate(view.turns) for problem in leak_problems(turn.text, labels)]
    if problems:
        return False, "; ".join(problems[:3])
    return True, "no speaker labels, prompt text or AI disclaimers in the turns"


def check_length(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Turn count and words per turn within bounds."""
    count = len(view.turns)
    if not limits.min_turns <= count <= limits.max_turns:
        return False, f"{count} turns, expected {limits.min_turns}-{limits.max_turns}"
    for i, turn in enumerate(view.turns):
        n = len(_words(turn.text))
        if n < limits.min_words_per_turn:
            return False, f"turn {i + 1} ({turn.speaker}) has {n} words (minimum {limits.min_words_per_turn})"
        if n > limits.max_words_per_turn:
            return False, f"turn {i + 1} ({turn.speaker}) has {n} words (maximum {limits.max_words_per_turn})"
    return True, f"{count} turns, each {limits.min_words_per_turn}-{limits.max_words_per_turn} words"


def check_participation(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Every participant speaks at least once."""
    spoken = {t.speaker.casefold() for t in view.turns}
    silent = [p.name for p in view.experience.participants if p.name.casefold() not in spoken]
    if silent:
        return False, f"never speaks: {', '.join(silent)}"
    return True, "every participant speaks"


def check_profanity(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Offensive language by an offline linear classifier (alt-profanity-check): shallow, but it
    catches the obvious cases a tiny critic model misses."""
    from profanity_check import predict_prob

    texts = [t.text for t in view.turns] or [""]
    probs = [float(p) for p in predict_prob(texts)]
    worst = max(range(len(probs)), key=probs.__getitem__)
    if probs[worst] >= limits.profanity_threshold:
        return False, f"turn {worst + 1} is offensive (p={probs[worst]:.2f}): {texts[worst][:60]!r}"
    return True, f"max offensive-language probability {probs[worst]:.2f}"


RULE_CHECKS: dict[str, Callable[[CandidateView, RuleLimits], RuleResult]] = {
    "repetition": check_repetition,
    "format_leak": check_format_leak,
    "length": check_length,
    "participation": check_participation,
    "profanity": check_profanity,
}


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
