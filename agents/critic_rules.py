"""Rule experts: critic checks that call no model, cheap and reliable even when the model is
tiny (degenerate repetition, format leaks, length bounds, a silent speaker, profanity, turns that
are not speech, one opening over and over, a switch of language), and the limits they apply.
Pure functions of a `CandidateView`; the agent that runs them is `RuleCritic` in
agents/critics.py. `RULE_CHECKS` names every rule expert, for the panel and the
scenario schema alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from agents.language_check import language_drift
from agents.reply_check import leak_problems
from agents.speaker_ids import speaker_ids
from agents.speech_rules import OPENING_WORDS, opening, speech_problems
from agents.verdicts import CandidateView
from agents.word_lists import words as _words

__all__ = ["RULE_CHECKS", "RuleLimits", "RuleResult"]


class RuleLimits(BaseModel):
    """Thresholds of the rule experts; also the scenario's `critics.limits` section, so a bad
    value is a configuration error naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ngram: int = Field(default=4, ge=2, le=10)
    max_ngram_repeats: int = Field(default=3, ge=1, le=1000)  # one n-gram more often than this fails
    max_duplicate_turns: int = Field(default=0, ge=0, le=1000)  # verbatim repeated turns allowed
    min_turns: int = Field(default=4, ge=1, le=1000)
    max_turns: int = Field(default=40, ge=1, le=1000)
    min_words_per_turn: int = Field(default=1, ge=0, le=10_000)
    max_words_per_turn: int = Field(default=80, ge=1, le=10_000)
    profanity_threshold: float = Field(default=0.8, gt=0, le=1)
    # turns that may open with the same first words (agents/speech_rules.py OPENING_WORDS)
    max_same_opening: int = Field(default=2, ge=1, le=1000)
    # turns that may start with the same two words: "I'm glad" is ordinary twice, a tic on six of
    # twelve turns even when the third word changes ("I'm so glad you...", "I'm glad of...")
    max_same_start: int = Field(default=4, ge=1, le=1000)


RuleResult = tuple[bool, str]


def check_repetition(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Degenerate repetition: a turn repeated verbatim, or one word n-gram over and over."""
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for i, turn in enumerate(view.turns):
        key = " ".join(_words(turn.text))
        if key and key in seen:
            duplicates.append(f"turn {i + 1} repeats turn {seen[key] + 1} ({turn.text[:60]!r})")
        seen.setdefault(key, i)
    if len(duplicates) > limits.max_duplicate_turns:
        return False, "; ".join(duplicates[:3])
    grams: Counter[tuple[str, ...]] = Counter()
    n = limits.ngram
    for turn in view.turns:
        words = _words(turn.text)
        grams.update(tuple(words[j : j + n]) for j in range(len(words) - n + 1))
    if grams:
        gram, count = grams.most_common(1)[0]
        if count > limits.max_ngram_repeats:
            return False, f"the {n}-gram {' '.join(gram)!r} occurs {count} times (limit {limits.max_ngram_repeats})"
    return True, f"no repeated turns; no {n}-gram over {limits.max_ngram_repeats} times"


def check_format_leak(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Speaker labels inside an utterance, prompt/schema text, 'as an AI'."""
    people = view.experience.participants
    labels = {p.name for p in people} | set(speaker_ids([p.name for p in people]).values())
    problems = [f"turn {i + 1} ({turn.speaker}) contains {problem}"
                for i, turn in enumerate(view.turns) for problem in leak_problems(turn.text, labels)]
    if problems:
        return False, "; ".join(problems[:3])
    return True, "no speaker labels, prompt text or AI disclaimers in the turns"


def check_length(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Turn count and words per turn within bounds."""
    count = len(view.turns)
    if not limits.min_turns <= count <= limits.max_turns:
        return False, f"{count} turns, expected {limits.min_turns}-{limits.max_turns}"
    for i, turn in enumerate(view.turns):
        n = len(_words(turn.text))
        if n < limits.min_words_per_turn:
            return False, f"turn {i + 1} ({turn.speaker}) has {n} words (minimum {limits.min_words_per_turn})"
        if n > limits.max_words_per_turn:
            return False, f"turn {i + 1} ({turn.speaker}) has {n} words (maximum {limits.max_words_per_turn})"
    return True, f"{count} turns, each {limits.min_words_per_turn}-{limits.max_words_per_turn} words"


def check_participation(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Every participant speaks at least once."""
    spoken = {t.speaker.casefold() for t in view.turns}
    silent = [p.name for p in view.experience.participants if p.name.casefold() not in spoken]
    if silent:
        return False, f"never speaks: {', '.join(silent)}"
    return True, "every participant speaks"


def check_profanity(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Offensive language by an offline linear classifier (alt-profanity-check): shallow, but it
    catches the obvious cases a tiny critic model misses."""
    from profanity_check import predict_prob

    texts = [t.text for t in view.turns] or [""]
    probs = [float(p) for p in predict_prob(texts)]
    worst = max(range(len(probs)), key=probs.__getitem__)
    if probs[worst] >= limits.profanity_threshold:
        return False, f"turn {worst + 1} is offensive (p={probs[worst]:.2f}): {texts[worst][:60]!r}"
    return True, f"max offensive-language probability {probs[worst]:.2f}"


def check_speech(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Turns that are not a person speaking: stage text, a lone word, a roll call of names, the
    speaker addressing themselves (agents/speech_rules.py)."""
    names = [p.name for p in view.experience.participants]
    problems = [f"turn {i + 1} ({turn.speaker}) {why}" for i, turn in enumerate(view.turns)
                for why in speech_problems(turn.text, speaker=turn.speaker, names=names).values()]
    if problems:
        return False, "; ".join(problems[:3])
    return True, "every turn is speech: no stage text, lone words, roll calls or self-address"


def check_openings(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """One opening over and over ("I'm glad to hear that..." on five turns), or one start of two
    words on many turns with the rest varied ("I'm so glad you...", "I'm glad of your...")."""
    names = [p.name for p in view.experience.participants]
    firsts = [first for turn in view.turns if (first := opening(turn.text, names))]
    for counted, limit in ((Counter(firsts), limits.max_same_opening),
                           (Counter(first[:2] for first in firsts), limits.max_same_start)):
        if counted:
            first, count = counted.most_common(1)[0]
            if count > limit:
                return False, f"{count} turns open with {' '.join(first)!r} (limit {limit})"
    return (True, f"no {OPENING_WORDS}-word opening on more than {limits.max_same_opening} turns and no "
                  f"two-word start on more than {limits.max_same_start}")


def check_language(view: CandidateView, limits: RuleLimits) -> RuleResult:
    """Turns in another language than the conversation (its experience and turns together), by
    script and common-word profile (agents/language_check.py, offline)."""
    exp = view.experience
    reference = " ".join([exp.situation, exp.topic, exp.starter.text, *(t.text for t in view.turns)])
    problems = [f"turn {i + 1} ({turn.speaker}) {why}" for i, turn in enumerate(view.turns)
                if (why := language_drift(turn.text, reference))]
    if problems:
        return False, "; ".join(problems[:3])
    return True, "every turn is in the conversation's language"


RULE_CHECKS: dict[str, Callable[[CandidateView, RuleLimits], RuleResult]] = {
    "repetition": check_repetition,
    "format_leak": check_format_leak,
    "length": check_length,
    "participation": check_participation,
    "profanity": check_profanity,
    "speech": check_speech,
    "openings": check_openings,
    "language": check_language,
}
