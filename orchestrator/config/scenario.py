"""The scenario schema (`scenarios/*.yaml`, an untrusted edge: unknown fields are errors) and
its loader, whose errors name the file, the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from agents.critic_rules import RULE_CHECKS, RuleLimits
from agents.errors import UserError
from orchestrator.config.limits import (
    MAX_CANDIDATES,
    MAX_CONVERSATIONS,
    MAX_PARTICIPANTS,
    MAX_TOKEN_BUDGET,
    MAX_TURNS,
)
from orchestrator.config.paths import SCENARIOS_DIR
from orchestrator.config.yaml_files import StrictModel as _Strict
from orchestrator.config.yaml_files import load_model


class IntRange(_Strict):
    min: int = Field(ge=1, le=MAX_TURNS)
    max: int = Field(ge=1, le=MAX_TURNS)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class ParticipantRange(IntRange):
    """How many people a conversation has: 2 to MAX_PARTICIPANTS (a group chat of one is a monologue)."""

    min: int = Field(ge=2, le=MAX_PARTICIPANTS)
    max: int = Field(ge=2, le=MAX_PARTICIPANTS)


class FewShotConfig(_Strict):
    mode: Literal["fixed", "iterative"] = "iterative"
    shots_per_prompt: int = Field(default=1, ge=0, le=8)
    # ConvoGen generated 8 experiences per sampled shot set.
    experiences_per_shot: int = Field(default=8, ge=1, le=64)
    seed_shots: str = "shots/experiences.yaml"
    # iterative mode keeps a uniform random sample of at most this many generated (and as many
    # accepted) experiences: memory and hub.json stay flat on long runs
    hub_capacity: int = Field(default=1000, ge=1, le=100_000)


class PersonaSourceConfig(_Strict):
    """Where the participants come from (ConvoGen Table I): the experience generator invents
    them (generated), they are drawn from a persona hub (sampled: the YAML library or a
    PersonaHub-shaped JSONL file), or fixed groups are replayed, one conversation per group
    (reused). Relative paths are relative to the project root. See personas/README.md."""

    source: Literal["generated", "sampled", "reused"] = "generated"
    hub: Literal["library", "jsonl"] = "library"  # sampled only
    library: str = "personas"  # directory of persona YAML files
    tags: tuple[str, ...] = ()  # sampled library: only personas with one of these tags
    jsonl: str = "personas/sources/personahub_sample.jsonl"  # {"persona": "..."} per line
    groups: str = "personas/sources/reused_groups.yaml"  # reused: fixed groups of users


class PromptNames(_Strict):
    experience_generator: str = "experience_generator"
    persona: str = "persona_agent"
    group_chat: str = "group_chat"


class CriticsConfig(_Strict):
    """The Generator-Critic loop (Synthetic-Persona-Chat): which experts sit on the panel,
    their thresholds, K candidates per experience, iterations and the run's budget."""

    enabled: bool = True
    candidates_per_experience: int = Field(default=2, ge=1, le=8)  # K
    iterations: int = Field(default=2, ge=1, le=20)
    # Gate experts: any failure rejects the candidate. Rule experts (no model, agents/critic_rules.py)
    # or LLM experts with a prompts/critic_<name>.yaml template; by default every rule expert.
    gates: list[str] = Field(default_factory=lambda: [*RULE_CHECKS, "toxicity", "faithfulness"])
    # Quality experts (LLM, prompts/critic_<name>.yaml): each scores 1-5 and votes for its
    # best-scored passing candidate; the majority picks the winner.
    quality: list[str] = Field(default_factory=lambda: ["coherence", "naturalness", "on_topic"])
    quality_pass_score: int = Field(default=3, ge=1, le=5)  # a score >= this counts as approval
    min_mean_quality: float | None = Field(default=None, ge=1, le=5)  # optional acceptance bar
    verdict_attempts: int = Field(default=2, ge=1, le=5)  # malformed verdicts retried, then abstain
    short_circuit: bool = True  # skip model experts once a gate has failed (saves tokens)
    # Budget: generation stops when N conversations are accepted or a budget is spent.
    max_candidates: int | None = Field(default=None, ge=1, le=MAX_CANDIDATES)  # default: 2 * K * N
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKEN_BUDGET)
    limits: RuleLimits = RuleLimits()  # the rule experts' own schema

    @model_validator(mode="after")
    def _panel(self) -> CriticsConfig:
        names = [*self.gates, *self.quality]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"experts listed twice (gates and quality are disjoint): {', '.join(duplicates)}")
        rules_as_quality = [n for n in self.quality if n in RULE_CHECKS]
        if rules_as_quality:
            raise ValueError(f"rule experts can only be gates, not quality experts: {', '.join(rules_as_quality)}")
        bad = [n for n in names if not n.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"expert names must be letters, digits and underscores: {', '.join(bad)}")
        return self


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    participants: ParticipantRange
    turns: IntRange
    num_conversations: int = Field(default=3, ge=1, le=MAX_CONVERSATIONS)
    personas: PersonaSourceConfig = PersonaSourceConfig()
    few_shot: FewShotConfig = FewShotConfig()
    prompts: PromptNames = PromptNames()
    reply_style: Literal["short", "chatty"] = "short"
    max_reply_words: int = Field(default=30, ge=5, le=400)
    # "constrained": our schema-constrained selector call; "autogen": AutoGen's own prompt.
    selector: Literal["constrained", "autogen"] = "constrained"
    experience_attempts: int = Field(default=4, ge=1, le=20)
    # Give the experience generator fresh names from prompts/names.yaml (pinned in the
    # grammar on the embedded backend); off lets the model invent names itself.
    name_hints: bool = True
    selector_attempts: int = Field(default=2, ge=1, le=10)
    # A persona reply that is empty, leaks a speaker label or prompt text, or repeats an earlier
    # line is sampled again, up to this many attempts in all (1 = never).
    reply_attempts: int = Field(default=3, ge=1, le=10)
    # Generator-Critic loop with an expert panel; absent or enabled: false = no critics.
    critics: CriticsConfig | None = None


def available_scenarios(directory: Path = SCENARIOS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def scenario_path(name_or_path: str, directory: Path = SCENARIOS_DIR) -> Path:
    """A scenario given by name (`multiparty`) or by path (`my/scenario.yaml`)."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"}:
        if not candidate.exists():
            raise UserError(f"--scenario: file not found: {candidate}")
        return candidate
    path = directory / f"{name_or_path}.yaml"
    if not path.exists():
        names = ", ".join(available_scenarios(directory)) or "(none)"
        raise UserError(f"unknown scenario '{name_or_path}'; available scenarios: {names}")
    return path


def load_scenario(name_or_path: str, directory: Path = SCENARIOS_DIR) -> tuple[Scenario, Path]:
    path = scenario_path(name_or_path, directory)
    return load_model(path, Scenario), path
