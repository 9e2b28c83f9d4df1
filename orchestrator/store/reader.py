"""Read a run directory for inspection, reports and export, tolerating partial runs.

Records are read as plain JSON dicts, not through the strict pydantic models: an interrupted
run (a torn last line, see orchestrator/store/jsonl.py), an older record version, or fields
added later (critic `review`, `rejected.jsonl`, `evaluation/`) must still be shown. Everything
missing or unreadable becomes a one-line note in `RunData.notes` instead of a traceback. The
facts shown come out as the project's own types: turns as `Turn`, critic verdicts of any
recorded shape as the panel's `Verdict`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from agents.critic_rules import RULE_CHECKS
from agents.errors import UserError, first_line
from agents.schemas import Turn
from agents.verdicts import CRITIC_ROLES, VERDICT_METHODS, VERDICT_STATUSES, Verdict
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import (
    CONVERSATIONS,
    EVALUATION,
    FAILURES,
    MANIFEST,
    REJECTED,
    TRANSCRIPTS,
    transcript_name,
    transcript_path,
)
from orchestrator.store.record_shapes import ConversationShape, FailureShape, shape_problem


@dataclass
class RunData:
    root: Path
    manifest: dict[str, Any] | None
    conversations: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    # conversation (or rejected) lines that hold no readable record: unparsable lines before the
    # last one and records of the wrong shape; viewers note them, export refuses to drop them
    unreadable: list[str] = field(default_factory=list)

    def find(self, conversation_id: str) -> dict[str, Any] | None:
        return next((c for c in self.conversations if c.get("id") == conversation_id), None)

    @property
    def evaluation_dir(self) -> Path:
        return self.root / EVALUATION


def _read_objects(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every JSON object line; a note for each line skipped (e.g. a torn last line)."""
    try:
        content = read_jsonl(path)
    except OSError as exc:
        return [], [f"{path.name}: cannot read ({exc.strerror})"]
    return content.records, content.notes


def _read_records(path: Path, shape: type[BaseModel], notes: list[str], unreadable: list[str] | None = None
                  ) -> list[dict[str, Any]]:
    """The records of a JSONL file that fit `shape` (orchestrator/store/record_shapes.py); a note
    for every line skipped, and in `unreadable` every line that held no readable record."""
    try:
        content = read_jsonl(path)
    except OSError as exc:
        notes.append(f"{path.name}: cannot read ({exc.strerror})")
        return []
    notes.extend(content.notes)
    lost = [f"{path.name}: line {s.number} {s.problem}" for s in content.damaged]
    kept = []
    for line, record in zip(content.record_lines, content.records, strict=True):
        problem = shape_problem(record, shape, f"{path.name}: line {line}")
        if problem is None:
            kept.append(record)
        else:
            notes.append(f"{problem}; the record is not shown")
            lost.append(problem)
    if unreadable is not None:
        unreadable.extend(lost)
    return kept


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        notes.append(f"{path.name} is missing (the run did not finish or was copied partially)")
        return None
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deeply
        notes.append(f"{path.name} is unreadable: {type(exc).__name__}: {first_line(exc)}")
        return None
    if not isinstance(value, dict):
        notes.append(f"{path.name} is not a JSON object")
        return None
    return value


