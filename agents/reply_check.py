"""What a spoken line must not contain: shared by the persona reply check (a reply that fails is
sampled again) and the format_leak critic (a conversation that still contains one is rejected).

Pure functions over text; no model, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[\w']+")
# Prompt, schema and chat-template text that must never appear in a spoken line.
LEAK_MARKERS = (
    "as an ai", "an ai language model", "i am an ai", "i'm an ai", "not an ai", "language model",
    "ai assistant", "<|im_start|>", "<|im_end|>", "<|endoftext|>", '{"', "next_speaker",
    "situation:", "topic:", "rules:", "speak only as", "speech style:", "long ago:",
)
GENERIC_LABELS = ("user", "assistant", "system", "speaker", "narrator")
# People echo a phrase; six words in a row lifted from an earlier line is parroting, and the
# start of the loops the repetition critic rejects.
COPY_RUN = 6


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def leak_problems(text: str, speaker_labels: Iterable[str]) -> list[str]:
    """Speaker labels at the head of a line ("Alice: hi"), prompt or schema text, AI disclaimers."""
    labels = {label.casefold() for label in speaker_labels} | set(GENERIC_LABELS)
    lowered = text.casefold()
    problems = []
    for line in lowered.splitlines():
        head, sep, _ = line.partition(":")
        if sep and head.strip() in labels:
            problems.append(f"the speaker label {head.strip()!r}:")
            break
    problems += [repr(marker) for marker in LEAK_MARKERS if marker in lowered]
    return problems


def reply_problems(text: str, *, speaker_labels: Iterable[str], earlier: Iterable[str]) -> list[str]:
    """Why a persona's reply cannot be spoken as is: empty, leaking, or a verbatim repeat."""
    said = " ".join(words(text))
    if not said:
        return ["empty reply"]
    problems = [f"contains {p}" for p in leak_problems(text, speaker_labels)]
    earlier = list(earlier)
    if any(said == " ".join(words(line)) for line in earlier):
        problems.append("repeats an earlier line word for word")
    elif _runs(words(text)) & set().union(*(_runs(words(line)) for line in earlier)):
        problems.append(f"copies {COPY_RUN} or more words in a row from an earlier line")
    return problems


def _runs(tokens: list[str]) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + COPY_RUN]) for i in range(len(tokens) - COPY_RUN + 1)}
