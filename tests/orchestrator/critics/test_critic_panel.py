"""The critic panel with scripted (replay) model clients: each expert's parsing, gates,
majority vote, deterministic tie-break, malformed verdicts as recorded abstentions."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient

from agents.errors import ConfigError
from agents.schemas import Experience, Turn
from agents.verdicts import CandidateView, Verdict, VerdictStatus
from orchestrator.config import CriticsConfig, RoleSettings
from orchestrator.critics.panel import CandidateReview, CriticPanel, decide
from orchestrator.models.hub import RecordingClient
from orchestrator.store.transcript import Transcript
from tests.helpers import FIXTURES

FIXTURE = json.loads((FIXTURES / "critic_conversations.json").read_text())
EXPERIENCE = Experience.model_validate(FIXTURE["experience"])
CLEAN = CandidateView(experience=EXPERIENCE, turns=[Turn(**t) for t in FIXTURE["conversations"]["clean"]])
SETTINGS = RoleSettings(backend="replay", temperature=0.0, top_p=None, max_tokens=64)


def gate(verdict: str, why: str = "fine") -> str:
    return json.dumps({"rationale": why, "verdict": verdict})


def score(value: int, why: str = "ok") -> str:
    return json.dumps({"rationale": why, "score": value})


class ScriptedCritics:
    """A client factory: each expert's replies are consumed in order, one per model call."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.queues = {name: deque(replies) for name, replies in script.items()}
        self.calls: dict[str, int] = defaultdict(int)

    def __call__(self, expert: str, transcript: Transcript, seed: int) -> RecordingClient:
        self.calls[expert] += 1
        reply = self.queues[expert].popleft()
        return RecordingClient(ReplayChatCompletionClient([reply]), role="critic", agent=f"critic_{expert}",
                               settings=SETTINGS, transcript=transcript, seed=seed, send_seed=False)


def panel(**overrides: object) -> CriticPanel:
    config = CriticsConfig.model_validate({
        "gates": ["repetition", "format_leak", "participation", "toxicity", "faithfulness"],
        "quality": ["coherence", "naturalness", "on_topic"],
        "limits": {"min_turns": 4},
        **overrides,
    })
    return CriticPanel.from_config(config)


def by_expert(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.expert: v for v in verdicts}


# ----------------------------------------------------------------- each expert's parsing
@pytest.mark.parametrize("expert", ["faithfulness", "toxicity"])
async def test_gate_expert_parses_pass_and_fail(expert: str) -> None:
    p = panel(gates=[expert], quality=[])
    for answer in ("pass", "fail"):
        transcript = Transcript()
        review = await p.review(0, CLEAN, clients=ScriptedCritics({expert: [gate(answer, f"it is {answer}")]}),
                                transcript=transcript, seed=1)
        (v,) = review.verdicts
        assert (v.expert, v.role, v.method, v.status, v.rationale) == (expert, "gate", "llm", answer, f"it is {answer}")
        assert review.passed is (answer == "pass")
        events = [e for e in transcript.events if e["event"] == "critic_verdict"]
        assert events[0]["status"] == answer and events[0]["rationale"] == f"it is {answer}"
        # The request the critic saw holds the conversation and the persona sheet.
        call = next(e for e in transcript.events if e["event"] == "model_call")
        assert "Carol: Maybe. I never thought to ask them" in call["last_message"]
        assert "Alice (34)" in call["last_message"]
        assert transcript.usage["critic"].calls == 1


@pytest.mark.parametrize("expert", ["coherence", "naturalness", "engagement", "on_topic"])
async def test_quality_expert_parses_score(expert: str) -> None:
    p = panel(gates=[], quality=[expert], quality_pass_score=3)
    for value, status in ((4, "pass"), (2, "fail")):
        review = await p.review(0, CLEAN, clients=ScriptedCritics({expert: [score(value)]}),
                                transcript=Transcript(), seed=1)
        (v,) = review.verdicts
        assert (v.role, v.score, v.status) == ("quality", value, status)
        assert review.passed  # a low quality score is a vote, never a gate
        assert review.mean_quality == value


