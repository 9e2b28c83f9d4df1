"""The G-Eval style groundedness judge (ConvoGen section IV.D).

For each conversation and each question: call 1 asks the judge to explain how the conversation
is grounded in one aspect of its experience; call 2 (same context + that explanation) asks for a
1-5 score, read from the first token's logprobs (see scoring.py). Questions and templates are
data in prompts/judge_questions.yaml. A failure costs one item: it is recorded, never raised.
Both calls go through the model hub's logprob client for the `judge` role (its backend's
retries, throttling and LLM cache).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autogen_core.models import AssistantMessage, LLMMessage, SystemMessage, UserMessage
from pydantic import BaseModel, ConfigDict, Field

from agents.prompting import PromptTemplate, render
from evaluation.corpus import Conversation, PersonaSource
from evaluation.judge.scoring import SCORE_TOKENS, resolve_score
from orchestrator.config import PROMPTS_DIR
from orchestrator.config.yaml_files import load_model
from orchestrator.models.logprobs import LogprobClient

QUESTIONS_FILE = PROMPTS_DIR / "judge_questions.yaml"
EXPLAIN_ATTEMPTS = 2
SCORE_ATTEMPTS = 2


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    question: str = Field(min_length=1)


class JudgeTemplates(_Strict):
    system: str
    context: str
    explain: str
    score: str


class JudgeFile(_Strict):
    version: int | str = 1
    description: str = ""
    templates: JudgeTemplates
    questions: dict[PersonaSource, list[QuestionSpec]]


@dataclass(frozen=True)
class JudgeQuestions:
    template: PromptTemplate
    by_source: dict[str, list[QuestionSpec]]

    def for_source(self, source: PersonaSource) -> list[QuestionSpec]:
        return self.by_source[source]


def load_judge_questions(path: Path = QUESTIONS_FILE) -> JudgeQuestions:
    spec = load_model(path, JudgeFile)
    parts = spec.templates.model_dump()
    for source, questions in spec.questions.items():
        for q in questions:
            parts[f"question.{source}.{q.id}"] = q.question
    template = PromptTemplate(
        name="judge_questions", source=str(path), parts=parts, version=str(spec.version)
    )
    return JudgeQuestions(template, {str(k): v for k, v in spec.questions.items()})


@dataclass
class JudgeItem:
    conversation_id: str
    question_id: str
    score: float | None = None
    method: str | None = None  # top_logprobs | digit_logits | sampled_token
    distribution: dict[int, float] = field(default_factory=dict)
    explanation: str = ""
    error: str | None = None
    attempts: int = 0


def build_messages(
    questions: JudgeQuestions, source: PersonaSource, question_id: str, conv: Conversation
) -> tuple[list[LLMMessage], str]:
    """The explain-call messages and the rendered question."""
    assert conv.experience is not None
    tpl = questions.template
    turns = [
        {"speaker": t.speaker, "text": text} for t, text in zip(conv.turns, conv.texts, strict=True)
    ]
    question = render(tpl, f"question.{source}.{question_id}", experience=conv.experience)
    context = render(tpl, "context", experience=conv.experience, turns=turns)
    messages: list[LLMMessage] = [
        SystemMessage(content=render(tpl, "system")),
        UserMessage(content=f"{context}\n\n{render(tpl, 'explain', question=question)}", source="user"),
    ]
    return messages, question


async def judge_item(
    engine: LogprobClient, questions: JudgeQuestions, conv: Conversation, question_id: str
) -> JudgeItem:
    source: PersonaSource = conv.persona_source or "generated"
    item = JudgeItem(conversation_id=conv.id, question_id=question_id)
    try:
        messages, _ = build_messages(questions, source, question_id, conv)
        for attempt in range(EXPLAIN_ATTEMPTS):
            item.attempts += 1
            item.explanation = (await engine.text(messages, attempt=attempt)).strip()
            if item.explanation:
                break
        if not item.explanation:
            item.error = f"empty explanation after {EXPLAIN_ATTEMPTS} attempts"
            return item
        score_messages = [
            *messages,
            AssistantMessage(content=item.explanation, source="judge"),
            UserMessage(content=render(questions.template, "score"), source="user"),
        ]
        seen: list[str] = []
        for attempt in range(SCORE_ATTEMPTS):
            item.attempts += 1
            tokens = await engine.first_token(score_messages, watch=SCORE_TOKENS, attempt=attempt)
            outcome = resolve_score(tokens)
            if outcome is not None:
                item.score, item.method, item.distribution = (
                    outcome.score,
                    outcome.method,
                    outcome.distribution,
                )
                return item
            seen.append(f"top={[t for t, _ in tokens.top]} produced={tokens.produced!r}")
        item.error = f"no score digit 1-5 in the returned tokens ({'; '.join(seen)})"
    except Exception as exc:  # one item fails, the evaluation goes on
        item.error = f"{type(exc).__name__}: {exc}"
    return item


async def judge_conversations(
    engine: LogprobClient,
    conversations: list[Conversation],
    *,
    questions: JudgeQuestions | None = None,
    limit: int | None = None,
    on_item: Any = None,
) -> list[JudgeItem]:
    """Sequential on purpose: the embedded engine serialises anyway and questions of one
    conversation share a prompt prefix that llama.cpp reuses."""
    questions = questions or load_judge_questions()
    judged = [c for c in conversations if c.experience is not None]
    if limit is not None:
        judged = judged[:limit]
    items: list[JudgeItem] = []
    for conv in judged:
        for spec in questions.for_source(conv.persona_source or "generated"):
            item = await judge_item(engine, questions, conv, spec.id)
            items.append(item)
            if on_item:
                on_item(item)
    return items


def summarise(items: list[JudgeItem], engine_description: str) -> dict[str, Any]:
    by_question: dict[str, list[float]] = {}
    for item in items:
        by_question.setdefault(item.question_id, [])
        if item.score is not None:
            by_question[item.question_id].append(item.score)
    scores = [i.score for i in items if i.score is not None]
    return {
        "engine": engine_description,
        "conversations": len({i.conversation_id for i in items}),
        "items": len(items),
        "scored": len(scores),
        "fell_back": sum(1 for i in items if i.method not in (None, "top_logprobs")),
        "fallback_methods": {
            m: sum(1 for i in items if i.method == m) for m in ("digit_logits", "sampled_token")
        },
        "failed": sum(1 for i in items if i.score is None),
        "failures": [
            {"conversation": i.conversation_id, "question": i.question_id, "error": i.error}
            for i in items
            if i.score is None
        ][:20],
        "per_question": {
            q: {"mean": statistics.fmean(v) if v else None, "n": len(v)}
            for q, v in by_question.items()
        },
        "overall_mean": statistics.fmean(scores) if scores else None,
    }


def item_dicts(items: list[JudgeItem]) -> list[dict[str, Any]]:
    return [asdict(i) for i in items]
