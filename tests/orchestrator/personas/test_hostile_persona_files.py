"""`personas validate` on a folder of broken files reports every problem of every file on
stderr, then exits 2, with no traceback; the persona sources refuse bytes that are not UTF-8."""

from __future__ import annotations

from pathlib import Path

import pytest

import run
from agents.errors import ConfigError
from orchestrator.personas.sources import load_hub_jsonl
from tests.helpers import FIXTURES

GOOD = (FIXTURES / "personas_library" / "amara_okafor.yaml").read_text()
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def test_validate_reports_every_problem_of_every_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "latin1.yaml").write_bytes(GOOD.replace("Amara", "Amàra").encode("latin-1"))
    (tmp_path / "bomb.yaml").write_text(BOMB)
    (tmp_path / "syntax.yaml").write_text("name: [unclosed\n")
    (tmp_path / "ranges.yaml").write_text(GOOD.replace("age: ", "age: 9999 #"))
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "deep.yaml").write_text("name: " + "[" * 2000 + "]" * 2000 + "\n")
    assert run.main(["personas", "validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for name in ("latin1", "bomb", "syntax", "ranges", "list", "deep"):
        assert f"{tmp_path / name}.yaml" in err, name
    assert "not UTF-8 text: byte 0xe0 at byte offset" in err
    assert "aliases expand to more than" in err
    assert "field 'age': 9999 is out of range (allowed: 5 to 100)" in err
    assert "6 problem(s); 1 valid persona file(s)" in err


def test_persona_hub_jsonl_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.jsonl"
    path.write_bytes(b'{"persona": "A retired sailor who likes knots."}\n{"persona": "caf\xe9 owner of the corner"}\n')
    with pytest.raises(ConfigError, match=r"hub.jsonl: line 2 is not UTF-8 text \(bad byte at byte offset 65\)"):
        load_hub_jsonl(path)
