"""Fuzz every loader of user input with random bytes, random YAML and JSON structures and mutated
valid files (fixed seed, a few hundred cases, a few seconds): each one either loads or raises a
UserError on one line, never anything else; and through the command line, bad input is exit 2
with one line on stderr and no traceback."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.errors import UserError
from evaluation.corpus import load_path
from evaluation.judge.geval import load_judge_questions
from orchestrator.config import load_models, load_scenario
from orchestrator.config.prompt_files import load_names, load_prompt, load_seed_shots
from orchestrator.personas.library import validate_files
from orchestrator.personas.sources import load_groups, load_hub_jsonl
from orchestrator.store.layout import CONVERSATIONS, FAILURES, HUB, MANIFEST, REJECTED
from orchestrator.store.reader import load_run
from orchestrator.store.resume import restore, restore_hub, resume_settings
from orchestrator.store.writer import RunStore
from tests.helpers import FIXTURES, ROOT

SEED = 14
CASES = 240
WORDS = ["name", "participants", "turns", "min", "max", "critics", "limits", "backends", "default", "type", "openai",
         "local", "model", "turns", "speaker", "text", "id", "index", "experience", "usage", "scenario", "shots",
         "names", "parts", "groups", "users", "persona", "age", "memory", "review", "verdicts", "status"]
ODD_TEXT = ["", " ", "<!--<script>", "\u2028", "\u0085", "\x00", "\ufeff", "李雷", "نور", "[/x]", "%s", "{{ x }}",
            "&anchor", "*alias", "? ", "- ", "---", "...", "é" * 50, "9" * 30]

VALID_YAML = {
    "scenario": (FIXTURES / "foundation" / "tiny.yaml").read_text(),
    "models": (ROOT / "scenarios" / "models" / "openai.yaml").read_text(),
    "persona": (FIXTURES / "personas_library" / "amara_okafor.yaml").read_text(),
    "prompt": (ROOT / "prompts" / "group_chat.yaml").read_text(),
    "names": (ROOT / "prompts" / "names.yaml").read_text(),
    "shots": (ROOT / "prompts" / "shots" / "experiences.yaml").read_text(),
    "groups": (ROOT / "personas" / "sources" / "reused_groups.yaml").read_text(),
    "judge": (ROOT / "prompts" / "judge_questions.yaml").read_text(),
}
VALID_RECORD_LINES = (FIXTURES / "run_small" / CONVERSATIONS).read_text().splitlines()


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([0, 1, -1, 10**9, 10**30, -(10**20), 2**63])
    if kind == 1:
        return rng.choice([0.5, -1e308, 1e308, float("inf"), float("nan"), -0.0])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind in (3, 4, 5):
        return rng.choice(ODD_TEXT + WORDS) * rng.randint(1, 3)
    if kind in (6, 7):
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(WORDS + ODD_TEXT[:6]): random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def mutate(rng: random.Random, value: Any) -> Any:
    """`value` with one random node replaced by a random value."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        return {**value, key: mutate(rng, value[key])}
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        return [*value[:i], mutate(rng, value[i]), *value[i + 1:]]
    return random_value(rng)


def random_bytes(rng: random.Random, base: bytes) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
    if choice == 1 and base:  # flip, cut or splice bytes of a valid file
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data)
    if choice == 2:
        return "".join(rng.choice([*ODD_TEXT, *WORDS, ": ", "\n", "  ", "[", "]", "{", "}", ",", "&a ", "*a", "!!int "])
                       for _ in range(rng.randint(1, 60))).encode("utf-8", "surrogatepass")
    return base + bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))


def yaml_case(rng: random.Random, kind: str) -> bytes:
    base = VALID_YAML[kind]
    if rng.random() < 0.4:
        return random_bytes(rng, base.encode())
    try:
        value = mutate(rng, yaml.safe_load(base)) if rng.random() < 0.7 else random_value(rng)
        return yaml.safe_dump(value, allow_unicode=True).encode()
    except (yaml.YAMLError, ValueError):  # a structure YAML cannot write: the bytes are fuzz enough
        return random_bytes(rng, base.encode())


def jsonl_case(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randint(0, 4)):
        if rng.random() < 0.5:
            lines.append(json.dumps(mutate(rng, json.loads(rng.choice(VALID_RECORD_LINES))), ensure_ascii=False,
                                    allow_nan=True).encode())
        elif rng.random() < 0.5:
            lines.append(json.dumps(random_value(rng), allow_nan=True).encode())
        else:
            lines.append(random_bytes(rng, rng.choice(VALID_RECORD_LINES).encode()))
    return b"\n".join(lines) + (b"\n" if rng.random() < 0.7 else b"")


def _one_line_user_error(case: str, call: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc), f"{case}: {exc!r}"
    except Exception as exc:
        pytest.fail(f"{case}: {type(exc).__name__}: {exc}")


def yaml_loaders(tmp: Path) -> dict[str, Callable[[Path], object]]:
    return {
        "scenario": lambda p: load_scenario(str(p)),
        "models": lambda p: load_models(p),
        "persona": lambda p: [str(problem) for problem in validate_files([p])[1]],
        "prompt": lambda p: load_prompt(p.stem, directory=p.parent),
        "names": lambda p: load_names(p.name, directory=p.parent),
        "shots": lambda p: load_seed_shots(p.name, directory=p.parent),
        "groups": lambda p: load_groups(p),
        "judge": lambda p: load_judge_questions(p),
    }


