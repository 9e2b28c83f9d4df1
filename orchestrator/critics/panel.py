"""The critic panel: run every expert on a candidate, then decide among an experience's K
candidates (Synthetic-Persona-Chat's Critic as a mixture of experts).

Rules:
- a candidate is rejected if any gate expert (rule, faithfulness, toxicity...) fails it;
- among the candidates that pass every gate, each quality expert votes for the candidate(s)
  it scored highest; most votes wins; ties go to the higher mean quality score, then to the
  lower candidate index (deterministic);
- a malformed verdict is retried (bounded), then counted as an abstention: recorded, no vote,
  never a crash. An abstaining gate does not fail the candidate;
- with `short_circuit`, model experts are skipped once a gate has failed (status "skipped").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from autogen_agentchat.messages import StructuredMessage
from autogen_core.models import ChatCompletionClient
from pydantic import ValidationError

from agents.critic_rules import RULE_CHECKS
from agents.critics import (
    REQUIRED_PARTS,
    GateOutput,
    QualityOutput,
    RuleCritic,
    RuleOutput,
    build_llm_critic,
    candidate_message,
    critic_agent_name,
    critic_request,
)
from agents.errors import ConfigError
from agents.prompting import PromptTemplate
from agents.verdicts import CandidateView, CriticRole, Verdict
from orchestrator.config import CriticsConfig
from orchestrator.config.prompt_files import load_prompt
from orchestrator.models.resilience import EndpointRejected
from orchestrator.store.transcript import Transcript

# (expert name, transcript, seed) -> a model client for that expert's agent.
ClientFactory = Callable[[str, Transcript, int], ChatCompletionClient]


@dataclass(frozen=True)
class ExpertSpec:
    name: str
    role: CriticRole
    template: PromptTemplate | None = None  # None: a rule expert

    @property
    def kind(self) -> str:
        return "rule" if self.template is None else "llm"


@dataclass
class CandidateReview:
    candidate: int
    verdicts: list[Verdict]

    @property
    def failed_gates(self) -> list[str]:
        return [v.expert for v in self.verdicts if v.role == "gate" and v.status == "fail"]

    @property
    def passed(self) -> bool:
        return not self.failed_gates

    @property
    def scores(self) -> dict[str, int]:
        return {v.expert: v.score for v in self.verdicts if v.role == "quality" and v.score is not None}

    @property
    def mean_quality(self) -> float | None:
        scores = list(self.scores.values())
        return round(sum(scores) / len(scores), 3) if scores else None


@dataclass
class PanelDecision:
    winner: int | None
    votes: dict[int, int]
    reasons: dict[int, str] = field(default_factory=dict)
    rejected_by: dict[int, list[str]] = field(default_factory=dict)
    tie_break: str | None = None


class CriticPanel:
    def __init__(self, experts: Sequence[ExpertSpec], config: CriticsConfig) -> None:
        self.experts = list(experts)
        self.config = config

    @classmethod
    def from_config(cls, config: CriticsConfig,
                    prompt_loader: Callable[..., PromptTemplate] = load_prompt) -> CriticPanel:
        """Load every LLM expert's template now, so a missing prompt fails before any model call."""
        experts: list[ExpertSpec] = []
        for role, names in (("gate", config.gates), ("quality", config.quality)):
            for name in names:
                if name in RULE_CHECKS:
                    experts.append(ExpertSpec(name, "gate"))
                    continue
                try:
                    template = prompt_loader(f"critic_{name}", REQUIRED_PARTS)
                except ConfigError as exc:
                    raise ConfigError(
                        f"scenario critics.{'gates' if role == 'gate' else 'quality'}: expert '{name}' is neither "
                        f"a rule expert ({', '.join(RULE_CHECKS)}) nor has a usable prompt: {exc}"
                    ) from None
                experts.append(ExpertSpec(name, role, template))  # type: ignore[arg-type]
        if not experts:
            raise ConfigError("scenario critics: the panel has no experts (gates and quality are both empty)")
        return cls(experts, config)

    @property
    def templates(self) -> dict[str, PromptTemplate]:
        return {f"critic_{e.name}": e.template for e in self.experts if e.template is not None}

    # ------------------------------------------------------------------ one candidate
    async def review(
        self, candidate: int, view: CandidateView, *, clients: ClientFactory, transcript: Transcript, seed: int
    ) -> CandidateReview:
        """Every expert's verdict on one candidate; recorded in the transcript one by one."""
        # Rules first (free), then model gates, then quality experts.
        order = sorted(self.experts, key=lambda e: (e.kind != "rule", e.role != "gate"))
        verdicts: list[Verdict] = []
        for offset, expert in enumerate(order):
            gate_failed = any(v.status == "fail" and v.role == "gate" for v in verdicts)
            if expert.template is None:
                verdict = await self._rule_verdict(expert, view)
            elif gate_failed and self.config.short_circuit:
                verdict = Verdict(expert=expert.name, role=expert.role, method="llm", status="skipped",
                                  rationale="skipped: a gate expert already failed this candidate")
            else:
                verdict = await self._llm_verdict(expert, view, clients=clients, transcript=transcript,
                                                  seed=seed * 97 + offset)
            verdicts.append(verdict)
            transcript.add("critic_verdict", candidate=candidate, **verdict.model_dump())
        return CandidateReview(candidate, verdicts)

    async def _rule_verdict(self, expert: ExpertSpec, view: CandidateView) -> Verdict:
        agent = RuleCritic(expert.name, self.config.limits)
        try:
            result = await agent.run(task=candidate_message(view))
            output = result.messages[-1]
            assert isinstance(output, StructuredMessage) and isinstance(output.content, RuleOutput)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a broken check costs a verdict, never the run
            return Verdict(expert=expert.name, role="gate", method="rule", status="abstain", attempts=1,
                           errors=[f"{type(exc).__name__}: {exc}"[:300]])
        return Verdict(expert=expert.name, role="gate", method="rule", status=output.content.verdict,
                       rationale=output.content.rationale, attempts=1)

    async def _llm_verdict(
        self, expert: ExpertSpec, view: CandidateView, *, clients: ClientFactory, transcript: Transcript, seed: int
    ) -> Verdict:
        assert expert.template is not None
        request = critic_request(expert.template, view)
        errors: list[str] = []
        attempts = self.config.verdict_attempts
        for attempt in range(1, attempts + 1):
            client = clients(expert.name, transcript, seed * 11 + attempt)
            agent = build_llm_critic(expert.name, role=expert.role, template=expert.template, model_client=client)
            try:
                result = await agent.run(task=request)
                message = result.messages[-1]
                if not isinstance(message, StructuredMessage):
                    errors.append(f"attempt {attempt}: expected a structured verdict, got {type(message).__name__}")
                    continue
                content = message.content
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "(top level)"
                errors.append(f"attempt {attempt}: malformed verdict: {where}: {first['msg']}")
                continue
            except (asyncio.CancelledError, KeyboardInterrupt, EndpointRejected):
                raise  # a rejected request fails every attempt the same way: it costs the job
            except Exception as exc:  # a model failure costs this verdict, never the run
                errors.append(f"attempt {attempt}: {type(exc).__name__}: {exc}"[:300])
                continue
            if isinstance(content, GateOutput):
                return Verdict(expert=expert.name, role=expert.role, method="llm", status=content.verdict,
                               rationale=content.rationale, attempts=attempt, errors=errors)
            if isinstance(content, QualityOutput):
                approved = content.score >= self.config.quality_pass_score
                return Verdict(expert=expert.name, role=expert.role, method="llm",
                               status="pass" if approved else "fail", score=content.score,
                               rationale=content.rationale, attempts=attempt, errors=errors)
            errors.append(f"attempt {attempt}: unexpected verdict type {type(content).__name__}")
        transcript.add("critic_abstained", agent=critic_agent_name(expert.name), errors=errors)
        return Verdict(expert=expert.name, role=expert.role, method="llm", status="abstain",
                       rationale="abstained: no valid verdict", attempts=attempts, errors=errors)

    # ------------------------------------------------------------------ the decision
    def decide(self, reviews: Sequence[CandidateReview]) -> PanelDecision:
        return decide(reviews, min_mean_quality=self.config.min_mean_quality)


