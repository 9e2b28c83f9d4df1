"""Configuration users edit: scenarios, model backends and roles, prompt files, where they live."""

from orchestrator.config.models import (
    STRUCTURED_OUTPUT_MODES,
    AzureOpenAIBackend,
    CacheConfig,
    LocalBackend,
    ModelsConfig,
    OpenAIBackend,
    Prices,
    RetryConfig,
    Role,
    RoleSettings,
    StructuredOutputMode,
    StructuredOutputSetting,
    load_models,
)
from orchestrator.config.paths import PROJECT_ROOT, PROMPTS_DIR, SCENARIOS_DIR
from orchestrator.config.scenario import (
    CriticsConfig,
    PersonaSourceConfig,
    Scenario,
    available_scenarios,
    load_scenario,
)

__all__ = [
    "PROJECT_ROOT",
    "PROMPTS_DIR",
    "SCENARIOS_DIR",
    "STRUCTURED_OUTPUT_MODES",
    "AzureOpenAIBackend",
    "CacheConfig",
    "CriticsConfig",
    "LocalBackend",
    "ModelsConfig",
    "OpenAIBackend",
    "PersonaSourceConfig",
    "Prices",
    "RetryConfig",
    "Role",
    "RoleSettings",
    "Scenario",
    "StructuredOutputMode",
    "StructuredOutputSetting",
    "available_scenarios",
    "load_models",
    "load_scenario",
]
