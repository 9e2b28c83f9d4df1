"""The few-shot hub (ConvoGen "iterative sampling").

Shots are example experiences. In `fixed` mode every prompt gets the seed shot(s). In
`iterative` mode experiences produced during the run join the hub and are sampled as shots
for later prompts, so the generator learns from its own growing, varied output instead of
copying one template. The hub is saved in the run directory after every change.
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
    def __init__(self, seeds: list[Experience], *, mode: HubMode, shots_per_prompt: int, seed: int) -> None:
        if not seeds:
            raise ValueError("the few-shot hub needs at least one seed shot")
        self.mode: HubMode = mode
        self.shots_per_prompt = shots_per_prompt
        self._rng = random.Random(seed)
        self.shots: list[Shot] = [Shot(f"seed-{i}", "seed", e) for i, e in enumerate(seeds)]
        self.samples_drawn = 0
        self._ids = {s.id for s in self.shots}  # duplicate check without a scan of the growing hub

    def __len__(self) -> int:
        return len(self.shots)

    def sample(self, prefer: tuple[str, ...] = ()) -> list[Shot]:
        """The shots for the next batch of prompts. With `prefer` (origins, e.g. ("accepted",)),
        iterative mode samples among those shots first and tops up from the rest."""
        self.samples_drawn += 1
        k = min(self.shots_per_prompt, len(self.shots))
        if k == 0:
            return []
        if self.mode == "fixed":
            return self.shots[:k]
        preferred = [s for s in self.shots if s.origin in prefer]
        if preferred:
            picked = self._rng.sample(preferred, min(k, len(preferred)))
            rest = [s for s in self.shots if s.origin not in prefer]
            return picked + self._rng.sample(rest, min(k - len(picked), len(rest)))
        return self._rng.sample(self.shots, k)

    def add(self, shot_id: str, experience: Experience, origin: Literal["generated", "accepted"] = "generated") -> bool:
        """Offer a produced experience to the hub; only iterative mode keeps it."""
        if self.mode != "iterative" or shot_id in self._ids:
            return False
        self.shots.append(Shot(shot_id, origin, experience))
        self._ids.add(shot_id)
        return True

    def state(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "shots_per_prompt": self.shots_per_prompt,
            "samples_drawn": self.samples_drawn,
            "rng_state": _encode_rng(self._rng.getstate()),
            "shots": [s.as_dict() for s in self.shots],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FewShotHub:
        shots = [Shot(s["id"], s["origin"], Experience.model_validate(s["experience"])) for s in state["shots"]]
        seeds = [s.experience for s in shots if s.origin == "seed"]
        hub = cls(seeds, mode=state["mode"], shots_per_prompt=state["shots_per_prompt"], seed=0)
        hub.shots = shots
        hub._ids = {s.id for s in shots}
        hub.samples_drawn = state["samples_drawn"]
        hub._rng.setstate(_decode_rng(state["rng_state"]))
        return hub


def _encode_rng(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _decode_rng(data: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)
