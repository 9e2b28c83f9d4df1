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


@pytest.mark.parametrize(("name", "expected"), [
    ("stage_text", "turn 4 (Carol) is a stage label ('Situation 2.')"),
    ("roll_call", "turn 6 (Bob) only lists names ('Alice and Carol.')"),
    ("self_address", "turn 5 (Alice) addresses the speaker Alice by name ('bob and alice')"),
])
async def test_turns_that_are_not_speech_fail_the_speech_expert(name: str, expected: str) -> None:
    out = await verdict("speech", name)
    assert out.verdict == "fail"
    assert out.rationale == expected


async def test_the_same_opening_on_three_turns_fails_the_openings_expert() -> None:
    out = await verdict("openings", "same_openings")
    assert out.verdict == "fail"
    assert out.rationale == "3 turns open with \"i'm glad to\" (limit 2)"
    relaxed = RuleCritic("openings", RuleLimits(max_same_opening=3))
    result = await relaxed.run(task=candidate_message(view("same_openings")))
    message = result.messages[-1]
    assert isinstance(message, StructuredMessage) and isinstance(message.content, RuleOutput)
    assert message.content.verdict == "pass"


async def test_one_two_word_start_on_many_turns_fails_the_openings_expert() -> None:
    starts = ["I'm so glad you're taking care of yourself.", "I'm glad you've taken the time.",
              "I'm glad of your passion.", "I'm so glad that you're here.", "I'm glad about the weather."]
    turns = [Turn(speaker=("Alice", "Bob", "Carol")[i % 3], text=t) for i, t in enumerate(starts)]
    agent = RuleCritic("openings", RuleLimits(max_same_opening=2, max_same_start=4))
    result = await agent.run(task=candidate_message(CandidateView(experience=EXPERIENCE, turns=turns)))
    message = result.messages[-1]
    assert isinstance(message, StructuredMessage) and isinstance(message.content, RuleOutput)
    assert message.content.verdict == "fail"
    assert message.content.rationale == "5 turns open with \"i'm glad\" (limit 4)"
    four = RuleCritic("openings", RuleLimits(max_same_opening=2, max_same_start=4))
    result = await four.run(task=candidate_message(CandidateView(experience=EXPERIENCE, turns=turns[:4])))
    message = result.messages[-1]
    assert isinstance(message, StructuredMessage) and isinstance(message.content, RuleOutput)
    assert message.content.verdict == "pass"


async def test_a_turn_in_another_language_fails_the_language_expert() -> None:
    out = await verdict("language", "language_drift")
    assert out.verdict == "fail"
    assert out.rationale.startswith("turn 7 (Carol) reads as fr")


@pytest.mark.parametrize("name", ["stage_text", "roll_call", "self_address", "same_openings", "language_drift"])
async def test_each_new_defect_fails_only_its_own_expert(name: str) -> None:
    own = {"stage_text": "speech", "roll_call": "speech", "self_address": "speech", "same_openings": "openings",
           "language_drift": "language"}[name]
    failed = [expert for expert in RULES if (await verdict(expert, name)).verdict == "fail"]
    assert failed == [own]


def test_unknown_rule_expert_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rule expert"):
        RuleCritic("vibes", LIMITS)