async def test_malformed_verdict_is_retried_then_abstains_recorded_without_crash() -> None:
    p = panel(gates=["toxicity"], quality=["coherence"], verdict_attempts=2)
    critics = ScriptedCritics({
        "toxicity": ["I think it is fine", '{"rationale": "x", "verdict": "maybe"}'],
        "coherence": ['{"score": 4}', score(4)],
    })
    transcript = Transcript()
    review = await p.review(0, CLEAN, clients=critics, transcript=transcript, seed=3)
    v = by_expert(review.verdicts)
    assert v["toxicity"].status == "abstain"
    assert v["toxicity"].attempts == 2
    assert len(v["toxicity"].errors) == 2 and "malformed verdict" in v["toxicity"].errors[0]
    assert review.passed  # an abstaining gate does not fail the candidate
    # The second attempt of the quality expert succeeded; the first failure is kept.
    assert (v["coherence"].status, v["coherence"].score, v["coherence"].attempts) == ("pass", 4, 2)
    assert "rationale" in v["coherence"].errors[0]
    abstained = [e for e in transcript.events if e["event"] == "critic_abstained"]
    assert abstained[0]["agent"] == "critic_toxicity"
    assert critics.calls == {"toxicity": 2, "coherence": 2}


async def test_model_error_costs_the_verdict_not_the_panel() -> None:
    class Broken:
        def __call__(self, expert: str, transcript: Transcript, seed: int) -> ReplayChatCompletionClient:
            return ReplayChatCompletionClient([])  # raises on the first call: no replies left

    review = await panel(gates=["faithfulness"], quality=[], verdict_attempts=1).review(
        0, CLEAN, clients=Broken(), transcript=Transcript(), seed=1)
    (v,) = review.verdicts
    assert v.status == "abstain" and v.errors


# ----------------------------------------------------------------- the decision
async def test_toxic_candidate_is_rejected_even_if_quality_loves_it() -> None:
    p = panel(short_circuit=False)
    critics = ScriptedCritics({
        "toxicity": [gate("fail", "insults"), gate("pass")],
        "faithfulness": [gate("pass"), gate("pass")],
        "coherence": [score(5), score(2)],
        "naturalness": [score(5), score(2)],
        "on_topic": [score(5), score(2)],
    })
    transcript = Transcript()
    reviews = [await p.review(k, CLEAN, clients=critics, transcript=transcript, seed=k) for k in (0, 1)]
    assert reviews[0].mean_quality == 5 and reviews[0].failed_gates == ["toxicity"]
    decision = p.decide(reviews)
    assert decision.winner == 1
    assert decision.rejected_by[0] == ["toxicity"]
    assert "failed gate(s): toxicity" in decision.reasons[0]


async def test_short_circuit_skips_model_experts_after_a_failed_gate() -> None:
    looping = CandidateView(experience=EXPERIENCE,
                            turns=[Turn(**t) for t in FIXTURE["conversations"]["looping"]])
    critics = ScriptedCritics({})
    review = await panel().review(0, looping, clients=critics, transcript=Transcript(), seed=1)
    v = by_expert(review.verdicts)
    assert v["repetition"].status == "fail"
    assert {v[n].status for n in ("toxicity", "faithfulness", "coherence")} == {"skipped"}
    assert critics.calls == {}  # no model call spent on a candidate already rejected


def review_with(candidate: int, scores: dict[str, int | None], failed: tuple[str, ...] = ()) -> CandidateReview:
    verdicts = [Verdict(expert=g, role="gate", method="rule", status="fail") for g in failed]
    for expert, value in scores.items():
        status: VerdictStatus = "abstain" if value is None else "pass"
        verdicts.append(Verdict(expert=expert, role="quality", method="llm", status=status, score=value))
    return CandidateReview(candidate, verdicts)


