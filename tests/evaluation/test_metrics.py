"""MTLD against hand-computed values, normalisation, statistics, distinct-n, near-duplicates."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from agents.schemas import Turn
from evaluation.corpus import Conversation
from evaluation.diversity import dataset_diversity, mean_pairwise_cosine_distance, near_duplicates
from evaluation.metrics import (
    MIN_MTLD_TOKENS,
    dataset_statistics,
    distinct_ns,
    mtld,
    mtld_per_conversation,
)
from evaluation.text import strip_speaker_labels, tokens


def conv(cid: str, *turns: tuple[str, str]) -> Conversation:
    return Conversation(id=cid, turns=tuple(Turn(speaker=s, text=t) for s, t in turns))


# Hand computation (threshold 0.72, forward and backward agree on these palindromic cases):
# "a b a b": TTR drops to 2/3 at the 3rd word -> 1 factor; the last "b" has TTR 1 -> partial 0;
#            4 words / 1 factor = 4.0
# "a b c a": TTR stays above 0.72 (4th word: 3/4); partial factor (1-0.75)/(1-0.72) = 0.8929;
#            4 / 0.8929 = 4.48
# "a a":     TTR 1/2 at the 2nd word -> 1 factor; 2 / 1 = 2.0
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("a b a b", 4.0),
        ("a b c a", 4 * 0.28 / 0.25),
        ("a a", 2.0),
    ],
)
def test_mtld_matches_hand_computed_values(words: str, expected: float) -> None:
    assert mtld(words.split()) == pytest.approx(expected)


def test_mtld_of_asymmetric_text_averages_forward_and_backward() -> None:
    # forward "a a b c": factor at word 2 (1/2), then "b c" TTR 1 -> partial 0 -> 4/1 = 4
    # backward "c b a a": TTR 3/4 at word 4 -> partial 0.25/0.28 -> 4.48
    assert mtld(["a", "a", "b", "c"]) == pytest.approx((4.0 + 4.48) / 2)


def test_mtld_rejects_empty_text() -> None:
    with pytest.raises(ValueError):
        mtld([])


def test_tokens_split_dashes_keep_digits_and_straighten_quotes() -> None:
    assert tokens("Cats—dogs don’t “go” at 2.5 km, well-known") == [
        "cats",
        "dogs",
        "don't",
        "go",
        "at",
        "2.5",
        "km",
        "well",
        "known",
    ]


def test_echoed_speaker_labels_are_stripped() -> None:
    assert (
        strip_speaker_labels("Maria: Sekou: Thank you: really", frozenset({"Maria", "Sekou"}))
        == "Thank you: really"
    )


def test_short_conversations_are_flagged_not_averaged() -> None:
    long_text = " ".join(f"w{i}" for i in range(MIN_MTLD_TOKENS + 10))
    result = mtld_per_conversation(
        [conv("long", ("A", long_text)), conv("short", ("A", "hi there"), ("B", "hello"))]
    )
    summary = result.summary()
    assert set(result.per_conversation) == {"long"}
    assert result.short == {"short": 3}
    assert summary["short_flagged"] == 1 and summary["measured"] == 1


def test_statistics_count_words_turns_and_speaker_shares() -> None:
    data = [
        conv("c1", ("A", "one two three"), ("B", "four"), ("A", "five six")),
        conv("c2", ("A", "x y"), ("B", "z")),
    ]
    stats = dataset_statistics(data)
    assert stats["nW_mean"] == pytest.approx((6 + 3) / 2)
    assert stats["nT_mean"] == pytest.approx(2.5)
    assert stats["nW_per_T"] == pytest.approx(9 / 5)
    assert stats["speakers_mean"] == 2
    assert stats["turn_share_by_rank"] == {
        "1": pytest.approx((2 / 3 + 1 / 2) / 2, abs=1e-4),
        "2": pytest.approx((1 / 3 + 1 / 2) / 2, abs=1e-4),
    }


def test_distinct_n_on_fixture_turns() -> None:
    data = [conv("c1", ("A", "the cat the cat"), ("B", "the dog"))]
    distinct = distinct_ns(data, (1, 2, 3))
    # unigrams: the,cat,the,cat,the,dog -> 3 unique / 6
    assert distinct["distinct_1"] == pytest.approx(3 / 6)
    # bigrams within turns: (the cat),(cat the),(the cat),(the dog) -> 3 unique / 4
    assert distinct["distinct_2"] == pytest.approx(3 / 4)
    assert distinct["distinct_3"] == pytest.approx(2 / 2)


def test_near_duplicates_and_pairwise_distance_on_fixed_vectors() -> None:
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    found = near_duplicates(vectors, ["a", "b", "c"], ["ta", "tb", "tc"], threshold=0.95)
    assert (found.pairs, found.total_pairs, found.conversations_with_duplicate) == (1, 3, 2)
    assert found.examples[0]["a"] == "a" and found.examples[0]["b"] == "b"
    orthogonal = mean_pairwise_cosine_distance(np.eye(3))
    assert orthogonal == pytest.approx(1.0)
    assert mean_pairwise_cosine_distance(np.ones((3, 4))) == pytest.approx(0.0, abs=1e-6)


def test_dataset_diversity_with_a_stub_encoder_reports_duplicates_and_topics() -> None:
    def encode(texts: Sequence[str]) -> np.ndarray:  # identical texts -> identical vectors
        return np.array([[math.cos(len(t)), math.sin(len(t))] for t in texts])

    experience = {"topic": "Bikes", "situation": "A ride"}
    data = [
        Conversation(id=f"c{i}", turns=(Turn(speaker="A", text=text),), experience=experience)
        for i, text in enumerate(["same words", "same words", "different text entirely"])
    ]
    result, mean_sims = dataset_diversity(data, encode=encode, threshold=0.99)
    assert result["near_duplicates"]["pairs"] == 1
    assert result["topics"]["distinct_ratio"] == pytest.approx(1 / 3)
    assert len(mean_sims) == 3
