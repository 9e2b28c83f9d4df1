"""How a group chat's history is laid out for the embedded model (AutoGen drops the speaker).

Measured on the bundled 135M model, first replies (before the persona grammar existed): with the
opening scene as a user turn, 18/18 replies copied "Situation: ..."; with "Name: " on a lone
partner's lines, 9/18 began with a label; with neither, 0/18. Both layouts below therefore fold
the opening scene into the system message and leave a lone partner's lines unlabelled.

- `measured_layout` (the stock path): other speakers' lines carry "Name: " once two or more other
  people have spoken anywhere in the history. When a second person speaks, every earlier line is
  rewritten with its label, so the prompt's prefix changes and nothing of it can be reused.
- `append_only_layout` (the extending engine): an agent's first call is laid out exactly as above
  (so first replies see what was measured), and nothing already laid out changes afterwards:
  lines before the agent's first reply keep the labels that call gave them; a later line is
  labelled once two or more other people have spoken up to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from autogen_core.models import AssistantMessage, LLMMessage, SystemMessage, UserMessage

# Speakers whose lines are orchestration, not a persona's words.
UNNAMED_SOURCES = frozenset({"user", "system"})

ChatLayout = Callable[[Sequence[LLMMessage]], list[dict[str, str]]]


def _speaker(msg: LLMMessage) -> str | None:
    source = getattr(msg, "source", None)
    return None if source in UNNAMED_SOURCES else source


def _text(msg: LLMMessage) -> str:
    if isinstance(msg, SystemMessage | UserMessage | AssistantMessage) and isinstance(msg.content, str):
        return msg.content
    raise ValueError(f"the embedded backend cannot send a {type(msg).__name__} with this content")


def _assemble(system: list[str], turns: list[dict[str, str]]) -> list[dict[str, str]]:
    if system:
        turns.insert(0, {"role": "system", "content": "\n\n".join(part.strip() for part in system)})
    return turns


def measured_layout(messages: Sequence[LLMMessage]) -> list[dict[str, str]]:
    """The layout the leak figures above were measured with (labels depend on the whole history)."""
    others = {_speaker(m) for m in messages if isinstance(m, UserMessage)} - {None}
    group_chat, prefix = bool(others), len(others) >= 2
    system: list[str] = []
    converted: list[dict[str, str]] = []
    for msg in messages:
        text = _text(msg)
        if isinstance(msg, SystemMessage):
            system.append(text)
        elif isinstance(msg, UserMessage):
            speaker = _speaker(msg)
            if group_chat and speaker is None:
                system.append(text)
            else:
                converted.append({"role": "user", "content": f"{speaker}: {text}" if speaker and prefix else text})
        else:
            converted.append({"role": "assistant", "content": text})
    return _assemble(system, converted)


def append_only_layout(messages: Sequence[LLMMessage]) -> list[dict[str, str]]:
    """The measured layout for an agent's first call; afterwards earlier lines never change."""
    group_chat = any(isinstance(m, UserMessage) and _speaker(m) for m in messages)
    first_reply = next((i for i, m in enumerate(messages) if isinstance(m, AssistantMessage)), len(messages))
    # who had spoken by the agent's first call decides the labels of every line it saw then
    seen_by_first_call = {_speaker(m) for m in messages[:first_reply] if isinstance(m, UserMessage)} - {None}
    spoken: set[str] = set()
    system: list[str] = []
    converted: list[dict[str, str]] = []
    for index, msg in enumerate(messages):
        text = _text(msg)
        if isinstance(msg, SystemMessage):
            system.append(text)
        elif isinstance(msg, UserMessage):
            speaker = _speaker(msg)
            if speaker is None and group_chat and not spoken and not converted:
                system.append(text)  # the opening scene, before anyone spoke
                continue
            if speaker is not None:
                spoken.add(speaker)
            others = seen_by_first_call if index < first_reply else spoken
            labelled = speaker is not None and len(others) >= 2
            converted.append({"role": "user", "content": f"{speaker}: {text}" if labelled else text})
        else:
            converted.append({"role": "assistant", "content": text})
    return _assemble(system, converted)
