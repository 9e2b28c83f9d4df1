"""The run directory's layout: every file name in it, defined once.

The driver writes it (orchestrator/store/writer.py), `--resume` reads it back, and inspect,
report, export and evaluate read it for people; all of them take the names from here.
"""

from __future__ import annotations

from pathlib import Path

CONVERSATIONS = "conversations.jsonl"  # accepted (or, without critics, all) conversation records
FAILURES = "failures.jsonl"  # conversations (and Generator-Critic candidates) that failed
REJECTED = "rejected.jsonl"  # candidates the critic panel did not accept
ITERATIONS = "iterations.json"  # the Generator-Critic per-iteration report
MANIFEST = "manifest.json"  # what was run, with what, and how it ended
HUB = "hub.json"  # the few-shot hub with its RNG state, for --resume
TRANSCRIPTS = "transcripts"  # one <conversation id>.jsonl of agent events per conversation
EVALUATION = "evaluation"  # `run.py evaluate` writes here by default
EVALUATION_REPORT = "report.md"  # inside EVALUATION
EVALUATION_METRICS = "metrics.json"  # inside EVALUATION
REPORT_HTML = "report.html"  # `run.py report` writes here by default
RETRIED_FAILURES = "failures.retried.jsonl"  # failures of indices `--resume --retry-failed` ran again


def set_aside_name(name: str) -> str:
    """Where `--resume` moves the lines of a record file that hold no valid record (raw bytes, one
    per line, as found): conversations.jsonl -> conversations.jsonl.invalid."""
    return f"{name}.invalid"


def retried_transcript_name(conversation_id: str, attempt: int) -> str:
    """Where the transcript of a failed conversation goes when `--retry-failed` runs it again."""
    return f"{TRANSCRIPTS}/{conversation_id}.failed-{attempt}.jsonl"


def transcript_name(conversation_id: str) -> str:
    """The transcript's path relative to the run directory, as records and notes name it."""
    return f"{TRANSCRIPTS}/{conversation_id}.jsonl"


def transcript_path(root: Path, conversation_id: str) -> Path:
    return root / transcript_name(conversation_id)
