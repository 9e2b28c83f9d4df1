"""Rule experts (agents that call no model) on hand-made good and bad conversations."""

from __future__ import annotations

import json

import pytest
from autogen_agentchat.messages import StructuredMessage

from agents.critic_rules import RULE_CHECKS, RuleLimits
from agents.critics import RuleCritic, RuleOutput, candidate_message
from agents.schemas import Experience, Turn
from agents.verdicts import CandidateView
from tests.helpers import FIXTURES

FIXTURE = json.loads((FIXTURES / "critic_conversations.json").read_text())
EXPERIENCE = Experience.model_validate(FIXTURE["experience"])
LIMITS = RuleLimits(min_turns=6, max_turns=40)
RULES = sorted(RULE_CHECKS)


def view(name: str) -> CandidateView:
    turns = [Turn(**t) for t in FIXTURE["conversations"][name]]
    return CandidateView(experience=EXPERIENCE, turns=turns)


async def verdict(expert: str, name: str) -> RuleOutput:
    agent = RuleCritic(expert, LIMITS)
    result = await agent.run(task=candidate_message(view(name)))
    message = result.messages[-1]
    assert isinstance(message, StructuredMessage)
    assert message.source == f"critic_{expert}"
    assert isinstance(message.content, RuleOutput)
    return message.content


@pytest.mark.parametrize("expert", RULES)
async def test_clean_conversation_passes_every_rule_expert(expert: str) -> None:
    out = await verdict(expert, "clean")
    assert out.verdict == "pass", out.rationale


async def test_looping_conversation_is_rejected_for_repetition() -> None:
    out = await verdict("repetition", "looping")
    assert out.verdict == "fail"
    assert "repeats turn" in out.rationale


async def test_repeated_ngram_alone_is_rejected() -> None:
    turns = [Turn(speaker=s, text=t) for s, t in [
        ("Alice", "we should go to the lake this weekend"),
        ("Bob", "yes we should go to the lake, I agree"),
        ("Carol", "fine, we should go to the lake then"),
        ("Alice", "great, so we should go to the lake early"),
    ]]
    agent = RuleCritic("repetition", RuleLimits(ngram=4, max_ngram_repeats=3))
    result = await agent.run(task=candidate_message(CandidateView(experience=EXPERIENCE, turns=turns)))
    message = result.messages[-1]
    assert isinstance(message, StructuredMessage) and isinstance(message.content, RuleOutput)
    out = message.content
    assert out.verdict == "fail"
    assert "'we should go to' occurs 4 times" in out.rationale


async def test_speaker_label_leak_is_rejected() -> None:
    out = await verdict("format_leak", "label_leak")
    assert out.verdict == "fail"
    assert "speaker label 'alice'" in out.rationale
    # The leaking conversation is otherwise fine: only the format expert catches it.
    assert (await verdict("repetition", "label_leak")).verdict == "pass"


async def test_ai_disclaimer_is_a_format_leak() -> None:
    out = await verdict("format_leak", "ai_disclaimer")
    assert out.verdict == "fail"
    assert "as an ai" in out.rationale


async def test_silent_speaker_is_rejected() -> None:
    out = await verdict("participation", "silent_speaker")
    assert out.verdict == "fail"
    assert "Bob" in out.rationale


async def test_too_few_turns_is_rejected() -> None:
    out = await verdict("length", "too_short")
    assert out.verdict == "fail"
    assert "3 turns, expected 6-40" in out.rationale


async def test_profanity_is_rejected() -> None:
    out = await verdict("profanity", "profane")
    assert out.verdict == "fail"
    assert "turn 2" in out.rationale


def test_unknown_rule_expert_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rule expert"):
        RuleCritic("vibes", LIMITS)
