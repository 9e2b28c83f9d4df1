"""SPC user pairing: similarity = shared persona categories; disjoint pairs and 3-5 groups."""

from __future__ import annotations

from orchestrator.personas.pairing import (
    disjoint_groups,
    disjoint_pairs,
    eligible_pairs,
    group_ok,
    pairing_table,
    similarity,
)

P = [frozenset(s) for s in ({1, 2, 3}, {1, 2, 4}, {5, 6, 7}, {5, 6, 8}, {1, 9, 10}, {11, 12, 13})]


def test_similarity_counts_shared_categories() -> None:
    assert similarity(P[0], P[1]) == 2
    assert similarity(P[0], P[5]) == 0


def test_pairs_at_thresholds() -> None:
    assert eligible_pairs(P, 2) == [(0, 1), (2, 3)]
    assert eligible_pairs(P, 1) == [(0, 1), (0, 4), (1, 4), (2, 3)]
    assert disjoint_pairs(P, 2) == [(0, 1), (2, 3)]
    assert len(disjoint_pairs(P, 1)) == 2  # 0, 1 and 4 share category 1, but a pair uses two
    assert eligible_pairs(P, 3) == []


def test_groups_need_every_member_linked() -> None:
    assert group_ok([0, 1, 4], P, 1)
    assert not group_ok([0, 1, 5], P, 1)  # 5 shares nothing
    groups = disjoint_groups(P, 1, min_size=3, max_size=3)
    assert groups == [[0, 1, 4]]
    assert disjoint_groups(P, 2, min_size=3, max_size=5) == []


def test_table_shrinks_with_threshold() -> None:
    rows = pairing_table(P)
    assert [r.threshold for r in rows] == [1, 2, 3, 4]
    assert [r.eligible_pairs for r in rows] == [4, 2, 0, 0]
    assert [r.disjoint_pairs for r in rows] == [2, 2, 0, 0]
    assert rows[0].groups == 1 and rows[0].profiles_in_groups == 3