def test_every_yaml_loader_loads_or_refuses_in_one_line(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    loaders = yaml_loaders(tmp_path)
    for case in range(CASES):
        kind = rng.choice(list(loaders))
        path = tmp_path / f"case{case}.yaml"
        path.write_bytes(yaml_case(rng, kind))
        _one_line_user_error(f"{kind} case {case}", loaders[kind], path)
        if kind == "persona":  # validate reports problems, one line each, and never raises
            problems = validate_files([path])[1]
            assert all("\n" not in str(problem) for problem in problems)


def test_every_run_reader_loads_or_refuses_in_one_line(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    manifest = json.loads((FIXTURES / "run_small" / MANIFEST).read_text())
    for case in range(CASES // 3):
        run_dir = tmp_path / f"run{case}"
        shutil.copytree(FIXTURES / "run_small", run_dir)
        for name in (CONVERSATIONS, FAILURES, REJECTED):
            if rng.random() < 0.6:
                (run_dir / name).write_bytes(jsonl_case(rng))
        if rng.random() < 0.4:
            broken = mutate(rng, manifest) if rng.random() < 0.6 else random_value(rng)
            (run_dir / MANIFEST).write_text(json.dumps(broken, allow_nan=True))
        if rng.random() < 0.3:
            (run_dir / HUB).write_bytes(random_bytes(rng, b'{"shots": []}'))
        hub_jsonl = run_dir / "hub.jsonl"
        hub_jsonl.write_bytes(jsonl_case(rng))
        label = f"run case {case}"
        _one_line_user_error(f"load_run {label}", load_run, run_dir)
        _one_line_user_error(f"load_run file {label}", load_run, run_dir / CONVERSATIONS)
        _one_line_user_error(f"evaluate {label}", load_path, run_dir)
        _one_line_user_error(f"persona hub {label}", load_hub_jsonl, hub_jsonl)
        _one_line_user_error(f"resume settings {label}", resume_settings, run_dir)
        _one_line_user_error(f"resume hub {label}", lambda d: restore_hub(RunStore.open(d)), run_dir)
        _one_line_user_error(f"resume records {label}", lambda d, gc: restore(RunStore.open(d), generator_critic=gc),
                             run_dir, rng.random() < 0.5)


CLI_CASES = [
    ("scenario", ["--scenario", "{file}", "--models", "{models}", "--out", "{tmp}/out"]),
    ("persona", ["personas", "validate", "{dir}"]),
    ("records", ["inspect", "{run}"]),
    ("records", ["report", "{run}", "--out", "{tmp}/r.html"]),
    ("records", ["export", "{run}", "--format", "jsonl", "--out", "{tmp}/x.jsonl"]),
    ("records", ["evaluate", "{run}", "--no-judge", "--out", "{tmp}/eval"]),
    ("manifest", ["--resume", "{run}"]),
]


@pytest.mark.parametrize(("kind", "args"), CLI_CASES, ids=[f"{k}-{a[0]}" for k, a in CLI_CASES])
def test_the_command_line_turns_bad_input_into_exit_2_without_a_traceback(tmp_path: Path, kind: str,
                                                                          args: list[str]) -> None:
    rng = random.Random(f"{SEED}-{kind}-{args[0]}")
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURES / "run_small", run_dir)
    bad = tmp_path / "bad.yaml"
    if kind == "scenario":
        bad.write_bytes(VALID_YAML["scenario"].encode() + b"\nextra: &a [*a]\n" + bytes([0xff, 0xfe]))
    elif kind == "persona":
        (tmp_path / "p1.yaml").write_bytes(b"name: caf\xe9\n")
        (tmp_path / "p2.yaml").write_text(yaml_case(rng, "persona").decode("utf-8", "replace") + "\nage: 1e999\n")
        (tmp_path / "p3.yaml").write_text("a: &a [x, x]\nb: [" + ", ".join(["*a"] * 2000) + "]\n")
    elif kind == "records":  # a garbage line before the last: no viewer may drop it silently or crash
        lines = (run_dir / CONVERSATIONS).read_bytes()
        (run_dir / CONVERSATIONS).write_bytes(b'{"turns": 5, "id": []}\n\xff\xfe\n' + lines)
    else:
        (run_dir / MANIFEST).write_bytes((run_dir / MANIFEST).read_bytes()[:100])
    values = {"file": str(bad), "models": str(ROOT / "scenarios" / "models" / "openai.yaml"), "tmp": str(tmp_path),
              "dir": str(tmp_path), "run": str(run_dir)}
    command = [a.format(**values) for a in args]
    env = {k: v for k, v in os.environ.items() if k != "SYMPOSIA_TRACEBACK"}
    done = subprocess.run([sys.executable, "run.py", *command], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr + done.stdout
    if kind == "records" and args[0] in ("inspect", "report"):
        assert done.returncode == 0 and "line 1: field 'id'" in done.stdout  # shown with a note
        return
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") if kind != "persona" else "problem(s)" in done.stderr
    if kind != "persona":
        assert done.stderr.count("\n") == 1, done.stderr
