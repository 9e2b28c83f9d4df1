"""The rules a spoken line must follow, and the persona wrapper that re-samples a broken reply."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from autogen_core.models import AssistantMessage, LLMMessage, SystemMessage, UserMessage

from agents.reply_check import leak_problems, reply_problems
from orchestrator.stages.reply_resampling import CheckedReplyClient, spoken_lines
from orchestrator.store.transcript import Transcript
from tests.helpers import replay

LABELS = ["Alice", "Bob"]


def problems(text: str, earlier: list[str] | None = None) -> list[str]:
    return reply_problems(text, speaker_labels=LABELS, earlier=earlier or [])


def test_a_clean_line_has_no_problems() -> None:
    assert problems("I think the bakery on the corner opens at seven.") == []


def test_speaker_labels_at_a_line_head_are_leaks() -> None:
    assert problems("Alice: Alice: hi") == ["contains the speaker label 'alice':"]
    assert problems("Sure.\nbob: and then I left") == ["contains the speaker label 'bob':"]
    assert problems("Assistant: how can I help?") == ["contains the speaker label 'assistant':"]


def test_prompt_text_and_ai_disclaimers_are_leaks() -> None:
    assert "'situation:'" in leak_problems("Situation: a kitchen on Sunday.", LABELS)
    assert "'as an ai'" in leak_problems("As an AI, I cannot eat cake.", LABELS)
    assert "'not an ai'" in leak_problems("I'm not an AI, a model or an assistant.", LABELS)


def test_empty_and_repeated_replies_are_problems() -> None:
    assert problems("  ...  ") == ["empty reply"]
    assert problems("Fine, see you at 7!", earlier=["fine see you at 7"]) == ["repeats an earlier line word for word"]
    assert problems("Fine, see you at 8!", earlier=["fine see you at 7"]) == []


def test_parroting_six_words_of_an_earlier_line_is_a_problem() -> None:
    earlier = ["I've been doing this dream-sharing thing for a long time, and I love it."]
    copied = "You know, I've been doing this dream-sharing thing for a long time too."
    assert problems(copied, earlier) == ["copies 6 or more words in a row from an earlier line"]
    assert problems("I've been doing this for years, honestly.", earlier) == []  # a short echo is talk


def history() -> list[LLMMessage]:
    return [SystemMessage(content="You are Bob."), UserMessage(content="Shall we go?", source="Alice"),
            AssistantMessage(content="Yes, let's.", source="Bob"), UserMessage(content="Now?", source="Alice")]


def test_spoken_lines_are_the_user_and_assistant_texts() -> None:
    assert spoken_lines(history()) == ["Shall we go?", "Yes, let's.", "Now?"]


def check(reply: str, earlier: Sequence[str]) -> list[str]:
    return reply_problems(reply, speaker_labels=LABELS, earlier=earlier)


def test_a_broken_reply_is_sampled_again_and_recorded() -> None:
    inner = replay(["Alice: now!", "Yes, let's.", "Give me five minutes."])
    transcript = Transcript()
    client = CheckedReplyClient(inner, check=check, attempts=3, agent="Bob", transcript=transcript)
    result = asyncio.run(client.create(history()))
    assert result.content == "Give me five minutes."
    rejected = [e for e in transcript.events if e["event"] == "reply_rejected"]
    assert [(e["attempt"], e["problems"], e["kept"]) for e in rejected] == [
        (1, ["contains the speaker label 'alice':"], False),
        (2, ["repeats an earlier line word for word"], False),
    ]


def test_when_attempts_run_out_the_last_reply_is_kept_and_marked() -> None:
    inner = replay(["Alice: now!", "Situation: the door."])
    transcript = Transcript()
    client = CheckedReplyClient(inner, check=check, attempts=2, agent="Bob", transcript=transcript)
    result = asyncio.run(client.create(history()))
    assert result.content == "Situation: the door."  # the critics judge it; nothing is rewritten
    assert [e["kept"] for e in transcript.events if e["event"] == "reply_rejected"] == [False, True]


def test_one_attempt_never_resamples() -> None:
    inner = replay(["Alice: now!", "never asked"])
    client = CheckedReplyClient(inner, check=check, attempts=1, agent="Bob", transcript=Transcript())
    assert asyncio.run(client.create(history())).content == "Alice: now!"
