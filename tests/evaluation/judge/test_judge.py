"""G-Eval judge: logprob weighting, the two-step flow (replay client behind the model hub),
failures, questions; the embedded model end to end (integration)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from autogen_core.models import ChatCompletionTokenLogprob, CreateResult, RequestUsage, TopLogprob
from autogen_ext.models.replay import ReplayChatCompletionClient

from evaluation.corpus import load_path
from evaluation.judge.geval import judge_conversations, judge_item, load_judge_questions, summarise
from evaluation.judge.scoring import resolve_score
from orchestrator.config import ModelsConfig
from orchestrator.models.hub import ModelHub
from orchestrator.models.logprobs import FirstToken, LogprobClient
from tests.helpers import FIXTURES, replay_hub

RUN = FIXTURES / "eval_run"
ln = math.log


def weighted_score(top: list[tuple[str, float]]) -> float | None:
    """The score of the judge's top logprobs alone (no fallback)."""
    outcome = resolve_score(FirstToken(top=top))
    assert outcome is None or outcome.method == "top_logprobs"
    return None if outcome is None else outcome.score


def test_all_mass_on_four_scores_four() -> None:
    assert weighted_score([("4", 0.0)]) == pytest.approx(4.0)


def test_even_split_between_three_and_five_scores_four() -> None:
    assert weighted_score([("3", ln(0.5)), ("5", ln(0.5))]) == pytest.approx(4.0)


def test_non_digit_mass_is_renormalised_away_and_spaced_tokens_count() -> None:
    # p(2)=0.1, p(" 2")=0.1, p(4)=0.2, p("The")=0.6 -> digits renormalised: 2 with 0.5, 4 with 0.5
    assert weighted_score(
        [("2", ln(0.1)), (" 2", ln(0.1)), ("4", ln(0.2)), ("The", ln(0.6))]
    ) == pytest.approx(3.0)


def test_missing_digit_tokens_give_none_then_fallbacks_apply() -> None:
    assert weighted_score([("The", ln(0.9)), ("I", ln(0.1))]) is None
    from_logits = resolve_score(FirstToken(top=[("The", 0.0)], watched={"1": ln(0.01), "5": ln(0.03)}))
    assert from_logits is not None and from_logits.method == "digit_logits"
    assert from_logits.score == pytest.approx((1 * 0.01 + 5 * 0.03) / 0.04)
    sampled = resolve_score(FirstToken(top=[("x", 0.0)], produced="3"))
    assert sampled is not None and (sampled.score, sampled.method) == (3.0, "sampled_token")
    assert resolve_score(FirstToken(top=[("x", 0.0)], produced="x")) is None


def judge_client(tmp_path: Path, script: list[str | CreateResult]) -> LogprobClient:
    """The hub's judge client over a replay client (no model loaded, no cache)."""
    return replay_hub(tmp_path, {"judge": ReplayChatCompletionClient(script)}).logprob_client("judge")


def _score_result(pairs: list[tuple[str, float]]) -> CreateResult:
    top = [TopLogprob(logprob=lp, bytes=list(tok.encode())) for tok, lp in pairs]
    return CreateResult(
        content=pairs[0][0],
        finish_reason="length",
        usage=RequestUsage(prompt_tokens=1, completion_tokens=1),
        cached=False,
        logprobs=[
            ChatCompletionTokenLogprob(token=pairs[0][0], logprob=pairs[0][1], top_logprobs=top)
        ],
    )


def test_question_sets_match_the_paper() -> None:
    questions = load_judge_questions()
    assert [q.id for q in questions.for_source("generated")] == [
        "topic",
        "situation",
        "qualities",
        "speech_style",
        "age",
        "lifestyle",
        "memory",
        "relations",
        "overall",
    ]
    assert [q.id for q in questions.for_source("sampled")] == [
        "topic",
        "situation",
        "personas",
        "overall",
    ]


async def test_two_step_flow_explains_then_scores_from_logprobs(tmp_path: Path) -> None:
    conv = load_path(RUN).conversations[0]
    client = judge_client(
        tmp_path,
        [
            "They discuss the market, as the topic says.",
            _score_result([("3", ln(0.5)), ("5", ln(0.5)), ("The", ln(0.2))]),
        ],
    )
    item = await judge_item(client, load_judge_questions(), conv, "topic")
    assert item.error is None
    assert item.explanation == "They discuss the market, as the topic says."
    assert item.score == pytest.approx(4.0) and item.method == "top_logprobs"
    assert item.attempts == 2


async def test_a_failing_item_is_recorded_and_the_rest_continue(tmp_path: Path) -> None:
    conv = load_path(RUN).conversations[0]
    questions = load_judge_questions()
    n = len(questions.for_source("generated"))
    script: list[str | CreateResult] = ["", ""]  # first question: two empty explanations
    for _ in range(n - 1):
        script += ["An explanation.", _score_result([("4", 0.0)])]
    items = await judge_conversations(judge_client(tmp_path, script), [conv], questions=questions)
    summary = summarise(items, "replay")
    assert summary["items"] == n and summary["failed"] == 1 and summary["scored"] == n - 1
    assert items[0].error and "empty explanation" in items[0].error
    assert summary["per_question"]["overall"]["mean"] == pytest.approx(4.0)


async def test_no_digit_in_any_score_attempt_is_a_recorded_failure(tmp_path: Path) -> None:
    conv = load_path(RUN).conversations[0]
    client = judge_client(
        tmp_path, ["Because.", _score_result([("The", 0.0)]), _score_result([("I", 0.0)])]
    )
    item = await judge_item(client, load_judge_questions(), conv, "age")
    assert item.score is None and item.error is not None and "no score digit" in item.error


@pytest.mark.integration
async def test_embedded_model_judges_one_conversation_from_logprobs(tmp_path: Path) -> None:
    full = load_path(RUN).conversations[1]
    conv = dataclasses.replace(
        full, turns=full.turns[:4]
    )  # keeps the test under a minute on 2 cores
    config = ModelsConfig.model_validate({
        "backends": {"embedded": {"type": "local", "model_path": "bundled", "n_ctx": 4096}},
        "default": {"backend": "embedded"},
        "roles": {"judge": {"temperature": 0.0, "max_tokens": 48}},
        "cache": {"store": "off"},
    })
    hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
    questions = load_judge_questions()
    try:
        client = hub.logprob_client("judge")
        items = [await judge_item(client, questions, conv, q) for q in ("topic", "overall")]
        (engine,) = hub.local_engines()  # explanations and scores share the hub's one engine lock
    finally:
        await hub.close()
    for item in items:
        assert item.error is None, item.error
        assert item.score is not None and 1.0 <= item.score <= 5.0
        assert item.method in ("top_logprobs", "digit_logits")
        assert sum(item.distribution.values()) == pytest.approx(1.0)
    assert engine.calls == 4  # two calls (explain, score) per question


async def test_sampled_personas_get_the_four_paper_questions(tmp_path: Path) -> None:
    conv = dataclasses.replace(load_path(RUN).conversations[0], persona_source="sampled")
    script: list[str | CreateResult] = []
    for _ in range(4):
        script += ["Explained.", _score_result([("5", ln(0.75)), ("4", ln(0.25))])]
    items = await judge_conversations(judge_client(tmp_path, script), [conv])
    assert [i.question_id for i in items] == ["topic", "situation", "personas", "overall"]
    assert all(i.score == pytest.approx(4.75) for i in items)
