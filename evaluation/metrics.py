"""Per-dataset statistics (ConvoGen Table III), MTLD (Table V) and distinct-n.

All word counts use evaluation.text.tokens, so the statistics, MTLD and distinct-n agree on
what a word is. Speaker labels are never part of the measured text: only turn texts are used.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass

from lexicalrichness import LexicalRichness

from evaluation.corpus import Conversation
from evaluation.text import tokens, turn_tokens

MTLD_THRESHOLD = 0.72
# McCarthy & Jarvis: MTLD is unstable below ~100 tokens; under 50 a single factor dominates.
MIN_MTLD_TOKENS = 50


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)


def mtld(words: list[str], threshold: float = MTLD_THRESHOLD) -> float:
    """MTLD (forward/backward mean) of an already tokenised text; raises ValueError on no words."""
    if not words:
        raise ValueError("MTLD of an empty text is undefined")
    return float(
        LexicalRichness(words, preprocessor=None, tokenizer=None).mtld(threshold=threshold)
    )


@dataclass(frozen=True)
class MtldResult:
    per_conversation: dict[str, float]
    short: dict[str, int]  # id -> token count, excluded from mean/std
    empty: list[str]

    def summary(self) -> dict[str, object]:
        values = list(self.per_conversation.values())
        return {
            "threshold": MTLD_THRESHOLD,
            "min_tokens": MIN_MTLD_TOKENS,
            "mean": _mean(values),
            "std": _std(values),
            "median": statistics.median(values) if values else None,
            "measured": len(values),
            "short_flagged": len(self.short),
            "short_ids": sorted(self.short)[:20],
            "empty": len(self.empty),
        }


def mtld_per_conversation(
    conversations: list[Conversation], min_tokens: int = MIN_MTLD_TOKENS
) -> MtldResult:
    scores: dict[str, float] = {}
    short: dict[str, int] = {}
    empty: list[str] = []
    for conv in conversations:
        words = turn_tokens(conv.texts)
        if not words:
            empty.append(conv.id)
        elif len(words) < min_tokens:
            short[conv.id] = len(words)
        else:
            scores[conv.id] = mtld(words)
    return MtldResult(scores, short, empty)


def distinct_ns(
    conversations: list[Conversation], ns: tuple[int, ...] = (1, 2, 3)
) -> dict[str, float | None]:
    """Unique n-grams / all n-grams over every turn of the dataset (n-grams do not cross turns)."""
    turns = [tokens(text) for conv in conversations for text in conv.texts]
    result: dict[str, float | None] = {}
    for n in ns:
        unique: set[tuple[str, ...]] = set()
        total = 0
        for words in turns:
            grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
            unique.update(grams)
            total += len(grams)
        result[f"distinct_{n}"] = len(unique) / total if total else None
    return result


@dataclass(frozen=True)
class ConversationStats:
    words: int
    turns: int
    speakers: int
    top_speaker_share: float
    speaker_balance: float  # normalised entropy of turn shares: 1 = perfectly even


def conversation_stats(conv: Conversation) -> ConversationStats:
    counts = Counter(t.speaker for t in conv.turns)
    turns = len(conv.turns)
    shares = [c / turns for c in counts.values()] if turns else []
    entropy = -sum(p * math.log(p) for p in shares if p > 0)
    balance = entropy / math.log(len(shares)) if len(shares) > 1 else (1.0 if shares else 0.0)
    return ConversationStats(
        words=len(turn_tokens(conv.texts)),
        turns=turns,
        speakers=len(counts),
        top_speaker_share=max(shares) if shares else 0.0,
        speaker_balance=balance,
    )


def dataset_statistics(conversations: list[Conversation]) -> dict[str, object]:
    per = [conversation_stats(c) for c in conversations]
    turn_words = [len(tokens(t.text)) for c in conversations for t in c.turns]
    total_turns = sum(s.turns for s in per)
    rank_shares: dict[int, list[float]] = {}
    for conv in conversations:
        counts = sorted(Counter(t.speaker for t in conv.turns).values(), reverse=True)
        for rank, count in enumerate(counts, start=1):
            rank_shares.setdefault(rank, []).append(count / max(1, len(conv.turns)))
    return {
        "conversations": len(per),
        "nW_mean": _mean([s.words for s in per]),
        "nW_std": _std([s.words for s in per]),
        "nT_mean": _mean([s.turns for s in per]),
        "nT_std": _std([s.turns for s in per]),
        "nW_per_T": (sum(s.words for s in per) / total_turns) if total_turns else None,
        "nW_per_T_std": _std([float(w) for w in turn_words]),
        "speakers_mean": _mean([s.speakers for s in per]),
        "speakers_min": min((s.speakers for s in per), default=None),
        "speakers_max": max((s.speakers for s in per), default=None),
        "top_speaker_share_mean": _mean([s.top_speaker_share for s in per]),
        "speaker_balance_mean": _mean([s.speaker_balance for s in per]),
        # mean share of turns taken by the most, second-most, ... active speaker
        "turn_share_by_rank": {
            str(r): round(statistics.fmean(v), 4) for r, v in sorted(rank_shares.items())
        },
    }


def words_per_turn(conversations: list[Conversation]) -> list[int]:
    return [len(tokens(t.text)) for c in conversations for t in c.turns]