def decide(reviews: Sequence[CandidateReview], *, min_mean_quality: float | None = None) -> PanelDecision:
    """Gate, then majority vote of the quality experts; deterministic tie-break."""
    rejected_by: dict[int, list[str]] = {}
    reasons: dict[int, str] = {}
    passing: list[CandidateReview] = []
    for review in reviews:
        if review.failed_gates:
            rejected_by[review.candidate] = review.failed_gates
            reasons[review.candidate] = "failed gate(s): " + ", ".join(review.failed_gates)
        elif min_mean_quality is not None and (review.mean_quality or 0.0) < min_mean_quality:
            rejected_by[review.candidate] = ["quality"]
            reasons[review.candidate] = f"mean quality {review.mean_quality} below {min_mean_quality}"
        else:
            passing.append(review)
    votes = {r.candidate: 0 for r in reviews}
    experts = sorted({e for r in passing for e in r.scores})
    for expert in experts:
        scored = {r.candidate: r.scores[expert] for r in passing if expert in r.scores}
        best = max(scored.values())
        for candidate, score in scored.items():
            if score == best:  # approval of the top-scored candidate(s)
                votes[candidate] += 1
    if not passing:
        return PanelDecision(None, votes, reasons, rejected_by)

    def rank(r: CandidateReview) -> tuple[int, float, int]:
        return (-votes[r.candidate], -(r.mean_quality or 0.0), r.candidate)

    ordered = sorted(passing, key=rank)
    winner = ordered[0]
    tie_break = None
    if len(ordered) > 1 and votes[ordered[1].candidate] == votes[winner.candidate]:
        same_mean = (ordered[1].mean_quality or 0.0) == (winner.mean_quality or 0.0)
        tie_break = "lower candidate index" if same_mean else "higher mean quality"
    for r in ordered[1:]:
        rejected_by[r.candidate] = []
        reasons[r.candidate] = (
            f"passed the gates but lost the vote ({votes[r.candidate]} vs {votes[winner.candidate]} votes"
            + (f", tie broken by {tie_break}" if tie_break and votes[r.candidate] == votes[winner.candidate] else "")
            + ")"
        )
    reasons[winner.candidate] = (
        f"passed every gate; {votes[winner.candidate]} quality vote(s) of {len(experts)}"
        + (f"; tie broken by {tie_break}" if tie_break else "")
    )
    return PanelDecision(winner.candidate, votes, reasons, rejected_by, tie_break)
