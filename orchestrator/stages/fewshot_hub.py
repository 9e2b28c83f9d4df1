"""The few-shot hub (ConvoGen "iterative sampling").

Shots are example experiences. In `fixed` mode every prompt gets the seed shot(s). In
`iterative` mode experiences produced during the run join the hub and are sampled as shots
for later prompts, so the generator learns from its own growing, varied output instead of
copying one template. The hub is saved in the run directory (hub.json) as it changes.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any, Literal

from agents.schemas import Experience

HubMode = Literal["fixed", "iterative"]


@dataclass(frozen=True)
class Shot:
    id: str
    origin: Literal["seed", "generated", "accepted"]
    experience: Experience

    def as_dict(self) -> dict[str, Any]:
        return self._dict

    @functools.cached_property
    def _dict(self) -> dict[str, Any]:
        # the hub is saved many times per run with every shot in it: dump each shot once
        return {"id": self.id, "origin": self.origin, "experience": self.experience.model_dump()}


class FewShotHub:
    """Seed shots, plus (iterative mode) the experiences offered during the run.

    Offered experiences are kept as a uniform random sample of at most `capacity` per origin
    (reservoir sampling): every experience offered so far is equally likely to be in the hub, as
    in a hub that keeps everything, while memory and the size of hub.json stay flat however long
    the run is. `offered` counts what was offered, so a resumed run re-offers exactly the
    experiences whose offer was not saved yet."""

    def __init__(self, seeds: list[Experience], *, mode: HubMode, shots_per_prompt: int, seed: int,
                 capacity: int = 1000) -> None:
        if not seeds:
            raise ValueError("the few-shot hub needs at least one seed shot")
        self.mode: HubMode = mode
        self.shots_per_prompt = shots_per_prompt
        self.capacity = capacity
        self._rng = random.Random(seed)
        self._seeds: list[Shot] = [Shot(f"seed-{i}", "seed", e) for i, e in enumerate(seeds)]
        self._pools: dict[str, list[Shot]] = {"generated": [], "accepted": []}
        self.offered: dict[str, int] = {"generated": 0, "accepted": 0}
        self.samples_drawn = 0
        self._ids: set[str] = set()  # offered shots now in the hub: a shot is never in it twice

    @property
    def shots(self) -> list[Shot]:
        return [*self._seeds, *self._pools["generated"], *self._pools["accepted"]]

    def __len__(self) -> int:
        return len(self._seeds) + sum(len(pool) for pool in self._pools.values())

    def sample(self, prefer: tuple[str, ...] = ()) -> list[Shot]:
        """The shots for the next batch of prompts. With `prefer` (origins, e.g. ("accepted",)),
        iterative mode samples among those shots first and tops up from the rest."""
        self.samples_drawn += 1
        shots = self.shots
        k = min(self.shots_per_prompt, len(shots))
        if k == 0:
            return []
        if self.mode == "fixed":
            return shots[:k]
        preferred = [s for s in shots if s.origin in prefer]
        if preferred:
            picked = self._rng.sample(preferred, min(k, len(preferred)))
            rest = [s for s in shots if s.origin not in prefer]
            return picked + self._rng.sample(rest, min(k - len(picked), len(rest)))
        return self._rng.sample(shots, k)

    def add(self, shot_id: str, experience: Experience, origin: Literal["generated", "accepted"] = "generated") -> bool:
        """Offer a produced experience to the hub; only iterative mode keeps it. Whether it is
        in the hub now (a full pool keeps it with probability capacity / offered)."""
        if self.mode != "iterative" or shot_id in self._ids:
            return False
        pool = self._pools[origin]
        self.offered[origin] += 1
        shot = Shot(shot_id, origin, experience)
        if len(pool) < self.capacity:
            pool.append(shot)
        else:
            slot = self._rng.randrange(self.offered[origin])
            if slot >= self.capacity:
                return False
            self._ids.discard(pool[slot].id)
            pool[slot] = shot
        self._ids.add(shot_id)
        return True

    def state(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "shots_per_prompt": self.shots_per_prompt,
            "capacity": self.capacity,
            "offered": dict(self.offered),
            "samples_drawn": self.samples_drawn,
            "rng_state": _encode_rng(self._rng.getstate()),
            "shots": [s.as_dict() for s in self.shots],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FewShotHub:
        shots = [shot_from_dict(s) for s in state["shots"]]
        seeds = [s.experience for s in shots if s.origin == "seed"]
        hub = cls(seeds, mode=state["mode"], shots_per_prompt=state["shots_per_prompt"], seed=0,
                  capacity=int(state.get("capacity", 1000)))
        for shot in shots:
            if shot.origin != "seed":
                hub._pools[shot.origin].append(shot)
                hub._ids.add(shot.id)
        hub.offered = {origin: int(state.get("offered", {}).get(origin, len(pool)))
                       for origin, pool in hub._pools.items()}
        hub.samples_drawn = state["samples_drawn"]
        hub._rng.setstate(_decode_rng(state["rng_state"]))
        return hub


def shot_from_dict(data: dict[str, Any]) -> Shot:
    return Shot(data["id"], data["origin"], Experience.model_validate(data["experience"]))


def _encode_rng(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _decode_rng(data: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)
