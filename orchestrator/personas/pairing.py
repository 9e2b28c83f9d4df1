"""User pairing and grouping (Synthetic-Persona-Chat).

The similarity of two profiles is the number of persona categories they share. Dyadic
scenarios pair profiles sharing at least `k` categories (SPC used k = 2); multiparty groups of
3-5 need every member to share at least `k` categories with someone else in the group.
Pairs and groups are disjoint (each profile talks in one conversation); both are built
greedily in a seeded order, so the counts are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

Profile = frozenset[int]


def similarity(a: Profile, b: Profile) -> int:
    return len(a & b)


def eligible_pairs(profiles: Sequence[Profile], k: int) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, j in combinations(range(len(profiles)), 2)
        if similarity(profiles[i], profiles[j]) >= k
    ]


def disjoint_pairs(profiles: Sequence[Profile], k: int, *, seed: int = 0) -> list[tuple[int, int]]:
    """A greedy matching: most constrained profiles (fewest partners) are paired first."""
    partners = {
        i: {j for j in range(len(profiles)) if j != i and similarity(profiles[i], profiles[j]) >= k}
        for i in range(len(profiles))
    }
    order = list(range(len(profiles)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: len(partners[i]))
    used: set[int] = set()
    pairs = []
    for i in order:
        if i in used:
            continue
        free = [j for j in partners[i] if j not in used]
        if not free:
            continue
        j = max(free, key=lambda j: (similarity(profiles[i], profiles[j]), -len(partners[j]), -j))
        used.update((i, j))
        pairs.append((min(i, j), max(i, j)))
    return sorted(pairs)


def group_ok(group: Sequence[int], profiles: Sequence[Profile], k: int) -> bool:
    """Every member shares >= k categories with at least one other member."""
    return len(group) >= 2 and all(
        any(similarity(profiles[m], profiles[o]) >= k for o in group if o != m) for m in group
    )


def disjoint_groups(
    profiles: Sequence[Profile], k: int, *, min_size: int = 3, max_size: int = 5, seed: int = 0
) -> list[list[int]]:
    """Grow groups greedily from a seed profile, adding the unused profile sharing the most
    categories with a current member, up to a size drawn from [min_size, max_size]."""
    rng = random.Random(seed)
    order = list(range(len(profiles)))
    rng.shuffle(order)
    used: set[int] = set()
    groups = []
    for start in order:
        if start in used:
            continue
        wanted = rng.randint(min_size, max_size)
        group = [start]
        while len(group) < wanted:
            best, best_score = None, k - 1
            for c in order:
                if c in used or c in group:
                    continue
                score = max(similarity(profiles[c], profiles[m]) for m in group)
                if score > best_score:
                    best, best_score = c, score
            if best is None:
                break
            group.append(best)
        if len(group) >= min_size and group_ok(group, profiles, k):
            groups.append(sorted(group))
            used.update(group)
    return groups


@dataclass(frozen=True)
class PairingRow:
    threshold: int
    eligible_pairs: int
    disjoint_pairs: int
    groups: int
    profiles_in_groups: int


def pairing_table(
    profiles: Sequence[Profile],
    thresholds: Sequence[int] = (1, 2, 3, 4),
    *,
    min_size: int = 3,
    max_size: int = 5,
    seed: int = 0,
) -> list[PairingRow]:
    rows = []
    for k in thresholds:
        groups = disjoint_groups(profiles, k, min_size=min_size, max_size=max_size, seed=seed)
        rows.append(
            PairingRow(
                threshold=k,
                eligible_pairs=len(eligible_pairs(profiles, k)),
                disjoint_pairs=len(disjoint_pairs(profiles, k, seed=seed)),
                groups=len(groups),
                profiles_in_groups=sum(len(g) for g in groups),
            )
        )
    return rows
