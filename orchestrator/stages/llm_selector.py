"""The constrained LLM speaker selector handed to SelectorGroupChat as `selector_func`.

The model picks from an enum of eligible names (a grammar on the embedded model, the backend's
structured-output mode on OpenAI-compatible endpoints), so its answer is a valid participant
where the mode enforces the schema; a malformed answer (possible in `prompt` mode) is retried a
bounded number of times, then the least recent eligible speaker takes the turn. Every decision,
with its candidates and any rejected attempts, is written to the transcript.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from autogen_core.models import ChatCompletionClient, UserMessage
from pydantic import ValidationError

from agents.prompting import PromptTemplate
from agents.schemas import speaker_choice_schema
from agents.speaker_selection import Thread, eligible_speakers, least_recent_speaker, selection_prompt
from orchestrator.store.transcript import Transcript

# recent lines shown to the selector when every call re-reads its prompt (bounds its cost)
SELECTOR_HISTORY_TURNS = 8


def make_constrained_selector(
    *,
    roster: Sequence[str],
    descriptions: dict[str, str],
    client: ChatCompletionClient,
    template: PromptTemplate,
    transcript: Transcript,
    max_attempts: int,
    history_turns: int | None = SELECTOR_HISTORY_TURNS,
) -> Callable[[Thread], Awaitable[str]]:
    """`history_turns`: the recent lines the selector sees; None for all of them, for engines
    that keep the selector's context between calls (then only new lines cost anything)."""
    roster = list(roster)

    async def select_next_speaker(thread: Thread) -> str:
        candidates = eligible_speakers(thread, roster)
        if len(candidates) == 1:
            transcript.add("speaker_selected", candidates=candidates, speaker=candidates[0], method="only_candidate")
            return candidates[0]
        prompt = selection_prompt(template, thread, roster=roster, descriptions=descriptions, candidates=candidates,
                                  history_turns=history_turns)
        schema = speaker_choice_schema(candidates)
        failures: list[str] = []
        for attempt in range(1, max_attempts + 1):
            try:
                result = await client.create([UserMessage(content=prompt, source="user")], json_output=schema)
                raw = result.content if isinstance(result.content, str) else str(result.content)
                choice = str(schema.model_validate_json(raw).next_speaker)  # type: ignore[attr-defined]
            except ValidationError as exc:
                failures.append(f"attempt {attempt}: {exc.errors()[0]['msg']}")
                continue
            # earlier attempts' malformed answers (the raw replies are in the model_call events)
            rejected = {"failures": failures} if failures else {}
            transcript.add("speaker_selected", candidates=candidates, speaker=choice, method="llm", attempt=attempt,
                           **rejected)
            return choice
        choice = least_recent_speaker(thread, candidates, roster)
        transcript.add("speaker_selected", candidates=candidates, speaker=choice, method="fallback", failures=failures)
        return choice

    return select_next_speaker
