"""Generator-Critic iterations through the real pipeline: scripted models (fast, exact) and the
real embedded model (integration)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient

from agents.schemas import Experience
from orchestrator.config import ModelsConfig, RoleSettings, Scenario, load_models
from orchestrator.driver import execute_run
from orchestrator.models.hub import RecordingClient
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, HUB, ITERATIONS, MANIFEST, REJECTED, transcript_path
from orchestrator.store.transcript import Transcript
from tests.helpers import FIXTURES, ScriptedHubBase, varied_experience

FIXTURE = json.loads((FIXTURES / "critic_conversations.json").read_text())
SETTINGS = RoleSettings(backend="replay", temperature=0.0, top_p=None, max_tokens=64)
CLEAN_LINES = {
    "Alice": ["You could try it for a year and come back.", "Ask them tomorrow, then.",
              "Taste this roll before it gets cold.", "The oven works, at least."],
    "Bob": ["What does the new city have that we don't?", "Would they let you work from here?",
            "I would miss you at dinner.", "Fine, but promise to visit."],
}
LOOP_LINE = "I think I will take it, I think I will take it."


def experience(i: int) -> str:
    """The i-th scripted experience, MARKER-i in its situation: situation, topic and starter all
    its own (an experience that copies or rewords its shot's is rejected: shot_copy)."""
    marker = f"MARKER-{i}"
    varied = varied_experience(Experience.model_validate(FIXTURE["experience"]), i)
    exp = varied.model_dump()
    exp["participants"] = exp["participants"][:2]
    exp["relations"] = exp["relations"][:1]
    exp["situation"] = f"{marker}: {varied.situation}"
    exp["starter"]["text"] = f"{FIXTURE['experience']['starter']['text']} ({marker})"
    return json.dumps(exp)


class ScriptedModels(ScriptedHubBase):
    """Stands in for ModelHub. Per experience, candidate 0 loops (the repetition expert rejects
    it) unless `all_loop` is false for clean ones; candidate 1 is clean. Critics approve."""

    def __init__(self, *, loop_every_candidate: bool = False, interrupt_at_persona_client: int | None = None) -> None:
        self.experiences = deque(experience(i) for i in range(20))
        self.loop_every_candidate = loop_every_candidate
        self.persona_clients = 0
        self.interrupt_at = interrupt_at_persona_client

    def client(self, role: str, *, agent: str, transcript: Transcript, seed: int,
               avoid_openings: Sequence[str] = ()) -> RecordingClient:
        if role == "persona" and self.persona_clients == self.interrupt_at:
            raise asyncio.CancelledError  # the run is stopped in the middle of an experience's candidates
        if role == "experience_generator":
            replies = [self.experiences.popleft()]
        elif role == "persona":
            candidate = (self.persona_clients // 2) % 2  # two agents per candidate, K = 2
            self.persona_clients += 1
            looping = self.loop_every_candidate or candidate == 0
            replies = [LOOP_LINE] * 6 if looping else CLEAN_LINES[agent]
        elif role == "critic":
            expert = agent.removeprefix("critic_")
            reply: dict[str, str | int] = {"rationale": f"{expert} is fine"}
            reply |= {"verdict": "pass"} if expert in ("toxicity", "faithfulness") else {"score": 4}
            replies = [json.dumps(reply)]
        elif role == "selector":
            replies = []  # two people: the selector never calls the model
        else:
            raise AssertionError(f"unexpected role {role}")
        return RecordingClient(ReplayChatCompletionClient(replies), role=role, agent=agent,  # type: ignore[arg-type]
                               settings=SETTINGS, transcript=transcript, seed=seed, send_seed=False)


def scenario(**critics: Any) -> Scenario:
    return Scenario.model_validate({
        "name": "gc-test", "participants": {"min": 2, "max": 2}, "turns": {"min": 5, "max": 5},
        "name_hints": False,
        "few_shot": {"mode": "iterative", "shots_per_prompt": 1, "experiences_per_shot": 1},
        "critics": {
            "candidates_per_experience": 2, "iterations": 2,
            "gates": ["repetition", "format_leak", "length", "participation", "toxicity", "faithfulness"],
            "quality": ["coherence", "naturalness", "on_topic"],
            "limits": {"min_turns": 4},
            **critics,
        },
    })


async def run_scripted(tmp_path: Path, n: int, models: ScriptedModels, resume: bool = False, **critics: Any) -> Any:
    config, config_path = load_models(None)
    request = RunRequest(scenario=scenario(**critics), scenario_path=Path("gc-test.yaml"), models=config,
                         models_path=config_path, num_conversations=n, out_dir=tmp_path / "run", seed=5,
                         resume=resume)
    prepared = prepare_run(request)
    prepared.models = models  # type: ignore[assignment]
    return await execute_run(prepared)


def records_in(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path).records if path.exists() else []


async def test_two_iterations_accept_best_and_feed_the_next_iteration(tmp_path: Path) -> None:
    summary = await run_scripted(tmp_path, 2, ScriptedModels())
    run = tmp_path / "run"
    assert (summary.written, summary.rejected, summary.stop_reason) == (2, 2, "target reached")

    accepted = records_in(run / CONVERSATIONS)
    assert [r["id"] for r in accepted] == ["c000000", "c000001"]
    for record in accepted:
        review = record["review"]
        assert (review["decision"], review["candidate"], review["candidates"]) == ("accepted", 1, 2)
        assert {v["expert"] for v in review["verdicts"]} >= {"repetition", "toxicity", "coherence"}
        assert review["votes"] == 3 and review["mean_quality"] == 4
        assert record["turns"][1]["text"] == CLEAN_LINES["Bob"][0]
        assert record["usage"]["critic"]["calls"] == 5  # 5 model experts on the one clean candidate

    rejected = records_in(run / REJECTED)
    assert [r["id"] for r in rejected] == ["c000000-k0", "c000001-k0"]
    assert all(r["review"]["rejected_by"] == ["repetition"] for r in rejected)
    assert all(r["turns"][1]["text"] == LOOP_LINE for r in rejected)

    report = json.loads((run / ITERATIONS).read_text())
    assert [it["iteration"] for it in report] == [1, 2]
    for it in report:
        assert (it["experiences"], it["candidates"], it["accepted"], it["acceptance_rate"]) == (1, 2, 1, 0.5)
        assert it["rejections_by_expert"] == {"repetition": 1}
        assert it["experts"]["repetition"] == {"pass": 1, "fail": 1, "abstain": 0, "skipped": 0, "pass_rate": 0.5}
        assert it["experts"]["coherence"]["skipped"] == 1  # short-circuited on the looping one
        assert it["mean_quality"] == 4
        assert it["tokens_by_role"]["critic"]["calls"] == 5
    assert report[0]["shots_from_accepted"] == [] and report[0]["hub_added"] == ["acc-c000000"]
    assert report[1]["shots_from_accepted"] == ["acc-c000000"]

    # Iteration 2's experience prompt holds the experience accepted in iteration 1.
    events = records_in(transcript_path(run, "c000001"))
    started = next(e for e in events if e["event"] == "conversation_started")
    assert started["shots"] == ["acc-c000000"]
    prompt = next(e for e in events if e["event"] == "model_call" and e["role"] == "experience_generator")
    assert "MARKER-0" in prompt["last_message"]
    gc = next(e for e in events if e["event"] == "generator_critic")
    assert gc["iteration"] == 2 and gc["shots"] == [{"id": "acc-c000000", "origin": "accepted"}]
    verdicts = [e for e in events if e["event"] == "critic_verdict"]
    assert {e["candidate"] for e in verdicts} == {0, 1}
    decision = next(e for e in events if e["event"] == "panel_decision")
    assert decision["winner"] == 1

    hub = json.loads((run / HUB).read_text())
    assert [s["id"] for s in hub["shots"] if s["origin"] == "accepted"] == ["acc-c000000", "acc-c000001"]
    manifest = json.loads((run / MANIFEST).read_text())
    assert manifest["generator_critic"]["stop_reason"] == "target reached"


async def test_budget_ends_the_run_when_nothing_is_accepted(tmp_path: Path) -> None:
    summary = await run_scripted(tmp_path, 2, ScriptedModels(loop_every_candidate=True), max_candidates=8)
    run = tmp_path / "run"
    assert summary.written == 0
    assert summary.stop_reason == "max_candidates budget spent"
    assert len(records_in(run / REJECTED)) == 8
    report = json.loads((run / ITERATIONS).read_text())
    # N=2 spread over 2 iterations (1 + 2 experiences after a miss), then one more round
    # within the budget of 8 candidates.
    assert [(it["experiences"], it["candidates"]) for it in report] == [(1, 2), (2, 4), (1, 2)]
    assert all(it["accepted"] == 0 and it["acceptance_rate"] == 0 for it in report)
    assert not (run / CONVERSATIONS).exists()


@pytest.mark.integration
async def test_embedded_model_two_iterations_of_k2(tmp_path: Path) -> None:
    """The real SmolLM2-135M: 2 iterations of K=2 on one experience each."""
    config, config_path = load_models(None)
    raw = config.model_dump()
    raw["roles"]["persona"]["max_tokens"] = 32
    raw["roles"]["critic"] = {"temperature": 0.0, "max_tokens": 120}
    raw["roles"]["experience_generator"]["max_tokens"] = 700
    models = ModelsConfig.model_validate(raw)
    scen = scenario(gates=["repetition", "format_leak", "length", "participation", "toxicity"],
                    quality=["coherence", "naturalness"], max_candidates=4, verdict_attempts=1)
    scen = scen.model_copy(update={"name_hints": True})
    request = RunRequest(scenario=scen, scenario_path=Path("gc-test.yaml"), models=models, models_path=config_path,
                         num_conversations=2, out_dir=tmp_path / "run", seed=1)
    summary = await execute_run(prepare_run(request))
    run = tmp_path / "run"
    report = json.loads((run / ITERATIONS).read_text())
    assert len(report) >= 2
    assert report[0]["experiences"] == 1 and report[1]["experiences"] >= 1
    candidates = sum(it["candidates"] for it in report)
    accepted = records_in(run / CONVERSATIONS)
    rejected = records_in(run / REJECTED)
    failures = sum(it["generation_failures"] for it in report)
    assert len(accepted) + len(rejected) + failures == candidates
    assert summary.written == len(accepted)
    for record in accepted + rejected:
        experts = {v["expert"] for v in record["review"]["verdicts"]}
        assert experts == {"repetition", "format_leak", "length", "participation", "toxicity", "coherence",
                           "naturalness"}
    if report[0]["accepted"]:
        assert report[1]["shots_from_accepted"] == ["acc-c000000"]
    assert summary.stop_reason in {"target reached", "max_candidates budget spent"}


async def test_an_interrupted_run_resumes_without_losing_or_repeating_anything(tmp_path: Path) -> None:
    reference = await run_scripted(tmp_path / "whole", 3, ScriptedModels())
    assert (reference.written, reference.rejected) == (3, 3)

    # Ctrl-C while experience c000001's second candidate starts: c000000 is decided (accepted,
    # its loser rejected); c000001 has a finished candidate that is not yet decided.
    with pytest.raises(asyncio.CancelledError):
        await run_scripted(tmp_path, 3, ScriptedModels(interrupt_at_persona_client=6))
    run = tmp_path / "run"
    assert [r["id"] for r in records_in(run / CONVERSATIONS)] == ["c000000"]
    assert json.loads((run / MANIFEST).read_text())["status"] == "interrupted"

    summary = await run_scripted(tmp_path, 3, ScriptedModels(), resume=True)
    assert (summary.written, summary.rejected, summary.stop_reason) == (3, 3, "target reached")
    accepted = [r["id"] for r in records_in(run / CONVERSATIONS)]
    rejected = [r["id"] for r in records_in(run / REJECTED)]
    assert accepted == ["c000000", "c000001", "c000002"]
    assert sorted(rejected) == ["c000000-k0", "c000001-k0", "c000002-k0"]  # nothing twice
    whole = json.loads((tmp_path / "whole" / "run" / ITERATIONS).read_text())
    resumed = json.loads((run / ITERATIONS).read_text())
    keys = ("iteration", "experiences", "candidates", "accepted", "rejections_by_expert", "experts",
            "shots_from_accepted", "hub_added", "indices", "attempts_after", "rejected_after")
    assert [{k: it[k] for k in keys} for it in resumed] == [{k: it[k] for k in keys} for it in whole]
    # iteration 2 still learns from what iteration 1 accepted
    learned = resumed[1]["shots_from_accepted"]
    assert learned and set(learned) <= {"acc-c000000", "acc-c000001"}


def test_cli_flags_override_the_scenario_critics() -> None:
    from orchestrator.cli.generation import apply_critic_flags
    from orchestrator.cli.main import build_parser

    args = build_parser().parse_args(["--iterations", "3", "--max-candidates", "5", "--max-tokens", "9000"])
    critics = apply_critic_flags(scenario(), args).critics
    assert (critics.iterations, critics.max_candidates, critics.max_tokens) == (3, 5, 9000)
    assert critics.gates[0] == "repetition"  # the rest of the section is kept
    off = build_parser().parse_args(["--no-critics"])
    assert apply_critic_flags(scenario(), off).critics is None


def test_the_default_budget_leaves_room_to_replace_rejections() -> None:
    from orchestrator.config import CriticsConfig
    from orchestrator.critics.iterations import GeneratorCritic

    assert GeneratorCritic(CriticsConfig(candidates_per_experience=2), target=3).max_candidates == 12  # 2*K*N
    gate = CriticsConfig(candidates_per_experience=1, budget_per_conversation=4, quality=[])
    assert GeneratorCritic(gate, target=10).max_candidates == 40
    assert GeneratorCritic(gate.model_copy(update={"max_candidates": 7}), target=10).max_candidates == 7
