"""Persona YAML files: every schema problem is reported with file, line, field and expectation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.errors import ConfigError
from orchestrator.cli.personas import main
from orchestrator.personas.library import PERSONAS_DIR, check_file, load_library, validate_files
from tests.helpers import FIXTURES

GOOD = """name: Test Person
age: 40
qualities: [kind]
lifestyle: Gardener who paints.
speech_style: Slow.
memory:
  recent: Planted tulips.
  long_term: Grew up by a lake.
attributes: [I have a dog.]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    return [str(p) for p in check_file(path)[1]]


def test_shipped_library_is_valid_and_varied() -> None:
    personas, problems = validate_files([PERSONAS_DIR])
    assert problems == []
    assert len(personas) >= 30
    ages = [p.persona.age for p in personas]
    assert min(ages) < 20 and max(ages) > 75
    assert len({t for p in personas for t in p.persona.tags}) > 40


def test_missing_field(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", GOOD.replace("speech_style: Slow.\n", ""))
    assert problems_of(path) == [f"{path}:1: field 'speech_style': required field is missing"]


def test_missing_nested_field_points_at_parent_line(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", GOOD.replace("  long_term: Grew up by a lake.\n", ""))
    assert problems_of(path) == [f"{path}:7: field 'memory.long_term': required field is missing"]


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", GOOD.replace("age: 40", "age: forty"))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:2: field 'age': Input should be a valid integer")
    assert "(got 'forty')" in problem


def test_out_of_range_and_too_many_items(tmp_path: Path) -> None:
    path = write(
        tmp_path, "p.yaml", GOOD.replace("age: 40", "age: 140").replace("[kind]", "[a, b, c, d, e]")
    )
    problems = problems_of(path)
    assert any(
        ":2: field 'age': 140 is out of range (allowed: 5 to 100)" in p
        for p in problems
    )
    assert any(":3: field 'qualities': List should have at most 4 items" in p for p in problems)


def test_unknown_field(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", GOOD + "hobby: chess\n")
    assert problems_of(path) == [
        f"{path}:10: field 'hobby': unknown field; allowed fields: name, age, qualities, "
        "lifestyle, "
        "speech_style, memory, attributes, tags"
    ]


def test_bad_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", GOOD.replace("qualities: [kind]", "qualities: [kind"))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:") and "field '(file)': YAML syntax error" in problem


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "- just a list\n")
    assert problems_of(path) == [
        f"{path}:1: field '(top level)': expected a mapping of persona fields, got a list"
    ]


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    b = write(tmp_path, "b.yaml", GOOD.replace("Test Person", "test person"))
    personas, problems = validate_files([tmp_path])
    assert len(personas) == 2
    assert [str(p) for p in problems] == [
        f"{b}:1: field 'name': duplicate persona name 'test person' "
        f"(also in {tmp_path / 'a.yaml'}); names must be unique"
    ]


def test_cli_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.yaml", GOOD)
    assert main(["validate", str(good)]) == 0
    assert "1 persona file(s) OK" in capsys.readouterr().out
    bad = write(tmp_path, "bad.yaml", GOOD.replace("age: 40", "age: old") + "hobby: x\n")
    assert main(["validate", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: field 'age'" in err and f"{bad}:10: field 'hobby': unknown field" in err
    assert "2 problem(s); 1 valid persona file(s)" in err


def test_new_file_is_picked_up_and_broken_library_refused(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    shutil.copytree(FIXTURES / "personas_library", library)
    assert len(load_library(library)) == 3
    write(library, "new_person.yaml", GOOD)
    names = {p.persona.name for p in load_library(library)}
    assert "Test Person" in names and len(names) == 4
    assert [p.persona.name for p in load_library(library, tags=["japan"])] == ["Kenji Watanabe"]
    write(library, "broken.yaml", GOOD.replace("Test Person", "Other").replace("age: 40\n", ""))
    with pytest.raises(ConfigError, match=r"broken.yaml:1: field 'age': required field is missing"):
        load_library(library)
