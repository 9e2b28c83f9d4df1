"""What a spoken line must not contain: shared by the persona reply check (a reply that fails is
sampled again) and the rule critics (a conversation that still contains one is rejected): leaked
labels and prompt text (format_leak), repeats, non-speech (agents/speech_rules.py) and a switch of
language (agents/language_check.py).

Pure functions over text; no model, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agents.language_check import language_drift
from agents.speech_rules import repeated_opening, speech_problems
from agents.word_lists import word_set, words

# Prompt, schema and chat-template text that must never appear in a spoken line.
LEAK_MARKERS = (
    "as an ai", "an ai language model", "i am an ai", "i'm an ai", "not an ai", "being an ai", "language model",
    "ai assistant", "<|im_start|>", "<|im_end|>", "<|endoftext|>", '{"', "next_speaker",
    "situation:", "topic:", "rules:", "speak only as", "speech style:", "long ago:",
    # an assistant editing text instead of a person talking, or the persona prompt's wording
    "revised version", "version of the text", "version of your text", "revised text", "edited text",
    "edited version", "minor edits", "chatbot", "in first person",
    # the prompt's framing read out in an aside: "(the topic is about helping education)"
    "(the topic", "(topic", "(the subject", "(the message is", "(the situation", "(situation",
    # the role play or the reply's word limit talked about: "I'll make sure my character does the
    # same", "only 20 words left in my bio", "as a creative assistant and an AI-powered storyteller"
    "my character", "my bio", "words left", "characters left", "creative assistant", "ai-powered",
    # the persona prompt's instructions read out ("Mehmet, speaking in the first person and no
    # narration.") or a writer's voice about the scene ("In your scene, you have...")
    "in the first person", "no narration", "in your scene", "detailed scenario", "for your reference",
    # the persona and selector prompts' framing turned on the listener ("You are speaking with a
    # Japanese-American mother.")
    "you are speaking with", "years old, talking with", "role play game",
    # the instruction model's helpdesk voice ("I'm sorry, but I've been unable to assist you",
    # "If you have a question... don't hesitate to ask in any language!")
    "assist you", "unable to assist", "hesitate to ask", "hesitate about asking", "hesitate to reach out",
    "feel free to ask", "any questions or", "if you have any questions",
)
GENERIC_LABELS = ("user", "assistant", "system", "speaker", "narrator")
# People echo a phrase; six words in a row lifted from an earlier line is parroting, and the
# start of the loops the repetition critic rejects.
COPY_RUN = 6


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


def avoided_openings(speaker: str) -> list[str]:
    """Words a reply must not open with, for decoders that can keep it from them: the speaker's
    own name ("Bao, I'm glad..." said by Bao) and the stage labels ("Situation 2."), capitalised
    as a line would open with them."""
    return [speaker, *sorted(label.capitalize() for label in word_set("stage_labels"))]


def reply_findings(text: str, *, speaker_labels: Iterable[str], earlier: Iterable[str], speaker: str = "",
                   names: Sequence[str] = ()) -> dict[str, list[str]]:
    """Why a persona's reply cannot be spoken as is, by rule (empty, format_leak, repetition,
    stage_text, roll_call, self_address, opening, language); empty means it can.

    `speaker` is the replying participant's display name and `names` every participant's: without
    them the name-based rules (roll call, self-address, narration by name) have nothing to go on."""
    said = " ".join(words(text))
    if not said:
        return {"empty": ["empty reply"]}
    found: dict[str, list[str]] = {}
    leaks = [f"contains {p}" for p in leak_problems(text, speaker_labels)]
    if leaks:
        found["format_leak"] = leaks
    earlier = list(earlier)
    if any(said == " ".join(words(line)) for line in earlier):
        found["repetition"] = ["repeats an earlier line word for word"]
    elif _runs(words(text)) & set().union(*(_runs(words(line)) for line in earlier)):
        found["repetition"] = [f"copies {COPY_RUN} or more words in a row from an earlier line"]
    for rule, why in speech_problems(text, speaker=speaker, names=names).items():
        found[rule] = [why]
    opening = None if "repetition" in found else repeated_opening(text, earlier, names)
    if opening:
        found["opening"] = [opening]
    drift = language_drift(text, " ".join(earlier))
    if drift:
        found["language"] = [drift]
    return found


def reply_problems(text: str, *, speaker_labels: Iterable[str], earlier: Iterable[str], speaker: str = "",
                   names: Sequence[str] = ()) -> list[str]:
    """`reply_findings` as one list of reasons."""
    found = reply_findings(text, speaker_labels=speaker_labels, earlier=earlier, speaker=speaker, names=names)
    return [why for reasons in found.values() for why in reasons]


def _runs(tokens: list[str]) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + COPY_RUN]) for i in range(len(tokens) - COPY_RUN + 1)}
