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


def test_the_iterative_hub_keeps_a_bounded_uniform_sample_of_what_it_was_offered() -> None:
    hub = FewShotHub(seeds()[:1], mode="iterative", shots_per_prompt=1, seed=4, capacity=50)
    experience = load_experience()
    kept = [hub.add(f"exp-{i}", experience) for i in range(2000)]
    assert all(kept[:50]) and sum(kept) < 2000  # past the capacity, an offer is kept with p = 50 / offered
    ids = [s.id for s in hub.shots if s.origin == "generated"]
    assert len(ids) == 50 == len(set(ids)) and hub.offered["generated"] == 2000
    positions = sorted(int(i.removeprefix("exp-")) for i in ids)
    # a uniform sample of 2,000 offers: members from early and late in the run alike
    assert sum(p < 1000 for p in positions) >= 10 and sum(p >= 1000 for p in positions) >= 10
    restored = FewShotHub.from_state(json.loads(json.dumps(hub.state())))
    assert (restored.capacity, restored.offered, [s.id for s in restored.shots]) == (
        50, {"generated": 2000, "accepted": 0}, [s.id for s in hub.shots])
    assert restored.add("exp-2000", experience) == hub.add("exp-2000", experience)  # same RNG state
