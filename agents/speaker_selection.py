"""Speaker-selection rules for the group chat: small pure functions of the message thread.

`eligible_speakers` is the `candidate_func` handed to SelectorGroupChat: never the previous
speaker, and anyone silent for too long goes first (a tiny model otherwise ping-pongs between
two people). `least_recent_speaker` is the deterministic fallback when the model's pick is
unusable, instead of AutoGen's "repeat the previous speaker" (upstream issue #7471).
"""

from __future__ import annotations

from collections.abc import Sequence

from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, TextMessage

from agents.prompting import PromptTemplate, render

Thread = Sequence[BaseAgentEvent | BaseChatMessage]


def spoken_turns(thread: Thread, roster: Sequence[str]) -> list[tuple[str, str]]:
    """(speaker, text) of every persona line so far, orchestration messages excluded."""
    members = set(roster)
    return [
        (m.source, m.content)
        for m in thread
        if isinstance(m, TextMessage) and m.source in members
    ]


def eligible_speakers(thread: Thread, roster: Sequence[str]) -> list[str]:
    """Who may speak next: not the previous speaker; the long-silent first."""
    speakers = [speaker for speaker, _ in spoken_turns(thread, roster)]
    previous = speakers[-1] if speakers else None
    candidates = [name for name in roster if name != previous]
    # Anyone silent for a whole round (as many turns as there are people) gets the floor.
    window = len(roster)
    if len(roster) > 2 and len(speakers) >= window:
        recent = set(speakers[-window:])
        silent = [name for name in candidates if name not in recent]
        if silent:
            return silent
    return candidates


def least_recent_speaker(thread: Thread, candidates: Sequence[str], roster: Sequence[str]) -> str:
    """The candidate who spoke longest ago (never spoken counts as longest); roster order breaks ties."""
    last_spoken = {name: -1 for name in candidates}
    for index, (speaker, _) in enumerate(spoken_turns(thread, roster)):
        if speaker in last_spoken:
            last_spoken[speaker] = index
    return min(candidates, key=lambda name: (last_spoken[name], list(roster).index(name)))


def selection_prompt(
    template: PromptTemplate,
    thread: Thread,
    *,
    roster: Sequence[str],
    descriptions: dict[str, str],
    candidates: Sequence[str],
    history_turns: int | None = 8,
) -> str:
    """The constrained selector's prompt: who is here, the recent lines (all of them when
    `history_turns` is None), who may speak. Only the last line changes from one call to the
    next, so an engine that keeps the previous call's context reads just the new lines; a
    window of recent lines would shift the whole history once the conversation outgrows it."""
    turns = spoken_turns(thread, roster)
    if history_turns is not None:
        turns = turns[-history_turns:]
    return render(
        template,
        "selector",
        roles=[{"name": name, "description": descriptions.get(name, "")} for name in roster],
        history=[{"speaker": s, "text": t} for s, t in turns],
        candidates=list(candidates),
    )
