"""G-Eval score weighting: turn the judge's first-token logprobs into one 1-5 score.

score = sum_k k * p(k) / sum_k p(k) over k in 1..5, where p(k) = exp(logprob) summed over the
returned candidate tokens that read as digit k after stripping whitespace (" 4" and "4" are
both 4). Renormalising over the digits ignores mass on non-score tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from orchestrator.models.logprobs import FirstToken

SCORE_TOKENS = ("1", "2", "3", "4", "5")
ScoreMethod = Literal["top_logprobs", "digit_logits", "sampled_token"]


def digit_probabilities(candidates: Iterable[tuple[str, float]]) -> dict[int, float]:
    """Probability mass per score digit among (token, logprob) candidates, not renormalised."""
    mass: dict[int, float] = {}
    for token, logprob in candidates:
        text = token.strip()
        if text in SCORE_TOKENS and logprob is not None and math.isfinite(logprob):
            mass[int(text)] = mass.get(int(text), 0.0) + math.exp(logprob)
    return mass


@dataclass(frozen=True)
class ScoreOutcome:
    score: float
    method: ScoreMethod
    distribution: dict[int, float]  # renormalised p(k)

    @property
    def fell_back(self) -> bool:
        return self.method != "top_logprobs"


def _outcome(mass: dict[int, float], method: ScoreMethod) -> ScoreOutcome:
    total = sum(mass.values())
    dist = {k: mass[k] / total for k in sorted(mass)}
    return ScoreOutcome(sum(k * p for k, p in dist.items()), method, dist)


def resolve_score(tokens: FirstToken) -> ScoreOutcome | None:
    """Top-5 logprobs first; else the digits' own logits (embedded backend, which watches the
    SCORE_TOKENS); else the produced token if it is a digit (weight 1). None when nothing usable
    came back."""
    mass = digit_probabilities(tokens.top)
    if sum(mass.values()) > 0:
        return _outcome(mass, "top_logprobs")
    mass = digit_probabilities(tokens.watched.items())
    if sum(mass.values()) > 0:
        return _outcome(mass, "digit_logits")
    if tokens.produced.strip() in SCORE_TOKENS:
        return _outcome({int(tokens.produced.strip()): 1.0}, "sampled_token")
    return None