def test_majority_of_quality_experts_picks_the_winner() -> None:
    reviews = [
        review_with(0, {"coherence": 5, "naturalness": 2, "on_topic": 2}),
        review_with(1, {"coherence": 4, "naturalness": 3, "on_topic": 3}),
    ]
    decision = decide(reviews)
    # Candidate 0 has the single highest score but loses the vote 1 to 2.
    assert decision.votes == {0: 1, 1: 2}
    assert decision.winner == 1
    assert "lost the vote (1 vs 2 votes" in decision.reasons[0]


def test_ties_are_broken_deterministically() -> None:
    same = [review_with(k, {"coherence": 4, "naturalness": 4}) for k in range(3)]
    first = decide(same)
    assert first.winner == 0 and first.tie_break == "lower candidate index"
    assert decide(list(reversed(same))).winner == 0  # order of reviews does not matter
    # Equal votes, different mean quality: the higher mean wins.
    split = [review_with(0, {"coherence": 5, "naturalness": 1}), review_with(1, {"coherence": 4, "naturalness": 4})]
    decision = decide(split)
    assert decision.votes == {0: 1, 1: 1}
    assert decision.winner == 1 and decision.tie_break == "higher mean quality"


def test_abstaining_quality_expert_casts_no_vote() -> None:
    reviews = [review_with(0, {"coherence": None, "naturalness": 3}),
               review_with(1, {"coherence": None, "naturalness": 4})]
    decision = decide(reviews)
    assert decision.votes == {0: 0, 1: 1}
    assert decision.winner == 1


def test_no_passing_candidate_means_no_winner() -> None:
    reviews = [review_with(0, {"coherence": 5}, failed=("format_leak",)),
               review_with(1, {}, failed=("length", "repetition"))]
    decision = decide(reviews)
    assert decision.winner is None
    assert decision.rejected_by == {0: ["format_leak"], 1: ["length", "repetition"]}


def test_min_mean_quality_rejects_weak_candidates() -> None:
    decision = decide([review_with(0, {"coherence": 2})], min_mean_quality=3)
    assert decision.winner is None and decision.rejected_by[0] == ["quality"]


def test_unknown_expert_without_prompt_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expert 'vibes' is neither a rule expert"):
        panel(gates=["vibes"])


def test_rule_experts_cannot_be_quality_experts() -> None:
    with pytest.raises(ValueError, match="rule experts can only be gates"):
        CriticsConfig(gates=[], quality=["repetition"])


def test_rationale_schema_is_one_bounded_line() -> None:
    from pydantic import ValidationError

    from agents.critics import QualityOutput

    assert QualityOutput.model_validate_json('{"rationale": "fine, it flows", "score": 3}').score == 3
    for bad in ('{"rationale": "two\\nlines", "score": 3}', '{"rationale": "' + "x" * 201 + '", "score": 3}'):
        with pytest.raises(ValidationError):
            QualityOutput.model_validate_json(bad)


async def test_a_rejected_request_is_not_an_abstention() -> None:
    # the endpoint refuses the request itself: every attempt would fail the same way, so the
    # verdict is not retried and the candidate's job fails (the driver may then stop the run)
    from orchestrator.models.resilience import EndpointRejected

    class Rejecting(ScriptedCritics):
        def __call__(self, expert: str, transcript: Transcript, seed: int) -> RecordingClient:
            self.calls[expert] += 1
            failing = ReplayChatCompletionClient([])
            failing.create = _raise(EndpointRejected("srv", "HTTP 400: bad"))  # type: ignore[method-assign,assignment]
            return RecordingClient(failing, role="critic", agent=f"critic_{expert}", settings=SETTINGS,
                                   transcript=transcript, seed=seed, send_seed=False)

    clients = Rejecting({})
    with pytest.raises(EndpointRejected):
        await panel(gates=["toxicity"], quality=[], verdict_attempts=3).review(
            0, CLEAN, clients=clients, transcript=Transcript(), seed=1)
    assert clients.calls["toxicity"] == 1


def _raise(error: Exception) -> Callable[..., Awaitable[None]]:
    async def create(*args: object, **kwargs: object) -> None:
        raise error

    return create
