"""Persona expansion: clustering, duplicate gate, example spread, agents' output parsing and
grammar steering, the consistency probe, bounded profile slots (replay clients) and, marked
integration, `personas expand` on a tiny seed set with the real embedded model."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.persona_expansion_agents import (
    ATTRIBUTE_PATTERN,
    PROBE_COMPATIBLE,
    PROBE_CONTRADICTIONS,
    QUERY_PATTERN,
    bootstrap_attributes,
    bootstrap_schema,
    check_pair,
    induce_query,
    probe_consistency,
)
from orchestrator.config.prompt_files import load_prompt
from orchestrator.personas.expansion import (
    AttributeBank,
    Embedder,
    ExpansionResult,
    ExpansionSettings,
    PersonaExpander,
    cluster_attributes,
    spread_sample,
)
from orchestrator.store.jsonl import read_jsonl
from tests.helpers import FIXTURES, replay, replay_hub

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


async def test_pair_verdict_parsing() -> None:
    verdict = await check_pair(
        replay(['{"verdict": "contradiction"}']), template(), first="I am vegan.", second="I love steak."
    )
    assert verdict.contradicts
    ok = await check_pair(replay(['{"verdict": "compatible"}']), template(), first="I am vegan.", second="I run.")
    assert not ok.contradicts
    for bad in ('{"verdict": "maybe"}', '{"verdict": "compatible", "reason": "x"}'):
        with pytest.raises(ValueError):  # unknown verdicts and extra keys are invalid, never guessed
            await check_pair(replay([bad]), template(), first="I am vegan.", second="I love steak.")


def test_probe_pairs_are_held_out_from_the_prompt_examples() -> None:
    shots = template().parts["consistency_system"]
    for a, b in PROBE_CONTRADICTIONS + PROBE_COMPATIBLE:
        assert a not in shots or b not in shots
        assert b not in shots
    assert len(PROBE_CONTRADICTIONS) == len(PROBE_COMPATIBLE) == 12


async def test_probe_scores_a_judge_and_says_plainly_when_it_has_no_signal() -> None:
    bad = set(PROBE_CONTRADICTIONS)

    async def perfect(a: str, b: str) -> bool:
        return (a, b) in bad

    async def always(a: str, b: str) -> bool:
        return True

    async def broken(a: str, b: str) -> None:
        return None

    good = await probe_consistency(perfect)
    assert good["skill"] == 1.0 and good["finding"].startswith("usable")
    useless = await probe_consistency(always)
    assert useless["contradicting_flagged"] == useless["compatible_flagged"] == 12
    assert useless["skill"] == 0.0 and useless["finding"].startswith("no reliable signal")
    assert "12/12 known contradictions and 12/12 compatible pairs" in useless["finding"]
    failed = await probe_consistency(broken)
    assert failed["failed"] == 24 and failed["contradicting_flagged"] == 0


def test_grammar_steers_attributes_and_queries_without_failing_whole_batches() -> None:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = bootstrap_schema(3)
    item = schema.model_json_schema()["properties"]["attributes"]["items"]
    assert item["pattern"] == ATTRIBUTE_PATTERN
    grammar = json_schema_to_gbnf(json.dumps(schema.model_json_schema()))
    assert "[A-Za-z0-9'-]" in grammar and "[.!]" in grammar  # the pattern reached the llama.cpp grammar
    for good in ["I grow tomatoes on my balcony.", "My sister, Anna, lives in Oslo.", "I'm a night-shift nurse."]:
        assert re.match(ATTRIBUTE_PATTERN, good), good
    for bad in ["I am.", "Travelling is great fun.", "I love café culture.", "I like cats", "I " + "word " * 25 + "."]:
        assert not re.match(ATTRIBUTE_PATTERN, bad), bad
    assert re.match(QUERY_PATTERN, "What is your favourite hobby?")
    assert not re.match(QUERY_PATTERN, "3.08-12,342")
    # the pattern is not validated in pydantic: the orchestrator's gate rejects and counts per item
    assert schema.model_validate({"attributes": ["not a sentence", "I am fine.", "x y z w v"]})


def test_spread_sample_takes_distinct_varied_examples(embedder: Embedder) -> None:
    matrix = embedder.encode(SEEDS)
    for seed in range(5):
        picked = spread_sample(matrix, list(range(9)), 3, random.Random(seed))
        assert len(set(picked)) == 3
        assert sorted(i // 3 for i in picked) == [0, 1, 2]  # one from each of the three topics
    assert sorted(spread_sample(matrix, [4, 7], 5, random.Random(0))) == [4, 7]


async def test_query_and_bootstrap_outputs_are_validated() -> None:
    query = await induce_query(replay(['{"label": "pets", "query": "What pets do you have?"}']), template(), SEEDS[:3])
    assert query.query == "What pets do you have?"
    with pytest.raises(ValueError):  # wrong count for the schema
        await bootstrap_attributes(
            replay(['{"attributes": ["I have a horse."]}']),
            template(),
            query="What pets do you have?",
            examples=SEEDS[:3],
            count=2,
        )


QUERIES = [
    json.dumps({"label": label, "query": q})
    for label, q in [
        ("pets", "What pets do you have?"),
        ("music", "What music do you play?"),
        ("food", "What do you eat?"),
    ]
]


def no_exhausted_replays(result: ExpansionResult) -> bool:
    return not any("No more mock" in f["reason"] for f in result.failures)


async def test_expander_with_replayed_agents(tmp_path: Path, embedder: Embedder) -> None:
    bootstrap = [
        json.dumps({"attributes": a})
        for a in [
            ["I have a horse called Star.", "My pet dog loves long walks."],  # second: exact duplicate
            ["I play the trumpet at weddings.", "I collect jazz records."],
            ["I eat noodles for breakfast.", "I never drink milk."],
        ]
    ]
    # pairwise, both orders: a contradiction needs two "contradiction" verdicts in a row
    verdicts = [json.dumps({"verdict": v}) for v in ["contradiction"] * 2 + ["compatible"] * 30]
    hub = replay_hub(tmp_path, {"experience_generator": replay(QUERIES + bootstrap), "critic": replay(verdicts)})
    settings = ExpansionSettings(
        growth_target=0.55, per_call=2, profiles=2, profile_size=2, consistency_probe=False, seed=1
    )
    result = await PersonaExpander(hub, template(), settings, embedder=embedder).expand(SEEDS)
    assert result.seeds == 9 and [c.label for c in result.categories] == ["pets", "music", "food"]
    assert result.added == 5 and result.rejections["exact duplicate"] == 1
    assert result.rejections["profile: contradiction"] == 1
    assert len(result.profiles) == 2 and all(len(p["categories"]) == 2 for p in result.profiles)
    assert result.calls["consistency"] == 2 + result.consistency["pairs_checked"] - 1
    assert "probe" not in result.consistency and no_exhausted_replays(result)


async def test_barren_categories_retire_before_the_budget(tmp_path: Path, embedder: Embedder) -> None:
    copies = [json.dumps({"attributes": [SEEDS[0], "Langston Babbykrueger"]})] * 9  # a copy, a non-sentence
    hub = replay_hub(tmp_path, {"experience_generator": replay(QUERIES + copies), "critic": replay([])})
    settings = ExpansionSettings(per_call=2, max_calls=100, retire_after=3, profiles=0, consistency=False)
    result = await PersonaExpander(hub, template(), settings, embedder=embedder).expand(SEEDS)
    assert result.added == 0 and result.calls["bootstrap"] == 9  # 3 categories x 3 barren calls
    assert sorted(result.retired) == [0, 1, 2]
    assert result.rejections["exact duplicate"] == 9 and result.rejections["not 4-20 words"] == 9
    assert no_exhausted_replays(result)


async def test_profile_slots_are_bounded_when_everything_contradicts(tmp_path: Path, embedder: Embedder) -> None:
    verdicts = [json.dumps({"verdict": "contradiction"})] * 2000
    critic = replay(verdicts)
    hub = replay_hub(tmp_path, {"experience_generator": replay(QUERIES), "critic": critic})
    settings = ExpansionSettings(growth_target=0.1, max_calls=0, profiles=2, profile_size=2, slot_tries=3)
    result = await PersonaExpander(hub, template(), settings, embedder=embedder).expand(SEEDS)
    probe = result.consistency["probe"]
    assert probe["skill"] == 0.0 and probe["finding"].startswith("no reliable signal")
    assert result.profiles == []  # never filled with unchecked attributes
    tries = settings.profiles * 5
    assert result.rejections["profile: too few categories filled"] == tries
    # per try: the first slot is free, the other two categories get 3 candidates each
    assert result.rejections["profile: contradiction"] == tries * 2 * 3
    assert result.calls["consistency"] == 2 * tries * 2 * 3 and result.calls["consistency_probe"] == 48
    assert no_exhausted_replays(result)


def test_cli_defaults_match_settings_and_more_than_double() -> None:
    from agents.errors import UserError
    from orchestrator.cli.personas import build_parser, main

    args = build_parser().parse_args(["expand"])
    defaults = ExpansionSettings()
    assert args.growth == defaults.growth_target > 1.0
    assert args.max_calls == defaults.max_calls and args.per_call == defaults.per_call
    assert args.near_duplicate == defaults.near_duplicate == 0.85
    # the budget can reach the goal on the shipped 248 seeds even at one new attribute a call
    assert defaults.max_calls >= np.ceil(defaults.growth_target * 248)
    with pytest.raises(UserError, match="--per-call"):
        main(["expand", "--per-call", "13"])


@pytest.mark.integration
def test_expand_cli_with_the_real_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.cli.personas import main

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
    texts = [r["text"] for r in read_jsonl(out / "attributes.jsonl").records]
    assert len(texts) == report["attributes_after"] == len({t.casefold() for t in texts})
    assert "categories found: 3" in capsys.readouterr().out


def test_sentence_gate() -> None:
    from orchestrator.personas.expansion import sentence_problem

    assert sentence_problem("I grow tomatoes on my balcony.") is None
    assert sentence_problem("Langston Babbykrueger") == "not 4-20 words"
    assert sentence_problem("I love documentaries about nature and") == "not a complete sentence"
    cut = "I " + "really " * 19 + "love it."  # 22 words: the most the grammar allows, cut off
    assert re.match(ATTRIBUTE_PATTERN, "I " + "really " * 18 + "love it.")  # 21 words
    assert not re.match(ATTRIBUTE_PATTERN, cut)
    assert sentence_problem("I " + "really " * 18 + "love it.") == "not 4-20 words"  # caught by the gate
    assert sentence_problem("I " + "really " * 17 + "love it.") is None
    assert sentence_problem("Travelling is something people love a lot") == "not a first-person sentence"
