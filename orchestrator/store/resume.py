"""Resuming an interrupted run (`run.py --resume RUN_DIR`): everything comes from the run
directory, so the continuation uses the same scenario, models, seed and per-index seeds.

Complete records are kept (a torn last line is cut off), the few-shot hub and its RNG state
come from hub.json, and the indices that never completed are produced again; ids are never
duplicated because an index completes at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agents.errors import UserError, first_line
from agents.schemas import Experience
from orchestrator.config import ModelsConfig, Scenario
from orchestrator.config.limits import MAX_CONCURRENCY, MAX_CONVERSATIONS, MAX_SEED, MAX_WORKERS, check_number
from orchestrator.config.yaml_files import describe_validation_error
from orchestrator.job import JobResult, conversation_id
from orchestrator.stages.fewshot_hub import FewShotHub, Shot, shot_from_dict
from orchestrator.store.layout import (
    CONVERSATIONS,
    FAILURES,
    HUB,
    ITERATIONS,
    MANIFEST,
    REJECTED,
    RETRIED_FAILURES,
)
from orchestrator.store.records import ConversationRecord, FailureRecord, RejectedRecord
from orchestrator.store.usage import RoleUsage, add_usage
from orchestrator.store.writer import RunStore


@dataclass
class RestoredRun:
    """What an interrupted run had completed, read from its run directory in one place."""

    written: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # conversation indices whose job failed
    usage: dict[str, RoleUsage] = field(default_factory=dict)
    failure_reasons: list[str] = field(default_factory=list)
    experiences: list[tuple[str, Experience]] = field(default_factory=list)  # (id, experience) written
    # Generator-Critic runs: the completed iterations, and per decided conversation index its job
    # result rebuilt from its records (counted again when its iteration is planned again)
    report: list[dict[str, Any]] = field(default_factory=list)
    decided: dict[int, JobResult] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return sum(u.total_tokens for u in self.usage.values())


def _experience_failure(record: FailureRecord) -> bool:
    """A Generator-Critic run also records failed candidates (id `c000001-k0`); those do not
    decide their experience."""
    return record.id == conversation_id(record.index)


def restore(store: RunStore, *, generator_critic: bool = False, retry_failed: bool = False) -> RestoredRun:
    """Every valid record is kept; lines holding none are moved aside (RunStore.complete_records).
    With `retry_failed` (plain runs), the failed indices run again: their failure records move
    to failures.retried.jsonl and their transcripts to <id>.failed-N.jsonl. In a Generator-Critic run an
    experience is decided once its accepted record, or its failure record (every candidate
    rejected or failed), is on disk; records of experiences still undecided at the interruption
    (rejected or failed candidates) are dropped, because those experiences run again and write
    them anew: no id is ever written twice."""
    if retry_failed and generator_critic:
        raise UserError("--retry-failed: only for runs without critics; a Generator-Critic run replaces failed "
                        "experiences in its next iterations")
    conversations = store.complete_records(CONVERSATIONS, ConversationRecord)
    failures = store.complete_records(FAILURES, FailureRecord)
    retried_before = store.complete_records(RETRIED_FAILURES, FailureRecord)
    experience_failures = [r for r in failures if _experience_failure(r)]
    restored = RestoredRun()
    for usage_by_role in [*(r.usage for r in conversations), *(r.usage for r in experience_failures),
                          *(r.usage for r in retried_before)]:  # tokens spent on failed attempts count too
        add_usage(restored.usage, usage_by_role)
    if retry_failed and experience_failures:
        store.move_records(FAILURES, RETRIED_FAILURES, experience_failures,
                           [r for r in failures if not _experience_failure(r)])
        for failure in experience_failures:
            store.retire_transcript(failure.id)
        experience_failures = []
    restored.written = [r.index for r in conversations]
    restored.experiences = [(r.id, r.experience) for r in conversations]
    restored.failed = [r.index for r in experience_failures]
    restored.failure_reasons = [f"{r.id} ({r.stage}): {r.reason}" for r in experience_failures]
    if not generator_critic:
        return restored
    rejected = store.complete_records(REJECTED, RejectedRecord)
    report = store.load_json(ITERATIONS) or []
    if not isinstance(report, list) or not all(isinstance(item, dict) for item in report):
        raise UserError(f"--resume: {store.root / ITERATIONS}: not a list of iteration reports")
    restored.report = report
    for accepted in conversations:
        restored.decided[accepted.index] = JobResult(index=accepted.index, record=accepted, experience_generated=True,
                                                     shot_ids=list(accepted.provenance.shot_ids))
    for failure in experience_failures:
        # stage "review": the experience was generated, every candidate was rejected or failed
        restored.decided[failure.index] = JobResult(index=failure.index, failure=failure,
                                                    experience_generated=failure.stage == "review")
    for candidate in rejected:
        if candidate.index in restored.decided:
            restored.decided[candidate.index].rejected.append(candidate)
    for failure in failures:
        if failure.index in restored.decided and not _experience_failure(failure):
            restored.decided[failure.index].candidate_failures.append(failure)
    # records of undecided experiences go: those experiences run again and write them anew
    kept_rejected = [r for r in rejected if r.index in restored.decided]
    if len(kept_rejected) < len(rejected):
        store.rewrite_records(REJECTED, kept_rejected)
    kept_failures = [r for r in failures if r.index in restored.decided]
    if len(kept_failures) < len(failures):
        store.rewrite_records(FAILURES, kept_failures)
    return restored


def restore_hub(store: RunStore) -> tuple[FewShotHub, dict[int, list[Shot]]] | None:
    """The hub with its RNG state, and the shots already chosen for unfinished batches."""
    state = store.load_json(HUB)
    if state is None:
        return None
    try:
        hub = FewShotHub.from_state(state)
        by_id = {s.id: s for s in hub.shots}
        batches = {}
        for key, shots in (state.get("batches") or {}).items():
            # a batch saved by an older version names its shots by id
            batches[int(key)] = [by_id[s] if isinstance(s, str) else shot_from_dict(s) for s in shots
                                 if not isinstance(s, str) or s in by_id]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a hand-edited or damaged hub.json
        raise UserError(f"--resume: {store.root / HUB}: not a few-shot hub this version can restore "
                        f"({type(exc).__name__}: {first_line(exc) or 'bad value'})") from None
    return hub, batches


def resume_settings(run_dir: Path) -> dict[str, Any]:
    """RunRequest fields of the interrupted run, read from its manifest."""
    manifest = RunStore.open(run_dir).load_json(MANIFEST)
    source = f"--resume: {run_dir / MANIFEST}"
    if not isinstance(manifest, dict):
        raise UserError(f"{source}: not a run manifest (a JSON object is expected)")
    try:
        settings = {
            "scenario": Scenario.model_validate(manifest["scenario"]),
            "scenario_path": Path(manifest["scenario_file"]),
            "models": ModelsConfig.model_validate(manifest["models"]),
            "models_path": Path(manifest["models_file"]),
            "num_conversations": int(manifest["num_conversations_requested"]),
            "seed": int(manifest["seed"]),
            "concurrency": int(manifest.get("concurrency", 1)),
            "max_failures": manifest.get("max_failures"),
            "executor": (manifest.get("executor") or {}).get("name", "local"),
            "workers": int((manifest.get("executor") or {}).get("workers", 1)),
            "ray_address": (manifest.get("executor") or {}).get("ray_address"),
            "few_shot_mode": manifest.get("few_shot_mode"),
        }
    except ValidationError as exc:
        raise UserError(describe_validation_error(source, exc)) from None
    except KeyError as exc:
        raise UserError(f"{source}: not a readable run manifest (field {exc} is missing)") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{source}: not a readable run manifest ({first_line(exc)})") from None
    allowed: dict[str, tuple[Any, ...]] = {"executor": ("local", "ray"), "few_shot_mode": ("fixed", "iterative", None)}
    for name, values in allowed.items():
        if settings[name] not in values:
            raise UserError(f"{source}: field '{name}': {settings[name]!r} is not one of {values}")
    for name, high in (("num_conversations", MAX_CONVERSATIONS), ("concurrency", MAX_CONCURRENCY),
                       ("workers", MAX_WORKERS), ("seed", MAX_SEED)):
        check_number(f"{source}: field '{name}'", settings[name], 0 if name == "seed" else 1, high)
    budget = settings["max_failures"]
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 1):
        raise UserError(f"{source}: field 'max_failures': {budget!r} is not a positive whole number")
    return settings