def load_run(root: Path | str) -> RunData:
    """Load everything a viewer needs; raise UserError only when there is nothing to show."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"RUN_DIR: {root} does not exist")
    if root.is_file():
        if root.suffix != ".jsonl":
            raise UserError(
                f"RUN_DIR: {root} is a file; give a run directory or a .jsonl of conversations"
            )
        file_notes: list[str] = []
        unreadable: list[str] = []
        records = _read_records(root, ConversationShape, file_notes, unreadable)
        for record in records:
            record.setdefault("_source", "conversations")
        return RunData(root.parent, None, records, [], file_notes, unreadable)
    notes: list[str] = []
    unreadable = []
    manifest = _read_json(root / MANIFEST, notes)
    if manifest is not None and manifest.get("status") not in (None, "complete"):
        notes.append(f"manifest.json: status is '{manifest.get('status')}', not 'complete'")
    counts = manifest.get("counts") if manifest is not None else None
    missing = whole_number(counts.get("missing")) if isinstance(counts, dict) else 0
    if missing:
        notes.append(f"manifest.json: the run ended short of its target: {missing} conversation(s) missing")
    conversations: list[dict[str, Any]] = []
    for name, source in ((CONVERSATIONS, "conversations"), (REJECTED, "rejected")):
        path = root / name
        if not path.exists():
            if name == CONVERSATIONS:
                notes.append(f"{CONVERSATIONS} is missing: no conversation was written")
            continue
        records = _read_records(path, ConversationShape, notes, unreadable)
        for record in records:
            record["_source"] = source
        conversations.extend(records)
    failures: list[dict[str, Any]] = []
    if (root / FAILURES).exists():
        failures = _read_records(root / FAILURES, FailureShape, notes)
    if not (root / TRANSCRIPTS).is_dir():
        notes.append(f"{TRANSCRIPTS}/ is missing: agent transcripts cannot be shown")
    if manifest is None and not conversations and not failures:
        raise UserError(
            f"RUN_DIR: {root} is not a run directory (no {MANIFEST}, {CONVERSATIONS} or {FAILURES})"
        )
    return RunData(root, manifest, conversations, failures, notes, unreadable)


def read_transcript(run: RunData, conversation_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    path = transcript_path(run.root, conversation_id)
    if not path.exists():
        return [], [f"{transcript_name(conversation_id)} is missing"]
    return _read_objects(path)


# --- per-conversation facts, read defensively ---------------------------------------------


def turns(record: dict[str, Any]) -> list[Turn]:
    raw = record.get("turns")
    if not isinstance(raw, list):
        return []
    return [Turn(speaker=str(t.get("speaker", "?")), text=str(t.get("text", ""))) for t in raw if isinstance(t, dict)]


def experience(record: dict[str, Any]) -> dict[str, Any]:
    value = record.get("experience")
    return value if isinstance(value, dict) else {}


def relations(record: dict[str, Any]) -> list[dict[str, Any]]:
    found = experience(record).get("relations")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def personas(record: dict[str, Any]) -> list[dict[str, Any]]:
    people = experience(record).get("participants")
    return [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []


def display_names(record: dict[str, Any]) -> dict[str, str]:
    """Agent name -> display name; falls back to the speakers seen in the turns."""
    mapping = record.get("speaker_ids")
    names = {str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {}
    listed = record.get("participants")
    for name in listed if isinstance(listed, list) else []:
        names.setdefault(str(name), str(name))
    for turn in turns(record):
        names.setdefault(turn.speaker, turn.speaker)
    return names


def speakers(record: dict[str, Any]) -> list[str]:
    """Participants in order; those who actually spoke when the record lists none."""
    listed = record.get("participants")
    if isinstance(listed, list) and listed:
        return [str(p) for p in listed]
    return list(dict.fromkeys(t.speaker for t in turns(record)))


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"pass", "passed", "accept", "accepted", "ok", "yes", "true"}:
            return True
        if lowered in {"fail", "failed", "reject", "rejected", "no", "false"}:
            return False
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


T = TypeVar("T")


def _one_of(value: Any, allowed: tuple[T, ...]) -> T | None:
    return next((a for a in allowed if a == value), None)


# Keys older or hand-made verdicts used for pass/fail, in the order they are trusted.
_PASS_KEYS = ("passed", "pass", "accepted", "ok", "verdict", "decision")


def normalise_verdict(raw: Any, expert: str = "") -> Verdict | None:
    """The verdict as the panel records it (agents/verdicts.py). Records and transcript events
    of this version carry that shape; an older or hand-made one (`passed`/`kind`, a `verdict`
    word, a fractional score) is mapped onto it: the status from the first pass/fail word, else
    "abstain"; the role from `kind`/`type`, else quality when scored; the method from the
    expert's name (rule experts are known by name); the score rounded."""
    if not isinstance(raw, dict):
        return None
    name = str(raw.get("expert") or raw.get("name") or raw.get("critic") or expert or "?")
    status = _one_of(raw.get("status"), VERDICT_STATUSES)
    if status is None:
        passed = next((p for p in (_as_bool(raw.get(key)) for key in _PASS_KEYS) if p is not None), None)
        status = "abstain" if passed is None else "pass" if passed else "fail"
    score = as_number(raw.get("score"))
    role = _one_of(raw.get("role") or raw.get("kind") or raw.get("type"), CRITIC_ROLES)
    if role is None:
        role = "gate" if score is None else "quality"
    method = _one_of(raw.get("method"), VERDICT_METHODS)
    if method is None:
        method = "rule" if name in RULE_CHECKS else "llm"
    attempts, errors = raw.get("attempts"), raw.get("errors")
    return Verdict(
        expert=name, role=role, method=method, status=status,
        score=round(score) if score is not None and math.isfinite(score) else None,
        rationale=str(raw.get("rationale") or raw.get("reason") or raw.get("explanation") or ""),
        attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0,
        errors=[str(e) for e in errors] if isinstance(errors, list) else [],
    )


