"""The command line: subcommands are discoverable, generation stays the default with the same
flags, user mistakes and interrupts keep their exit codes, and the `symposia` entry point works."""

from __future__ import annotations

import argparse
import importlib
import sys
import tomllib
from pathlib import Path

import pytest

from orchestrator.cli import generation
from orchestrator.cli.main import build_parser, main
from tests.helpers import ROOT, python_in_checkout

SUBCOMMANDS = ("generate", "evaluate", "personas", "inspect", "report", "export")


def test_help_lists_every_subcommand_with_one_line_and_the_generation_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in SUBCOMMANDS:
        [line] = [line for line in lines if line.split()[:1] == [name]]
        assert len(line.split()) > 2, line  # the name and its one-line help
    for flag in ("--scenario", "--num-conversations", "--resume", "--list-scenarios", "--executor"):
        assert flag in out


@pytest.mark.parametrize("argv", [[name, "--help"] for name in SUBCOMMANDS] + [["personas", "expand", "--help"]])
def test_each_subcommand_has_its_own_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: run.py {' '.join(argv[:-1])} ")


def _generation_flags(args: argparse.Namespace) -> dict[str, object]:
    return {k: v for k, v in vars(args).items() if k not in ("subcommand", "handler")}


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--scenario", "multiparty"],
        ["-n", "2", "--out", "X"],
        ["--resume", "runs/old", "--concurrency", "4"],
        ["--list-scenarios"],
        ["--scenario", "dyadic", "--iterations", "2", "--max-tokens", "900", "--executor", "ray", "--workers", "3"],
    ],
)
def test_generation_is_the_default_and_generate_parses_the_same(argv: list[str]) -> None:
    default = build_parser().parse_args(argv)
    explicit = build_parser().parse_args(["generate", *argv])
    assert default.subcommand is None and not hasattr(default, "handler")
    assert explicit.subcommand == "generate" and explicit.handler is generation.handle
    assert _generation_flags(default) == _generation_flags(explicit)


def test_generation_flags_parse_as_before() -> None:
    args = build_parser().parse_args(["-n", "2", "--out", "X", "--seed", "5", "--few-shot", "fixed"])
    assert (args.num_conversations, args.out, args.seed, args.few_shot) == (2, Path("X"), 5, "fixed")
    assert (args.scenario, args.concurrency, args.models, args.resume) == ("multiparty", None, None, None)
    assert build_parser().parse_args(["--resume", "D"]).resume == Path("D")


def test_a_subcommand_owns_the_flags_after_it() -> None:
    args = build_parser().parse_args(["evaluate", "R", "--seed", "3", "--out", "E", "--no-judge"])
    assert (args.subcommand, args.inputs, args.seed, args.out, args.no_judge) == ("evaluate", [Path("R")], 3,
                                                                                   Path("E"), True)


@pytest.mark.parametrize("argv", [["-n", "2"], ["generate", "-n", "2"]])
def test_main_runs_generation_with_or_without_the_subcommand(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []

    def handle(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(generation, "handle", handle)
    assert main(argv) == 0
    assert [a.num_conversations for a in seen] == [2]


def test_user_mistakes_exit_2_with_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scenario", "nosuch"]) == 2
    assert main(["generate", "--max-failures", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_interrupts_exit_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(generation, "generate", interrupted)
    assert main(["-n", "1"]) == 130
    assert "records written so far are complete and kept" in capsys.readouterr().err
    from evaluation.browse import inspect

    monkeypatch.setattr(inspect, "handle", interrupted)
    assert main(["inspect", "RUN"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_the_symposia_console_script_runs_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["symposia"]
    module, _, name = target.partition(":")
    entry = getattr(importlib.import_module(module), name)
    monkeypatch.setattr(sys, "argv", ["/venv/bin/symposia", "--list-scenarios"])
    assert entry() == 0
    assert "multiparty " in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["/venv/bin/symposia", "--help"])
    with pytest.raises(SystemExit):
        entry()
    assert capsys.readouterr().out.startswith("usage: symposia ")


def test_building_the_command_line_is_what_imports_evaluation(tmp_path: Path) -> None:
    code = (
        "import sys, orchestrator.cli.main as cli\n"
        "assert 'evaluation' not in sys.modules, 'orchestrator imported the layer above it'\n"
        "cli.build_parser()\n"
        "assert 'evaluation.cli' in sys.modules and 'autogen_core' not in sys.modules\n"
    )
    done = python_in_checkout(code, tmp_path)
    assert done.returncode == 0, done.stderr
