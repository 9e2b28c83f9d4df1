"""The rules a spoken line must follow, and the persona wrapper that re-samples a broken reply."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from autogen_core.models import AssistantMessage, CreateResult, LLMMessage, SystemMessage, UserMessage

from agents.reply_check import leak_problems, reply_findings, reply_problems
from orchestrator.models.wrapper import WrappingClient
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
    assert problems("Great, see you at 8!", earlier=["fine see you at 7"]) == []


def test_parroting_six_words_of_an_earlier_line_is_a_problem() -> None:
    earlier = ["I've been doing this dream-sharing thing for a long time, and I love it."]
    copied = "You know, I've been doing this dream-sharing thing for a long time too."
    assert problems(copied, earlier) == ["copies 6 or more words in a row from an earlier line"]
    assert problems("Honestly, I've been doing this for years.", earlier) == []  # a short echo is talk


def history() -> list[LLMMessage]:
    return [SystemMessage(content="You are Bob."), UserMessage(content="Shall we go?", source="Alice"),
            AssistantMessage(content="Yes, let's.", source="Bob"), UserMessage(content="Now?", source="Alice")]


def test_spoken_lines_are_the_user_and_assistant_texts() -> None:
    assert spoken_lines(history()) == ["Shall we go?", "Yes, let's.", "Now?"]


def check(reply: str, earlier: Sequence[str]) -> dict[str, list[str]]:
    return reply_findings(reply, speaker_labels=LABELS, earlier=earlier, speaker="Bob", names=LABELS)


def test_a_broken_reply_is_sampled_again_and_recorded() -> None:
    inner = replay(["Alice: now!", "Yes, let's.", "Give me five minutes."])
    transcript = Transcript()
    client = CheckedReplyClient(inner, check=check, attempts=3, agent="Bob", transcript=transcript)
    result = asyncio.run(client.create(history()))
    assert result.content == "Give me five minutes."
    rejected = [e for e in transcript.events if e["event"] == "reply_rejected"]
    assert [(e["attempt"], e["problems"], e["rules"], e["kept"]) for e in rejected] == [
        (1, ["contains the speaker label 'alice':"], ["format_leak"], False),
        (2, ["repeats an earlier line word for word"], ["repetition"], False),
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


EARLIER = ["Situation: Sunday in the kitchen.", "Shall we try the new oven?",
           "I'm glad to hear that. This shows how much you care."]


def rules(reply: str, speaker: str = "Bob", earlier: list[str] | None = None) -> list[str]:
    return sorted(reply_findings(reply, speaker_labels=LABELS, earlier=EARLIER if earlier is None else earlier,
                                 speaker=speaker, names=LABELS))


def test_a_clean_reply_breaks_no_rule() -> None:
    assert rules("Let's bake the rolls first, then we talk.") == []


@pytest.mark.parametrize(("reply", "expected"), [
    ("Situation 2.", ["stage_text"]),
    ("*nods* Fine.", ["stage_text"]),
    ("Santupulada.", ["fragment"]),
    ("Alice and Bob.", ["roll_call", "self_address"]),
    ("Hey Bob, what do you think?", ["self_address"]),
    ("I'm glad to hear that. The oven looks great.", ["opening"]),
    ("Je pense que c'est une très bonne idée.", ["language"]),
])
def test_each_non_speech_rule_rejects_its_reply(reply: str, expected: list[str]) -> None:
    assert rules(reply) == expected


def test_without_names_the_name_rules_stay_quiet() -> None:
    found = reply_findings("Alice and Bob.", speaker_labels=LABELS, earlier=[])
    assert "self_address" not in found and "roll_call" not in found


def test_a_reply_in_another_language_is_sampled_again_with_its_rules_recorded() -> None:
    inner = replay(["Je pense que c'est une très bonne idée.", "Situation 3.", "Fine, give me five minutes."])
    transcript = Transcript()
    client = CheckedReplyClient(inner, check=check, attempts=3, agent="Bob", transcript=transcript)
    messages: list[LLMMessage] = [SystemMessage(content="You are Bob."),
                UserMessage(content="Shall we go to the market now? I think we should go before it rains.",
                            source="Alice")]
    assert asyncio.run(client.create(messages)).content == "Fine, give me five minutes."
    rejected = [(e["rules"], e["kept"]) for e in transcript.events if e["event"] == "reply_rejected"]
    assert rejected == [(["language"], False), (["stage_text"], False)]


def test_a_reply_is_kept_from_opening_with_its_speakers_name_or_a_stage_label() -> None:
    from agents.reply_check import avoided_openings

    words = avoided_openings("Bao")
    assert words[0] == "Bao" and {"Situation", "Scene", "Topic"} <= set(words)
    # the reply check rejects both openings too, where no decoder keeps a reply from them
    assert reply_findings("Bao, I'm glad you came.", speaker_labels=[], earlier=[], speaker="Bao",
                          names=["Bao", "Joy"])
    assert reply_findings("Situation 2. We meet at the park.", speaker_labels=[], earlier=[], speaker="Bao",
                          names=["Bao", "Joy"])


@pytest.mark.parametrize("line", ["Diego, here's a revised version of the text with minor adjustments.",
                                  "Here's the edited text with minor edits for clarity.",
                                  "I can answer that as a chatbot would.", "She speaks like Diego in first person.",
                                  "It matters to all of us (the topic is about helping education).",
                                  "I'll make sure my character does the same when we meet again.",
                                  "Remember, there are only 20 words left in my bio!",
                                  "As a creative assistant and an AI-powered storyteller, I am delighted.",
                                  "Mehmet and Bao, speaking in the first person.",
                                  "In your scene, you have a beautiful and talented person.",
                                  "You are speaking with a Japanese-American mother.",
                                  "Diego, 54 years old, talking with Bao about the garden.",
                                  "I'm sorry, but I've been unable to assist you in a moment.",
                                  "If you have a question, don't hesitate to ask in any language!",
                                  "If there are any questions or problems, please don't hesitate about asking."])
def test_an_assistant_rewriting_text_is_a_leak(line: str) -> None:
    found = reply_findings(line, speaker_labels=[], earlier=[], speaker="Bao", names=["Bao", "Diego"])
    assert "format_leak" in found


class _CutAtTheLimit(WrappingClient):
    """Replays its replies as the token limit would end them: finish reason "length"."""

    async def create(self, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        result = await self._inner.create(messages, **kwargs)
        return result.model_copy(update={"finish_reason": "length"})


def test_a_reply_cut_by_the_token_limit_ends_at_its_last_whole_sentence() -> None:
    cut = "Give me five minutes. I still have to find my keys and the"
    transcript = Transcript()
    client = CheckedReplyClient(_CutAtTheLimit(replay([cut])), check=check, attempts=3, agent="Bob",
                                transcript=transcript)
    assert asyncio.run(client.create(history())).content == "Give me five minutes."
    trimmed = [e for e in transcript.events if e["event"] == "reply_trimmed"]
    assert [(e["attempt"], e["dropped"]) for e in trimmed] == [(1, "I still have to find my keys and the")]


def test_a_cut_reply_with_no_whole_sentence_is_sampled_again() -> None:
    transcript = Transcript()
    client = CheckedReplyClient(_CutAtTheLimit(replay(["I still have to find my keys and the", "Coming now!"])),
                                check=check, attempts=3, agent="Bob", transcript=transcript)
    assert asyncio.run(client.create(history())).content == "Coming now!"
    assert [e["rules"] for e in transcript.events if e["event"] == "reply_rejected"] == [["cut_off"]]


def test_a_reply_that_ended_by_itself_is_never_trimmed() -> None:
    client = CheckedReplyClient(replay(["Give me five minutes. And the"]), check=check, attempts=1, agent="Bob",
                                transcript=Transcript())
    assert asyncio.run(client.create(history())).content == "Give me five minutes. And the"


def test_a_reply_in_quotation_marks_is_said_not_quoted() -> None:
    transcript = Transcript()
    client = CheckedReplyClient(replay(['"Alice, give me five minutes."']), check=check, attempts=1, agent="Bob",
                                transcript=transcript)
    assert asyncio.run(client.create(history())).content == "Alice, give me five minutes."
    client = CheckedReplyClient(replay(['She said "five minutes" twice.']), check=check, attempts=1, agent="Bob",
                                transcript=transcript)
    assert asyncio.run(client.create(history())).content == 'She said "five minutes" twice.'
