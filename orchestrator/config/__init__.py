"""Configuration users edit: scenarios, model backends and roles, prompt files, where they live."""

from orchestrator.config.models import (
    AzureOpenAIBackend,
    CacheConfig,
    LocalBackend,
    ModelsConfig,
    OpenAIBackend,
    Prices,
    RetryConfig,
    Role,
    RoleSettings,
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
    "available_scenarios",
    "load_models",
    "load_scenario",
]
