"""Few-shot hub: fixed mode always gives the seed shot; iterative mode grows and samples."""

from __future__ import annotations

import json

from agents.schemas import Experience
from orchestrator.config.prompt_files import load_seed_shots
from orchestrator.stages.fewshot_hub import FewShotHub
from tests.helpers import load_experience


def seeds() -> list[Experience]:
    return load_seed_shots("shots/experiences.yaml")


def test_seed_shots_are_valid_and_varied() -> None:
    shots = seeds()
    assert len(shots) >= 3
    assert {len(s.participants) for s in shots} >= {2, 3}


def test_fixed_mode_always_returns_the_seed_shot() -> None:
    hub = FewShotHub(seeds(), mode="fixed", shots_per_prompt=1, seed=1)
    assert hub.add("exp-1", load_experience("foundation/experience_two.json")) is False
    assert all(hub.sample()[0].id == "seed-0" for _ in range(10))
    assert len(hub) == len(seeds())


def test_iterative_mode_adds_and_samples_generated_shots() -> None:
    hub = FewShotHub(seeds()[:1], mode="iterative", shots_per_prompt=1, seed=3)
    for i in range(5):
        assert hub.add(f"exp-{i}", load_experience())
    assert hub.add("exp-0", load_experience()) is False  # no duplicates
    drawn = {hub.sample()[0].id for _ in range(40)}
    assert "seed-0" in drawn and any(d.startswith("exp-") for d in drawn)


def test_shots_per_prompt_is_respected() -> None:
    hub = FewShotHub(seeds(), mode="iterative", shots_per_prompt=2, seed=0)
    assert len(hub.sample()) == 2
    assert FewShotHub(seeds(), mode="fixed", shots_per_prompt=0, seed=0).sample() == []


def test_state_round_trip_continues_the_same_sequence() -> None:
    hub = FewShotHub(seeds(), mode="iterative", shots_per_prompt=1, seed=9)
    hub.add("exp-a", load_experience())
    hub.sample()
    restored = FewShotHub.from_state(json.loads(json.dumps(hub.state())))
    assert [s.id for s in restored.shots] == [s.id for s in hub.shots]
    assert [restored.sample()[0].id for _ in range(8)] == [hub.sample()[0].id for _ in range(8)]
