"""Hostile configuration input is refused quickly, on one line naming file, field (or line) and value:
alias bombs, numbers far out of range, bytes that are not UTF-8, huge files, deep nesting."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agents.errors import ConfigError
from orchestrator.config import load_models, load_scenario
from orchestrator.config.limits import MAX_TURNS
from orchestrator.config.yaml_files import MAX_CONFIG_BYTES, read_yaml
from tests.helpers import FIXTURES

TINY = (FIXTURES / "foundation" / "tiny.yaml").read_text()


def _bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _refused(path: Path) -> str:
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_scenario(str(path))
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(TINY + _bomb())  # 9**9 strings once expanded
    message = _refused(path)
    assert "aliases expand to more than" in message and "line" in message


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(TINY + "extra: &a [1, *a]\n")
    assert "recursive alias" in _refused(path)


def test_modest_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(TINY.replace("turns: {min: 4, max: 5}", "turns: &t {min: 4, max: 5}")
                    + "critics: {enabled: false, limits: {min_turns: 4}}\n")
    scenario, _ = load_scenario(str(path))
    assert scenario.turns.max == 5


@pytest.mark.parametrize(("old", "new", "field", "value", "allowed"), [
    ("turns: {min: 4, max: 5}", "turns: {min: 4, max: 1000000000}", "turns.max", "1000000000", f"1 to {MAX_TURNS}"),
    ("num_conversations: 3", "num_conversations: 1000000000000", "num_conversations", "1000000000000",
     "1 to 1000000"),
    ("participants: {min: 3, max: 3}", "participants: {min: 1, max: 3}", "participants.min", "1", "2 to 8"),
    ("max_reply_words: 20", "max_reply_words: " + "9" * 400, "max_reply_words", "999", "5 to 400"),
])
def test_numbers_out_of_range_name_field_value_and_range(tmp_path: Path, old: str, new: str, field: str,
                                                         value: str, allowed: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(TINY.replace(old, new))
    message = _refused(path)
    assert f"field '{field}': {value}" in message and f"(allowed: {allowed})" in message
    assert len(message) < 400  # a huge value is shown cut short


def test_every_critic_and_model_number_has_an_upper_bound(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(TINY + "critics: {max_candidates: 99999999999, limits: {max_turns: 100000}}\n")
    message = _refused(path)
    assert "critics.max_candidates" in message and "critics.limits.max_turns" in message
    models = tmp_path / "m.yaml"
    models.write_text("backends: {b: {type: openai, model: m, timeout_seconds: 1.0e+9, retry: {max_delay: 1.0e+9}}}\n"
                      "default: {backend: b}\n")
    with pytest.raises(ConfigError) as err:
        load_models(models)
    assert "timeout_seconds" in str(err.value) and "retry.max_delay" in str(err.value)
    assert "timeout_seconds': 1000000000.0 is out of range (allowed: more than 0 to 3600)" in str(err.value)


def test_bytes_that_are_not_utf8_name_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(TINY.replace("test scenario", "café").encode("latin-1"))
    message = _refused(path)
    offset = TINY.replace("test scenario", "café").encode("latin-1").index(b"\xe9")
    assert f"not UTF-8 text: byte 0xe9 at byte offset {offset}" in message


def test_a_huge_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(TINY + "#" * (MAX_CONFIG_BYTES + 10))
    assert "larger than" in _refused(path)


@pytest.mark.parametrize("text", [
    "a: " + "[" * 3000 + "]" * 3000,  # deeper than any parser recursion
    "a: " + "[" * 60 + "]" * 60,  # deeper than any schema
    "name: x\nnum_conversations: " + "9" * 5000,  # more digits than Python converts
    "name: 2024-13-45",  # a timestamp that is no date
    "name: x\x00",  # a character YAML does not allow
    "- just\n- a list",
    "name: [unclosed",
])
def test_malformed_documents_are_one_line_config_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    _refused(path)


def test_read_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"x.yaml: not UTF-8 text: byte 0xff at byte offset 0"):
        read_yaml(path)
