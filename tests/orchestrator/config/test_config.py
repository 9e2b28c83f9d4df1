"""Bad configuration input gets one clear message naming file, line or field, and value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.errors import ConfigError, UserError
from orchestrator.config import ModelsConfig, OpenAIBackend, Scenario, available_scenarios, load_models, load_scenario
from orchestrator.config.yaml_files import load_model
from orchestrator.store.layout import CONVERSATIONS
from tests.helpers import ROOT


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_scenarios_and_models_load() -> None:
    assert {"multiparty", "dyadic"} <= set(available_scenarios())
    multiparty, _ = load_scenario("multiparty")
    assert (multiparty.participants.min, multiparty.participants.max) == (3, 5)
    dyadic, _ = load_scenario("dyadic")
    assert dyadic.participants.max == 2
    models, _ = load_models(None)
    assert models.settings_for("selector").backend == "embedded"
    assert models.settings_for("persona").max_tokens == 64


def test_unknown_scenario_lists_available() -> None:
    with pytest.raises(UserError) as err:
        load_scenario("nosuch")
    message = str(err.value)
    assert "unknown scenario 'nosuch'" in message
    assert "multiparty" in message and "dyadic" in message


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "name: x\nparticipants: {min: 3, max: 5\nturns: 3\n")
    with pytest.raises(ConfigError) as err:
        load_model(path, Scenario)
    assert str(path) in str(err.value)
    assert "line 3" in str(err.value) or "line 2" in str(err.value)


def test_unknown_field_and_wrong_type_are_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        "name: s\nparticipants: {min: 3, max: five}\nturns: {min: 4, max: 4}\nchatty: yes\n",
    )
    with pytest.raises(ConfigError) as err:
        load_model(path, Scenario)
    message = str(err.value)
    assert "field 'participants.max'" in message and "'five'" in message
    assert "field 'chatty': unknown field" in message


def test_invalid_range_and_enum(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        "name: s\nparticipants: {min: 4, max: 3}\nturns: {min: 4, max: 4}\nfew_shot: {mode: sometimes}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_model(path, Scenario)
    message = str(err.value)
    assert "min (4) must not exceed max (3)" in message
    assert "few_shot.mode" in message and "'fixed'" in message and "'sometimes'" in message


def test_models_role_must_name_defined_backend(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        "backends:\n  a: {type: local}\ndefault: {backend: a}\nroles:\n  judge: {backend: gpt}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_model(path, ModelsConfig)
    assert "judge.backend 'gpt' is not a defined backend; defined: a" in str(err.value)


def test_models_unknown_backend_type(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "backends:\n  a: {type: anthropic}\ndefault: {backend: a}\n")
    with pytest.raises(ConfigError) as err:
        load_model(path, ModelsConfig)
    assert "backends.a" in str(err.value) and "'local', 'openai', 'azure_openai'" in str(err.value)


def test_role_settings_override_default_field_by_field() -> None:
    config = ModelsConfig.model_validate(
        {
            "backends": {"a": {"type": "local"}, "b": {"type": "openai", "model": "m"}},
            "default": {"backend": "a", "temperature": 0.5, "max_tokens": 100},
            "roles": {"judge": {"backend": "b", "temperature": 0.0}},
        }
    )
    judge = config.settings_for("judge")
    assert (judge.backend, judge.temperature, judge.max_tokens) == ("b", 0.0, 100)
    assert config.settings_for("persona").backend == "a"


def test_a_grammar_is_refused_on_a_remote_backend(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        "backends:\n  a: {type: local}\n  b: {type: openai, model: m}\ndefault: {backend: a}\n"
        "roles:\n  persona: {backend: b, grammar: 'root ::= [a-z]+'}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_model(path, ModelsConfig)
    assert "persona.grammar is for the embedded (local) backend only; backend 'b' is openai" in str(err.value)


def test_structured_output_modes_of_remote_backends(tmp_path: Path) -> None:
    base = "backends:\n  b: {type: openai, model: m%s}\ndefault: {backend: b}\n"
    default = load_model(write(tmp_path, "d.yaml", base % ""), ModelsConfig).backends["b"]
    assert isinstance(default, OpenAIBackend)
    assert default.structured_output == "json_schema"  # what OpenAI, vLLM, Ollama and LM Studio take
    for mode in ("auto", "json_schema", "json_object", "prompt"):
        config = load_model(write(tmp_path, f"{mode}.yaml", base % f", structured_output: {mode}"), ModelsConfig)
        backend = config.backends["b"]
        assert isinstance(backend, OpenAIBackend) and backend.structured_output == mode
    with pytest.raises(ConfigError) as err:
        load_model(write(tmp_path, "bad.yaml", base % ", structured_output: grammar"), ModelsConfig)
    assert "backends.b.openai.structured_output" in str(err.value) and "'json_object'" in str(err.value)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_unknown_scenario_exits_2_with_one_line() -> None:
    result = run_cli("--scenario", "nosuch")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "available scenarios: dyadic" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_missing_model_file_names_the_field(tmp_path: Path) -> None:
    models = write(
        tmp_path,
        "m.yaml",
        "backends:\n  mine: {type: local, model_path: /nonexistent/model.gguf}\ndefault: {backend: mine}\n",
    )
    result = run_cli("--models", str(models), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "backends.mine.model_path: model file not found: /nonexistent/model.gguf" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_cli_unparsable_grammar_is_refused_before_the_run(tmp_path: Path) -> None:
    shipped = (ROOT / "scenarios" / "models" / "local.yaml").read_text()
    assert "grammar: 'root ::= [^:\\n]+'" in shipped
    models = write(tmp_path, "m.yaml", shipped.replace("grammar: 'root ::= [^:\\n]+'", "grammar: 'root ::= [^:'"))
    result = run_cli("--scenario", "dyadic", "-n", "1", "--models", str(models), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "roles.persona.grammar: llama.cpp cannot parse this GBNF grammar: 'root ::= [^:'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run" / CONVERSATIONS).exists()


def test_cli_unreachable_endpoint_names_the_field(tmp_path: Path) -> None:
    models = write(
        tmp_path,
        "m.yaml",
        "backends:\n  vllm: {type: openai, model: m, base_url: 'http://127.0.0.1:9/v1', api_key_env: HOME}\n"
        "default: {backend: vllm}\n",
    )
    result = run_cli("--models", str(models), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "backends.vllm.base_url: cannot reach http://127.0.0.1:9/v1" in result.stderr


def test_cli_missing_api_key_names_the_variable(tmp_path: Path) -> None:
    models = write(
        tmp_path,
        "m.yaml",
        "backends:\n  r: {type: openai, model: m, api_key_env: SYMPOSIA_TEST_NO_SUCH_KEY}\ndefault: {backend: r}\n",
    )
    result = run_cli("--models", str(models), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "backends.r.api_key_env: environment variable SYMPOSIA_TEST_NO_SUCH_KEY is not set" in result.stderr
