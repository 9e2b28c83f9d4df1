"""Persona expansion: clustering, duplicate gate, agents' output parsing (replay clients) and,
marked integration, `personas expand` on a tiny seed set with the real embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agents.persona_expansion import bootstrap_attributes, check_consistency, induce_query
from orchestrator.persona_expansion import (
    AttributeBank,
    Embedder,
    ExpansionSettings,
    PersonaExpander,
    cluster_attributes,
)
from orchestrator.prompt_library import load_prompt
from tests.conftest import FIXTURES, replay, replay_hub

SEEDS = yaml.safe_load((FIXTURES / "personas_tiny_seeds.yaml").read_text())["attributes"]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def template():
    return load_prompt("persona_expansion")


def test_clustering_finds_the_three_categories(embedder: Embedder) -> None:
    labels = cluster_attributes(embedder.encode(SEEDS), distance_threshold=0.75)
    groups = {tuple(SEEDS[i] for i in range(len(SEEDS)) if labels[i] == c) for c in set(labels)}
    assert groups == {tuple(SEEDS[0:3]), tuple(SEEDS[3:6]), tuple(SEEDS[6:9])}


def test_bank_rejects_exact_and_near_duplicates(embedder: Embedder) -> None:
    bank = AttributeBank(near_duplicate=0.85)
    texts = ["I have two cats.", "i have two cats!", "I have got two cats.", "I play the guitar."]
    vectors = embedder.encode(texts)
    bank.add(texts[0], vectors[0], 0, "seed")
    assert bank.duplicate_reason(texts[1], vectors[1]) == "exact duplicate"
    assert (bank.duplicate_reason(texts[2], vectors[2]) or "").startswith("near duplicate")
    assert bank.duplicate_reason(texts[3], vectors[3]) is None


async def test_consistency_verdict_parsing() -> None:
    client = replay(['{"verdict": "contradiction", "reason": "a vegan does not love steak"}'])
    verdict = await check_consistency(
        client, template(), profile=["I am vegan."], candidate="I love steak."
    )
    assert verdict.contradicts and "vegan" in verdict.reason
    ok = await check_consistency(
        replay(['{"verdict": "consistent", "reason": "unrelated"}']),
        template(),
        profile=["I am vegan."],
        candidate="I have a cat.",
    )
    assert not ok.contradicts
    with pytest.raises(ValueError):  # an unknown verdict is invalid, never guessed
        await check_consistency(
            replay(['{"verdict": "maybe", "reason": "?"}']),
            template(),
            profile=["I am vegan."],
            candidate="I love steak.",
        )


async def test_query_and_bootstrap_outputs_are_validated() -> None:
    query = await induce_query(
        replay(['{"label": "pets", "query": "What pets do you have?"}']), template(), SEEDS[:3]
    )
    assert query.query == "What pets do you have?"
    with pytest.raises(ValueError):  # wrong count for the schema
        await bootstrap_attributes(
            replay(['{"attributes": ["I have a horse."]}']),
            template(),
            query="What pets do you have?",
            examples=SEEDS[:3],
            count=2,
        )


async def test_expander_with_replayed_agents(tmp_path: Path, embedder: Embedder) -> None:
    queries = [
        json.dumps({"label": label, "query": q})
        for label, q in [
            ("pets", "What pets do you have?"),
            ("music", "What music do you play?"),
            ("food", "What do you eat?"),
        ]
    ]
    bootstrap = [
        json.dumps({"attributes": a})
        for a in [
            [
                "I have a horse called Star.",
                "My pet dog loves long walks.",
            ],  # second: exact duplicate
            ["I play the trumpet at weddings.", "I collect jazz records."],
            ["I eat noodles for breakfast.", "I never drink milk."],
        ]
    ]
    verdicts = [
        json.dumps({"verdict": v, "reason": "r"}) for v in ["contradiction"] + ["consistent"] * 30
    ]
    hub = replay_hub(
        tmp_path, {"experience_generator": replay(queries + bootstrap), "critic": replay(verdicts)}
    )
    settings = ExpansionSettings(growth_target=0.6, per_call=2, profiles=2, profile_size=2, seed=1)
    result = await PersonaExpander(hub, template(), settings, embedder=embedder).expand(SEEDS)
    assert result.seeds == 9 and [c.label for c in result.categories] == ["pets", "music", "food"]
    assert result.added == 5 and result.rejections["exact duplicate"] == 1
    assert result.rejections["profile: contradiction"] == 1
    assert len(result.profiles) == 2 and all(len(p["categories"]) == 2 for p in result.profiles)


@pytest.mark.integration
def test_expand_cli_with_the_real_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.personas_cli import main

    out = tmp_path / "exp"
    code = main(
        [
            "expand",
            "--seeds",
            str(FIXTURES / "personas_tiny_seeds.yaml"),
            "--out",
            str(out),
            "--per-call",
            "3",
            "--max-calls",
            "6",
            "--growth",
            "0.3",
            "--profiles",
            "1",
            "--profile-size",
            "2",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["attributes_before"] == 9 and len(report["categories"]) == 3
    assert report["calls"]["induce_query"] >= 3
    texts = [
        json.loads(line)["text"] for line in (out / "attributes.jsonl").read_text().splitlines()
    ]
    assert len(texts) == report["attributes_after"] == len({t.casefold() for t in texts})
    assert "categories found: 3" in capsys.readouterr().out


def test_sentence_gate() -> None:
    from orchestrator.persona_expansion import sentence_problem

    assert sentence_problem("I grow tomatoes on my balcony.") is None
    assert sentence_problem("Langston Babbykrueger") == "not 4-25 words"
    assert (
        sentence_problem("Travelling is something people love a lot")
        == "not a first-person sentence"
    )
