"""What the evaluation reads: a run directory, a JSONL of conversations, or the human baseline.

Everything becomes a `Dataset` of `Conversation`s (speaker/text turns plus, for generated
runs, the experience that grounded them). Records are validated with ConversationRecord; a
truncated last line (a run killed mid-write) is skipped with a note, any other bad line is a
user error naming the file and line.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from agents.errors import UserError
from agents.schemas import Turn
from evaluation.text import strip_speaker_labels
from orchestrator.config.yaml_files import validation_problems
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, EVALUATION, MANIFEST

if TYPE_CHECKING:
    from orchestrator.store.records import ConversationRecord

PersonaSource = Literal["generated", "sampled"]
BASELINE_NAMES = ("chitchat",)


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[Turn, ...]
    experience: dict[str, Any] | None = None
    persona_source: PersonaSource | None = None
    speaker_labels: frozenset[str] = frozenset()  # names a model may echo as "Name:" prefixes

    @property
    def texts(self) -> list[str]:
        """Turn texts as measured: no speaker labels, not even ones the model echoed."""
        return [strip_speaker_labels(t.text, self.speaker_labels) for t in self.turns]


@dataclass
class Dataset:
    name: str
    source: str
    conversations: list[Conversation]
    kind: Literal["run", "jsonl", "baseline"] = "run"
    notes: list[str] = field(default_factory=list)
    out_dir: Path | None = None  # where this dataset's evaluation is written by default
    manifest: dict[str, Any] = field(default_factory=dict)


def persona_source_from_manifest(manifest: dict[str, Any]) -> PersonaSource:
    """Experience records are treated as generated unless the manifest says otherwise."""
    scenario = manifest.get("scenario")
    personas = scenario.get("personas") if isinstance(scenario, dict) else None
    source = personas.get("source", "generated") if isinstance(personas, dict) else "generated"
    return "sampled" if source == "sampled" else "generated"


def _from_record(record: ConversationRecord, persona_source: PersonaSource) -> Conversation:
    names = record.speaker_ids
    turns = tuple(Turn(speaker=names.get(t.speaker, t.speaker), text=t.text) for t in record.turns)
    labels = frozenset(names) | frozenset(names.values()) | frozenset(record.participants)
    return Conversation(
        id=record.id,
        turns=turns,
        experience=record.experience.model_dump(),
        persona_source=persona_source,
        speaker_labels=labels,
    )


def read_conversations_jsonl(
    path: Path, persona_source: PersonaSource = "generated"
) -> tuple[list[Conversation], list[str]]:
    """The conversations of a JSONL of conversation records, and notes. A torn last line (see
    orchestrator/store/jsonl.py) is skipped with a note; any other bad line is a UserError."""
    try:
        content = read_jsonl(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if content.damaged:
        bad = content.damaged[0]
        detail = f": {bad.detail}" if bad.detail else ""
        raise UserError(f"{path}: line {bad.number} {bad.problem}{detail}")
    # The record schema imports AutoGen (critic verdicts): loaded when a file is read, so the
    # command line, which needs BASELINE_NAMES, starts without it.
    from orchestrator.store.records import ConversationRecord

    conversations: list[Conversation] = []
    for lineno, data in zip(content.record_lines, content.records, strict=True):
        try:
            record = ConversationRecord.model_validate(data)
        except ValidationError as exc:
            first = validation_problems(f"{path}: line {lineno}", exc, ConversationRecord)[0]
            raise UserError(
                f"{first} (expected a conversation record as in orchestrator/store/records.py)"
            ) from None
        conversations.append(_from_record(record, persona_source))
    return conversations, content.notes


def load_path(path: Path) -> Dataset:
    """A run directory (with conversations.jsonl) or a JSONL file of conversation records."""
    if path.is_dir():
        jsonl = path / CONVERSATIONS
        if not jsonl.exists():
            raise UserError(
                f"{path}: not a run directory (no {CONVERSATIONS}); pass a run "
                "directory or a .jsonl file"
            )
        manifest: dict[str, Any] = {}
        if (path / MANIFEST).exists():
            try:
                manifest = json.loads((path / MANIFEST).read_bytes().decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise UserError(f"{path / MANIFEST}: not UTF-8 text (bad byte at byte offset {exc.start})") from None
            except json.JSONDecodeError as exc:
                raise UserError(f"{path / MANIFEST}: not valid JSON: {exc.msg}") from None
            except (OSError, RecursionError) as exc:
                raise UserError(f"{path / MANIFEST}: cannot be read ({type(exc).__name__})") from None
            if not isinstance(manifest, dict):
                raise UserError(f"{path / MANIFEST}: not a run manifest (a JSON object is expected)")
        conversations, notes = read_conversations_jsonl(
            jsonl, persona_source_from_manifest(manifest)
        )
        return Dataset(
            name=path.name or str(path),
            source=str(path),
            conversations=conversations,
            kind="run",
            notes=notes,
            out_dir=path / EVALUATION,
            manifest=manifest,
        )
    if path.is_file():
        conversations, notes = read_conversations_jsonl(path)
        return Dataset(
            name=path.stem,
            source=str(path),
            conversations=conversations,
            kind="jsonl",
            notes=notes,
            out_dir=path.parent / f"{path.stem}-evaluation",
        )
    raise UserError(f"{path}: no such run directory or JSONL file")


# Many chitchat sessions were abandoned (3,151 of 7,168 have a single sender): only real
# exchanges count as conversations.
BASELINE_MIN_SPEAKERS = 2
BASELINE_MIN_TURNS = 4


def load_chitchat(limit: int | None = None, seed: int = 0) -> Dataset:
    """BYU Chit-Chat (chitchat-dataset, 7,168 human-human conversations, loads offline).

    Consecutive messages of one sender form one turn (the dataset groups them already).
    Conversations with fewer than 2 speakers or 4 turns are dropped (counted in the notes).
    """
    try:
        import chitchat_dataset as ccc
    except ImportError:
        raise UserError(
            "--baseline chitchat: the chitchat-dataset package is not installed "
            "(pip install chitchat-dataset==0.9.0)"
        ) from None
    data = ccc.Dataset()
    conversations: list[Conversation] = []
    for conv_id, conv in data.items():
        turns = []
        for group in conv.get("messages", []):
            texts = [m.get("text", "") for m in group if m.get("text", "").strip()]
            if texts:
                turns.append(Turn(speaker=str(group[0].get("sender", "?")), text=" ".join(texts)))
        if (
            len(turns) >= BASELINE_MIN_TURNS
            and len({t.speaker for t in turns}) >= BASELINE_MIN_SPEAKERS
        ):
            conversations.append(Conversation(id=str(conv_id), turns=tuple(turns)))
    total = len(conversations)
    notes = [
        f"chitchat-dataset: {len(data)} sessions, {total} kept (at least "
        f"{BASELINE_MIN_SPEAKERS} speakers "
        f"and {BASELINE_MIN_TURNS} turns)"
    ]
    if limit is not None and limit < total:
        conversations = random.Random(seed).sample(conversations, limit)
        notes.append(f"evaluated a seeded random sample of {limit} (seed {seed})")
    return Dataset(
        name="chitchat (human)",
        source="chitchat-dataset (BYU Chit-Chat)",
        conversations=conversations,
        kind="baseline",
        notes=notes,
    )


def load_baseline(name: str, limit: int | None = None, seed: int = 0) -> Dataset:
    if name == "chitchat":
        return load_chitchat(limit, seed)
    raise UserError(
        f"--baseline: unknown baseline '{name}'; available: {', '.join(BASELINE_NAMES)}"
    )
