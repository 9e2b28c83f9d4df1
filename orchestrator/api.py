"""Generation from Python: what `run.py` does, without the command line.

`generate` loads a scenario and a model configuration, writes N conversations into a run
directory and returns the run's summary with its records read back; `agenerate` does the same
for callers already inside an event loop (Jupyter, async services). `read_run` reads the records
of any run directory. For more control (an edited scenario, critic overrides, a resumed run)
build a `RunRequest` and call `prepare_run` and `execute_run` as the command line does.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agents.errors import UserError
from orchestrator.blocking import blocking
from orchestrator.config import load_models, load_scenario
from orchestrator.config.limits import MAX_CONCURRENCY, MAX_CONVERSATIONS, MAX_SEED, MAX_WORKERS, check_number
from orchestrator.driver import Progress, RunSummary, execute_run
from orchestrator.prepare import RAY_WORKERS, RunRequest, default_out_dir, prepare_run
from orchestrator.stages.fewshot_hub import HubMode
from orchestrator.store.reader import load_run

__all__ = ["RunResult", "agenerate", "generate", "read_run"]

Executor = Literal["local", "ray"]
OnProgress = Callable[[Progress], None]


@dataclass(frozen=True)
class RunResult:
    summary: RunSummary  # counts, tokens and cost by role, seconds; why a Generator-Critic run stopped
    records: list[dict[str, Any]]  # conversations.jsonl as written (accepted ones, with critics)

    @property
    def out_dir(self) -> Path:
        return self.summary.out_dir


def read_run(run_dir: str | Path) -> list[dict[str, Any]]:
    """The conversation records of a run directory (its conversations.jsonl, in the order written)
    or of a JSONL file of records, as plain dicts.

    Read leniently, like the inspection tools: a half-written last line (an interrupted run) is
    skipped. `orchestrator.store.reader.load_run` also gives the rejected candidates, failures,
    manifest and a note on anything it skipped."""
    run = load_run(run_dir)
    return [
        {key: value for key, value in record.items() if key != "_source"}  # the reader's bookkeeping
        for record in run.conversations
        if record.get("_source") == "conversations"
    ]


def _request(scenario: str | Path, *, n: int | None, out: str | Path | None, models: str | Path | None, seed: int,
             concurrency: int, max_failures: int | None, executor: Executor, workers: int | None,
             ray_address: str | None) -> RunRequest:
    for name, value, low, high in (("n", n, 1, MAX_CONVERSATIONS), ("concurrency", concurrency, 1, MAX_CONCURRENCY),
                                   ("max_failures", max_failures, 1, MAX_CONVERSATIONS),
                                   ("workers", workers, 1, MAX_WORKERS), ("seed", seed, 0, MAX_SEED)):
        check_number(name, value, low, high)
    if executor not in ("local", "ray"):
        raise UserError(f"executor: 'local' or 'ray' (got {executor!r})")
    if executor != "ray" and (workers is not None or ray_address is not None):
        raise UserError("workers/ray_address: only with executor='ray'")
    loaded, scenario_path = load_scenario(str(scenario))
    config, models_path = load_models(models)
    return RunRequest(
        scenario=loaded, scenario_path=scenario_path, models=config, models_path=models_path,
        num_conversations=n or loaded.num_conversations,
        out_dir=Path(out) if out is not None else default_out_dir(loaded.name),
        seed=seed, concurrency=concurrency, command_line=tuple(sys.argv), max_failures=max_failures,
        executor=executor, workers=workers or (RAY_WORKERS if executor == "ray" else 1), ray_address=ray_address,
    )


async def agenerate(
    scenario: str | Path = "multiparty",
    *,
    n: int | None = None,
    out: str | Path | None = None,
    models: str | Path | None = None,
    seed: int = 0,
    concurrency: int = 1,
    few_shot: HubMode | None = None,
    max_failures: int | None = None,
    executor: Executor = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    on_progress: OnProgress | None = None,
) -> RunResult:
    """Generate `n` conversations (default: the scenario's) into `out` and read them back.

    scenario: a name in scenarios/ or a YAML path; models: a models YAML (default: the embedded
    model, scenarios/models/local.yaml); out: a new run directory (default runs/<scenario>-<time>);
    few_shot: override the scenario's hub mode; max_failures: failed conversations are replaced
    until this many failed (default max(10, n)); executor "ray" runs `workers` actors (default 2)
    on a local Ray cluster or the one at `ray_address`; on_progress is called as each conversation
    finishes. Mistakes the caller can fix raise `agents.errors.UserError` before any model call.
    `generate` blocks until the run ends; `agenerate` is the same for callers inside an event loop.
    """
    request = _request(scenario, n=n, out=out, models=models, seed=seed, concurrency=concurrency,
                       max_failures=max_failures, executor=executor, workers=workers, ray_address=ray_address)
    # The checks before the first model call block (endpoint probes; a grammar check loads the
    # embedded model): they run in a thread so the caller's loop keeps serving.
    prepared = await asyncio.to_thread(prepare_run, request, hub_mode=few_shot)
    summary = await execute_run(prepared, on_progress or _ignore)
    return RunResult(summary, read_run(summary.out_dir))


def _ignore(progress: Progress) -> None:
    pass


generate = blocking(agenerate, "generate")
