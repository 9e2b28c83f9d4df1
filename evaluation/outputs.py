"""Write an evaluation: metrics.json (every figure), report.md, PNG plots; and the
comparison table printed to stdout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from evaluation.evaluate import DatasetEvaluation
from orchestrator.store.layout import EVALUATION_METRICS, EVALUATION_REPORT

# The paper's published human baselines (ConvoGen Table V); we cannot load these corpora offline.
PAPER_HUMAN_MTLD = {"PERSONA-CHAT (paper)": 49.58, "DailyDialog (paper)": 53.44}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _judge_cell(m: dict[str, Any]) -> str:
    judge = m.get("judge")
    if not judge:
        return "-"
    counts = f"{judge['scored']}/{judge['items']}, fb {judge['fell_back']}"
    return f"{_fmt(judge['overall_mean'])} ({counts})"


COLUMNS = (
    "dataset",
    "convs",
    "nW",
    "nT",
    "nW/T",
    "speakers",
    "MTLD mean±std",
    "short",
    "dist-1/2/3",
    "emb div",
    "near-dup",
    "judge (scored/items, fallback)",
)


def comparison_rows(metrics: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for m in metrics:
        s, mt, d, dv = m["statistics"], m["mtld"], m["distinct"], m["diversity"]
        nd = dv.get("near_duplicates")
        rows.append(
            [
                m["name"],
                str(s["conversations"]),
                _fmt(s["nW_mean"], 1),
                _fmt(s["nT_mean"], 1),
                _fmt(s["nW_per_T"], 1),
                _fmt(s["speakers_mean"], 1),
                f"{_fmt(mt['mean'])} ± {_fmt(mt['std'])}",
                str(mt["short_flagged"]),
                "/".join(_fmt(d[f"distinct_{n}"], 3) for n in (1, 2, 3)),
                _fmt(dv.get("embedding_diversity"), 3),
                f"{nd['pairs']}/{nd['total_pairs']}" if nd else "-",
                _judge_cell(m),
            ]
        )
    for name, value in PAPER_HUMAN_MTLD.items():
        rows.append([name, "-", "-", "-", "-", "-", f"{value:.2f} ± -", "-", "-", "-", "-", "-"])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    out = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def write_plots(evaluations: list[DatasetEvaluation], out_dir: Path) -> list[str]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    names = [e.dataset.name for e in evaluations]

    fig, ax = plt.subplots(figsize=(7, 4))
    data = [e.mtld_values or [0.0] for e in evaluations]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=15, fontsize=8)
    # Paper values sit ~4 apart: one label above its line, the next below.
    for k, (label, value) in enumerate(PAPER_HUMAN_MTLD.items()):
        ax.axhline(value, linestyle="--", linewidth=0.8, color="grey")
        ax.text(0.55, value, label, fontsize=7, color="grey", va="top" if k % 2 == 0 else "bottom")
    ax.set_ylabel("MTLD per conversation (threshold 0.72)")
    ax.set_title("Lexical diversity (MTLD)")
    fig.tight_layout()
    fig.savefig(out_dir / "mtld.png", dpi=110)
    plt.close(fig)
    written.append("mtld.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for e in evaluations:
        if e.words_per_turn:
            ax.hist(
                e.words_per_turn,
                bins=30,
                alpha=0.5,
                density=True,
                label=e.dataset.name,
                range=(0, 120),
            )
    ax.set_xlabel("words per turn")
    ax.set_ylabel("density")
    ax.set_title("Words per turn")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "words_per_turn.png", dpi=110)
    plt.close(fig)
    written.append("words_per_turn.png")

    judged = [e for e in evaluations if e.metrics.get("judge")]
    if judged:
        fig, ax = plt.subplots(figsize=(8, 4))
        questions: list[str] = []
        for e in judged:
            questions += [q for q in e.metrics["judge"]["per_question"] if q not in questions]
        width = 0.8 / len(judged)
        for k, e in enumerate(judged):
            per_q = e.metrics["judge"]["per_question"]
            values = [(per_q.get(q) or {}).get("mean") or 0.0 for q in questions]
            ax.bar(
                [i + k * width for i in range(len(questions))],
                values,
                width=width,
                label=e.dataset.name,
            )
        ax.set_xticks(
            [i + 0.4 - width / 2 for i in range(len(questions))], questions, rotation=20, fontsize=8
        )
        ax.set_ylim(0, 5)
        ax.set_ylabel("mean logprob-weighted score (1-5)")
        ax.set_title("Judge groundedness per question")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "judge_scores.png", dpi=110)
        plt.close(fig)
        written.append("judge_scores.png")
    return written


def report_markdown(evaluation: DatasetEvaluation, comparison: str, plots: list[str]) -> str:
    m = evaluation.metrics
    s, mt, dv = m["statistics"], m["mtld"], m["diversity"]
    lines = [f"# Evaluation of {m['name']}", "", f"Source: `{m['source']}`", ""]
    if m["notes"]:
        lines += ["Notes:", *[f"- {n}" for n in m["notes"]], ""]
    lines += [
        "## Comparison",
        "",
        comparison,
        "",
        "nW = words per conversation, nT = turns, nW/T = words per turn (tokens as in "
        "the README's MTLD "
        "normalisation). MTLD: McCarthy & Jarvis, threshold 0.72, speaker labels "
        "stripped; conversations "
        f"under {mt['min_tokens']} tokens are flagged (`short`) and left out of mean/std.",
        "",
        "## Statistics",
        "",
        f"- conversations: {s['conversations']}; speakers per conversation: "
        f"{_fmt(s['speakers_mean'])} "
        f"(min {s['speakers_min']}, max {s['speakers_max']})",
        f"- nW {_fmt(s['nW_mean'], 1)} ± {_fmt(s['nW_std'], 1)}; nT "
        f"{_fmt(s['nT_mean'], 1)} ± {_fmt(s['nT_std'], 1)}; "
        f"nW/T {_fmt(s['nW_per_T'], 1)}",
        f"- share of turns by speaker rank (most active first): {s['turn_share_by_rank']}; "
        f"mean speaker balance (normalised entropy) {_fmt(s['speaker_balance_mean'], 3)}",
        "",
        "## Lexical diversity",
        "",
        f"- MTLD mean {_fmt(mt['mean'])}, std {_fmt(mt['std'])}, median {_fmt(mt['median'])} over "
        f"{mt['measured']} conversations; {mt['short_flagged']} flagged short "
        f"{mt['short_ids']}; {mt['empty']} empty",
        f"- distinct-1/2/3: {', '.join(_fmt(v, 4) for v in m['distinct'].values())}",
        "",
        "## Dataset diversity",
        "",
        "- embedding diversity (mean pairwise cosine distance, all-MiniLM-L6-v2, "
        f"{dv['embedded']} conversations"
        f"{', sampled' if dv['sampled'] else ''}): {_fmt(dv.get('embedding_diversity'), 4)}",
    ]
    nd = dv.get("near_duplicates")
    if nd:
        lines.append(
            f"- near-duplicates (cosine ≥ {nd['threshold']}): {nd['pairs']} of "
            f"{nd['total_pairs']} pairs; "
            f"{nd['conversations_with_duplicate']} conversations have one"
        )
        for ex in nd["examples"]:
            lines.append(
                f"  - {ex['a']} ~ {ex['b']} ({ex['similarity']}): “{ex['a_text'][:80]}” "
                f"/ “{ex['b_text'][:80]}”"
            )
    for key in ("topics", "situations"):
        spread = dv.get(key)
        if spread:
            lines.append(
                f"- experience {key}: {spread['count']}, distinct ratio "
                f"{_fmt(spread['distinct_ratio'], 3)}, "
                f"embedding diversity {_fmt(spread['embedding_diversity'], 4)}"
            )
    lines += ["", "## LLM judge (G-Eval, logprob-weighted)", ""]
    judge = m.get("judge")
    if judge:
        lines += [
            f"- engine: {judge['engine']}; {judge['conversations']} conversations, "
            f"{judge['items']} items, "
            f"{judge['scored']} scored, **{judge['fell_back']} fell back** "
            f"{judge['fallback_methods']}, "
            f"**{judge['failed']} failed**",
            "",
            "| question | mean | n |",
            "|---|---|---|",
        ]
        lines += [
            f"| {q} | {_fmt(v['mean'])} | {v['n']} |" for q, v in judge["per_question"].items()
        ]
        lines += [f"| **all questions** | {_fmt(judge['overall_mean'])} | {judge['scored']} |", ""]
        for f in judge["failures"]:
            lines.append(f"- failed: {f['conversation']}/{f['question']}: {f['error']}")
    else:
        lines.append("- not run (--no-judge, or no experiences to judge against)")
    lines += ["", "## Plots", "", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)


def write_evaluation(
    evaluation: DatasetEvaluation,
    out_dir: Path,
    comparison_md: str,
    all_evaluations: list[DatasetEvaluation],
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(all_evaluations, out_dir)
    metrics = dict(evaluation.metrics)
    metrics["compared_with"] = [
        {k: v for k, v in e.metrics.items() if k not in ("judge_items", "mtld_per_conversation")}
        for e in all_evaluations
        if e is not evaluation
    ]
    metrics["paper_human_mtld"] = PAPER_HUMAN_MTLD
    (out_dir / EVALUATION_METRICS).write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    (out_dir / EVALUATION_REPORT).write_text(
        report_markdown(evaluation, comparison_md, plots), encoding="utf-8"
    )
    return out_dir
