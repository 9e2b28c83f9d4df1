"""Where the project's data lives: the folders users edit (scenarios, models, prompts)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
SCENARIOS_DIR = PROJECT_ROOT / "scenarios"
MODELS_DIR = SCENARIOS_DIR / "models"
PROMPTS_DIR = PROJECT_ROOT / "prompts"
DEFAULT_MODELS_FILE = MODELS_DIR / "local.yaml"
