"""The embedded backend's history layouts: the measured one, and the append-only one that lays an
agent's first call out the same way and never changes a line it already laid out."""

from __future__ import annotations

from autogen_core.models import AssistantMessage, LLMMessage, SystemMessage, UserMessage

from orchestrator.models.chat_layout import append_only_layout, measured_layout

SYSTEM = SystemMessage(content="You are Tomas.")
OPENING = UserMessage(content="Situation: kitchen", source="user")


def said(speaker: str, text: str) -> UserMessage:
    return UserMessage(content=text, source=speaker)


def test_measured_layout_folds_the_opening_and_leaves_a_lone_partner_unlabelled() -> None:
    converted = measured_layout([SYSTEM, OPENING, said("Lena", "Hello!"), AssistantMessage(content="Hi Lena.",
                                                                                          source="Tomas")])
    assert converted == [
        {"role": "system", "content": "You are Tomas.\n\nSituation: kitchen"},
        {"role": "user", "content": "Hello!"},  # one partner: a label would only be copied
        {"role": "assistant", "content": "Hi Lena."},
    ]


def test_measured_layout_labels_every_line_once_several_people_spoke() -> None:
    converted = measured_layout([SYSTEM, said("Lena", "Hello!"), AssistantMessage(content="Hi Lena.", source="Tomas"),
                                 said("Ada", "Room for me?")])
    assert [m["content"] for m in converted[1:]] == ["Lena: Hello!", "Hi Lena.", "Ada: Room for me?"]


def test_both_layouts_leave_a_plain_request_alone() -> None:
    request: list[LLMMessage] = [SystemMessage(content="Judge."), UserMessage(content="Rate this.", source="user")]
    expected = [{"role": "system", "content": "Judge."}, {"role": "user", "content": "Rate this."}]
    assert measured_layout(request) == append_only_layout(request) == expected


def test_a_first_call_is_laid_out_as_measured() -> None:
    histories: list[list[LLMMessage]] = [
        [SYSTEM, OPENING, said("Lena", "Hello!")],
        [SYSTEM, OPENING, said("Lena", "Hello!"), said("Ada", "Hi all.")],
        [SYSTEM, OPENING, said("Lena", "Hello!"), said("Ada", "Hi all."), said("Lena", "Tea?")],
    ]
    for history in histories:
        assert append_only_layout(history) == measured_layout(history)


def test_later_calls_only_append() -> None:
    """Tomas answers the lone Lena, then Ada joins: the measured layout relabels Lena's first line
    (so nothing of the earlier prompt could be reused); the append-only one keeps it."""
    history: list[LLMMessage] = [SYSTEM, OPENING, said("Lena", "Hello!")]
    first = append_only_layout(history)
    history += [AssistantMessage(content="Hi Lena.", source="Tomas"), said("Ada", "Room for me?"),
                said("Lena", "Sure.")]
    second = append_only_layout(history)
    assert second[: len(first)] == first
    assert second[len(first)] == {"role": "assistant", "content": "Hi Lena."}
    assert [m["content"] for m in second[len(first) + 1:]] == ["Ada: Room for me?", "Lena: Sure."]
    history += [AssistantMessage(content="Of course, Ada.", source="Tomas"), said("Ada", "Thanks!")]
    third = append_only_layout(history)
    assert third[: len(second)] == second and third[-1]["content"] == "Ada: Thanks!"
    assert measured_layout(history)[1]["content"] == "Lena: Hello!"  # the rewrite the new layout avoids


def test_lines_seen_by_a_labelled_first_call_stay_labelled() -> None:
    history: list[LLMMessage] = [SYSTEM, OPENING, said("Lena", "Hello!"), said("Ada", "Hi all.")]
    first = append_only_layout(history)
    history += [AssistantMessage(content="Hello both.", source="Tomas"), said("Lena", "Tea?")]
    second = append_only_layout(history)
    assert second[: len(first)] == first and first[1]["content"] == "Lena: Hello!"
    assert second[-1]["content"] == "Lena: Tea?"
