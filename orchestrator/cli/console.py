"""Terminal presentation of a generation run: a progress bar and a closing summary."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from orchestrator.driver import Progress as RunProgress
from orchestrator.driver import RunSummary


class ProgressDisplay:
    """Conversations done, tokens and rate, updated as each conversation finishes."""

    def __init__(self, total: int, console: Console) -> None:
        self._started = time.perf_counter()
        self._bar = Progress(
            TextColumn("[bold]generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._bar.add_task("run", total=total, status="")

    def __enter__(self) -> ProgressDisplay:
        self._bar.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.__exit__(exc_type, exc, tb)

    def update(self, progress: RunProgress) -> None:
        minutes = max(time.perf_counter() - self._started, 1e-9) / 60
        # failed and rejected conversations are replaced: the bar counts the written ones toward N
        finished = progress.done
        cost = f" · ${progress.cost_usd:,.4f}" if progress.cost_usd else ""
        cached = f" · {progress.cached_calls:,} cached calls" if progress.cached_calls else ""
        rejected = f"rejected {progress.rejected} · " if progress.rejected else ""
        status = (
            f"{rejected}failed {progress.failed} · {progress.tokens:,} tok{cost}{cached} · "
            f"{progress.done / minutes:.1f} conv/min · {progress.tokens / (minutes * 60):.0f} tok/s"
        )
        self._bar.update(self._task, completed=finished, status=status)


def print_summary(summary: RunSummary, console: Console) -> None:
    table = Table(title="tokens by role", show_edge=False)
    # "prompt" is every prompt token sent; "evaluated" the ones the engine had to run through the
    # model (the rest it kept from the agent's earlier calls)
    for column in ("role", "calls", "prompt", "evaluated", "completion", "cached calls", "cached tokens", "cost $",
                   "seconds"):
        table.add_column(column, justify="right" if column != "role" else "left")
    for role, usage in summary.usage.items():
        cached_tokens = usage.get("cached_prompt_tokens", 0) + usage.get("cached_completion_tokens", 0)
        evaluated = usage["prompt_tokens"] - usage.get("reused_prompt_tokens", 0)
        table.add_row(role, str(usage["calls"]), f"{usage['prompt_tokens']:,}", f"{evaluated:,}",
                      f"{usage['completion_tokens']:,}", str(usage.get("cached_calls", 0)), f"{cached_tokens:,}",
                      f"{usage.get('cost_usd', 0.0):.4f}", f"{usage['seconds']:.1f}")
    console.print(table)
    for backend, stats in summary.endpoints.items():
        if stats["retried"] or stats["gave_up"] or stats["throttle_cuts"]:
            retried = ", ".join(f"{k} {v}" for k, v in sorted(stats["retried"].items())) or "none"
            console.print(f"  endpoint {backend}: retried {retried} · gave up {stats['gave_up']} · "
                          f"throttled {stats['throttle_cuts']}x (limit now {stats['limit']:g})")
    busy = f", engine busy {summary.llm_busy_seconds / summary.seconds:.0%}" if summary.llm_busy_seconds else ""
    console.print(
        f"[bold green]wrote {summary.written} conversation(s)[/] to {summary.out_dir}"
        f" · {summary.failed} failed · {summary.total_tokens:,} tokens"
        f"{f' · ${summary.cost_usd:,.4f}' if summary.cost_usd else ''} · {summary.seconds:.1f}s{busy}"
    )
    for reason in summary.failure_reasons[:5]:
        console.print(Text.assemble(("  failed ", "yellow"), reason))
    for note in summary.set_aside:
        console.print(Text.assemble(("  set aside ", "yellow"), note))
    if summary.iterations or summary.stop_reason:
        from orchestrator.critics.iterations import summary_lines

        for line in summary_lines(summary.iterations):
            console.print(f"  {line}")
        accepted_tokens = ""
        if summary.written:
            accepted_tokens = f" · {summary.total_tokens / summary.written:,.0f} tokens per accepted"
        console.print(f"[bold]generator-critic:[/] {summary.written} accepted, {summary.rejected} candidates rejected "
                      f"(rejected.jsonl); stopped: {summary.stop_reason}{accepted_tokens}")