def verdicts(record: dict[str, Any]) -> list[Verdict]:
    """Critic verdicts on the record (`review.verdicts` as a list or an expert->verdict dict)."""
    review = record.get("review")
    if not isinstance(review, dict):
        return []
    raw = review.get("verdicts", review.get("votes", review.get("experts")))
    found: list[Verdict | None] = []
    if isinstance(raw, list):
        found = [normalise_verdict(v) for v in raw]
    elif isinstance(raw, dict):
        found = [normalise_verdict(v, str(k)) for k, v in raw.items()]
    return [v for v in found if v is not None]


def transcript_verdicts(events: list[dict[str, Any]]) -> list[Verdict]:
    found = [
        normalise_verdict(e.get("verdict", e), str(e.get("expert", "")))
        for e in events
        if "verdict" in str(e.get("event", "")) or "critic" in str(e.get("event", ""))
    ]
    return [v for v in found if v is not None]


def status(record: dict[str, Any]) -> str:
    """'accepted', 'rejected' or 'unreviewed' (a run without critics)."""
    review = record.get("review")
    if isinstance(review, dict):
        for key in ("accepted", "passed", "status", "decision"):
            decided = _as_bool(review.get(key))
            if decided is not None:
                return "accepted" if decided else "rejected"
    if record.get("_source") == "rejected" or _as_bool(record.get("accepted")) is False:
        return "rejected"
    return "unreviewed"


def is_accepted(record: dict[str, Any]) -> bool:
    """Written to conversations.jsonl without a critic verdict counts as accepted."""
    return status(record) != "rejected"


def score(record: dict[str, Any]) -> float | None:
    """The record's quality score: an explicit review score, else the mean of verdict scores."""
    review = record.get("review")
    if isinstance(review, dict):
        for key in ("score", "quality_score", "mean_quality", "quality"):
            number = as_number(review.get(key))
            if number is not None:
                return number
    numbers = [v.score for v in verdicts(record) if v.score is not None]
    return round(sum(numbers) / len(numbers), 3) if numbers else None


def total_tokens(record: dict[str, Any]) -> int:
    usage = record.get("usage")
    if not isinstance(usage, dict):
        return 0
    return sum(
        whole_number(u.get("prompt_tokens")) + whole_number(u.get("completion_tokens"))
        for u in usage.values()
        if isinstance(u, dict)
    )


def whole_number(value: Any) -> int:
    """An integer count from a record or event, 0 when it is anything else."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 20:
        return int(value)
    return 0


def matches(record: dict[str, Any], needle: str) -> bool:
    """Case-insensitive search over id, scenario, experience and turns."""
    needle = needle.casefold()
    haystack = [str(record.get("id", "")), str(record.get("scenario", ""))]
    exp = experience(record)
    haystack += [str(exp.get("topic", "")), str(exp.get("situation", ""))]
    haystack += [p.get("name", "") for p in personas(record)]
    haystack += [f"{t.speaker} {t.text}" for t in turns(record)]
    return any(needle in str(h).casefold() for h in haystack)
