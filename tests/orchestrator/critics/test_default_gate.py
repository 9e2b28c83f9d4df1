"""The rule gate the shipped scenarios run by default, through the whole pipeline with scripted
(replay) model clients: a conversation with a turn that is not speech is recorded in
rejected.jsonl with its verdicts and replaced, so -n N still writes N; no critic model is called;
--no-critics turns the gate off."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient

from agents.critic_rules import RULE_CHECKS
from orchestrator.cli.generation import apply_critic_flags
from orchestrator.cli.main import build_parser
from orchestrator.config import RoleSettings, Scenario, load_models, load_scenario
from orchestrator.critics.panel import CriticPanel
from orchestrator.driver import execute_run
from orchestrator.models.hub import RecordingClient
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, FAILURES, ITERATIONS, REJECTED, transcript_path
from orchestrator.store.transcript import Transcript
from tests.helpers import FIXTURES, SITUATIONS, ScriptedHubBase

FIXTURE = json.loads((FIXTURES / "critic_conversations.json").read_text())
SETTINGS = RoleSettings(backend="replay", temperature=0.0, top_p=None, max_tokens=64)
DEFAULT_SCENARIOS = ("multiparty", "dyadic", "multiparty-sampled", "dyadic-sampled")
# Every line opens differently and is plain English speech: a conversation of these passes every rule.
LINES = {
    "Alice": ["You could try it for a year and come back.", "Ask them tomorrow, then.",
              "Taste this roll before it gets cold.", "The oven works, at least.", "Honestly, the crust is perfect.",
              "Maybe we bake a second batch later.", "Tell me what your mother thinks."],
    "Bob": ["What does the new city have that we don't?", "Would they let you work from here?",
            "I would miss you at dinner.", "Fine, but promise to visit.", "Did you check the rent prices there?",
            "Nobody bakes like you do.", "Let's decide after the rolls."],
}
TOPICS = ["Whether Bob should take the job abroad.", "How to split the bakery profits.",
          "Where to spend the summer holiday.", "Who looks after the dog in August."]


def experience(i: int) -> str:
    exp = copy.deepcopy(FIXTURE["experience"])
    exp["participants"] = exp["participants"][:2]
    exp["relations"] = exp["relations"][:1]
    exp["situation"] = SITUATIONS[i]  # each its own: a reworded shot situation is rejected (shot_copy)
    exp["topic"] = TOPICS[i]
    exp["starter"]["text"] = f"So, about this: {TOPICS[i].lower()}"
    return json.dumps(exp)


class ScriptedModels(ScriptedHubBase):
    """Stands in for ModelHub. In the first conversation Bob only ever answers stage text
    ("Situation 2.", "Situation 3.", ...): the reply check resamples it, then keeps it, and the
    speech gate rejects the conversation. Every other conversation is clean. No critic model may
    be called."""

    def __init__(self) -> None:
        self.experiences = [experience(i) for i in range(len(TOPICS))]
        self.persona_clients = 0

    def client(self, role: str, *, agent: str, transcript: Transcript, seed: int,
               avoid_openings: Sequence[str] = ()) -> RecordingClient:
        if role == "experience_generator":
            replies = [self.experiences.pop(0)]
        elif role == "persona":
            first_conversation = self.persona_clients < 2
            self.persona_clients += 1
            stage_text = [f"Situation {i}." for i in range(2, 32)]
            replies = stage_text if first_conversation and agent == "Bob" else LINES[agent]
        elif role == "selector":
            replies = []  # two people: speakers alternate without a model call
        else:
            raise AssertionError(f"the default gate must not call a {role} model")
        return RecordingClient(ReplayChatCompletionClient(replies), role=role, agent=agent,  # type: ignore[arg-type]
                               settings=SETTINGS, transcript=transcript, seed=seed, send_seed=False)


def dyadic(*flags: str, **critics: Any) -> Scenario:
    """The shipped dyadic scenario (10-12 turns cut to 8 so the scripted lines suffice)."""
    scenario, _ = load_scenario("dyadic")
    scenario = scenario.model_copy(update={"turns": scenario.turns.model_copy(update={"min": 8, "max": 8}),
                                           "name_hints": False})
    if critics and scenario.critics is not None:
        scenario = scenario.model_copy(update={"critics": scenario.critics.model_copy(update=critics)})
    return apply_critic_flags(scenario, build_parser().parse_args(list(flags)))


async def run_scripted(tmp_path: Path, scenario: Scenario, n: int) -> Any:
    config, config_path = load_models(None)
    request = RunRequest(scenario=scenario, scenario_path=Path("dyadic.yaml"), models=config,
                         models_path=config_path, num_conversations=n, out_dir=tmp_path / "run", seed=3)
    prepared = prepare_run(request)
    prepared.models = ScriptedModels()  # type: ignore[assignment]
    return await execute_run(prepared)


def records(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path).records if path.exists() else []


@pytest.mark.parametrize("name", DEFAULT_SCENARIOS)
def test_default_scenarios_gate_every_conversation_with_the_rule_experts_only(name: str) -> None:
    scenario, _ = load_scenario(name)
    critics = scenario.critics
    assert critics is not None and critics.enabled
    assert critics.gates == list(RULE_CHECKS) and critics.quality == []  # every rule expert, no LLM expert
    assert critics.candidates_per_experience == 1
    panel = CriticPanel.from_config(critics)
    assert panel.decides_on_first_pass and panel.templates == {}


async def test_a_conversation_that_fails_a_rule_is_rejected_and_replaced(tmp_path: Path) -> None:
    summary = await run_scripted(tmp_path, dyadic(), 2)
    run = tmp_path / "run"
    assert (summary.written, summary.rejected, summary.stop_reason) == (2, 1, "target reached")

    accepted = records(run / CONVERSATIONS)
    assert [r["id"] for r in accepted] == ["c000001", "c000002"]
    for record in accepted:
        review = record["review"]
        assert review["decision"] == "accepted" and review["rejected_by"] == []
        assert review["reason"] == "passed every gate (no quality experts: the first passing candidate wins)"
        assert {v["expert"] for v in review["verdicts"]} == set(RULE_CHECKS)
        assert {(v["method"], v["status"]) for v in review["verdicts"]} == {("rule", "pass")}
        assert "critic" not in record["usage"]  # rule experts call no model
        assert not any(t["text"].startswith("Situation") for t in record["turns"])

    (rejected,) = records(run / REJECTED)
    assert rejected["id"] == "c000000-k0"
    assert rejected["review"]["rejected_by"] == ["speech"]
    speech = next(v for v in rejected["review"]["verdicts"] if v["expert"] == "speech")
    assert speech["status"] == "fail" and "is a stage label ('Situation 4.')" in speech["rationale"]
    assert any(t["text"].startswith("Situation") for t in rejected["turns"])
    # the experience whose only candidate was rejected is decided: a failure record (for --resume)
    (failure,) = records(run / FAILURES)
    assert failure["id"] == "c000000" and failure["stage"] == "review"

    # the reply check resampled the stage text before keeping it for the gate to judge
    events = read_jsonl(transcript_path(run, "c000000")).records
    stage = [e for e in events if e["event"] == "reply_rejected" and e["agent"] == "Bob"]
    assert stage and all(e["rules"] == ["stage_text"] for e in stage)
    assert [e["kept"] for e in stage[:3]] == [False, False, True]

    report = json.loads((run / ITERATIONS).read_text())
    assert [(it["experiences"], it["accepted"]) for it in report] == [(2, 1), (1, 1)]
    assert report[0]["rejections_by_expert"] == {"speech": 1}


async def test_with_k2_a_gates_only_panel_stops_at_the_first_passing_candidate(tmp_path: Path) -> None:
    summary = await run_scripted(tmp_path, dyadic(candidates_per_experience=2), 1)
    run = tmp_path / "run"
    assert (summary.written, summary.rejected) == (1, 1)  # k0 failed the gate, k1 passed it
    (record,) = records(run / CONVERSATIONS)
    assert record["review"]["candidate"] == 1 and record["review"]["candidates"] == 2
    events = read_jsonl(transcript_path(run, "c000000")).records
    assert [e["candidate"] for e in events if e["event"] == "candidate_started"] == [0, 1]


async def test_a_clean_first_candidate_makes_the_second_unnecessary(tmp_path: Path) -> None:
    scripted = ScriptedModels()
    scripted.persona_clients = 2  # no stage text anywhere
    config, config_path = load_models(None)
    request = RunRequest(scenario=dyadic(candidates_per_experience=2), scenario_path=Path("dyadic.yaml"),
                         models=config, models_path=config_path, num_conversations=1, out_dir=tmp_path / "run",
                         seed=3)
    prepared = prepare_run(request)
    prepared.models = scripted  # type: ignore[assignment]
    summary = await execute_run(prepared)
    assert (summary.written, summary.rejected) == (1, 0)
    events = read_jsonl(transcript_path(tmp_path / "run", "c000000")).records
    assert [e["candidate"] for e in events if e["event"] == "candidate_started"] == [0]
    skipped = [e for e in events if e["event"] == "candidates_skipped"]
    assert skipped and skipped[0]["first"] == 1
    report = json.loads((tmp_path / "run" / ITERATIONS).read_text())
    assert report[0]["candidates"] == 1  # the unused reservation went back to the budget


async def test_no_critics_keeps_every_conversation(tmp_path: Path) -> None:
    scenario = dyadic("--no-critics")
    assert scenario.critics is None
    summary = await run_scripted(tmp_path, scenario, 2)
    run = tmp_path / "run"
    assert (summary.written, summary.rejected, summary.stop_reason) == (2, 0, "")
    accepted = records(run / CONVERSATIONS)
    assert [r["id"] for r in accepted] == ["c000000", "c000001"]
    assert any(t["text"].startswith("Situation") for t in accepted[0]["turns"])  # kept: nothing judged it
    assert accepted[0]["review"] is None
    assert not (run / REJECTED).exists()
