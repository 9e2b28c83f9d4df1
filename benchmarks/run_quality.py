"""What a run's conversations look like, to check that a faster path made the same kind of data:
size and lexical diversity, reply checks, leaks in first replies, experience rejections and how
speakers were picked. Read from the run directory (records and transcripts) only.

A first reply is a persona's first attempt on its first call (before any resampling); it leaks
when it carries a speaker label at the head of a line, or scene/prompt text ("situation:",
"topic:", ...): the rules of agents/reply_check.py that the format_leak critic applies.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from agents.reply_check import leak_problems
from agents.speaker_ids import speaker_id
from evaluation.corpus import load_path
from evaluation.metrics import dataset_statistics, distinct_ns, mtld_per_conversation
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import transcript_path


def _first_replies(events: list[dict[str, Any]], labels: list[str]) -> tuple[int, int, list[str]]:
    """(first replies, leaking ones, examples) of one conversation's persona agents."""
    seen: set[str] = set()
    total = leaking = 0
    examples: list[str] = []
    for event in events:
        if event.get("event") != "model_call" or event.get("role") != "persona" or event["agent"] in seen:
            continue
        seen.add(event["agent"])
        total += 1
        problems = leak_problems(event.get("reply", ""), labels)
        if problems:
            leaking += 1
            examples.append(f"{event['agent']}: {event.get('reply', '')[:80]!r} ({'; '.join(problems)})")
    return total, leaking, examples


def run_quality(run_dir: Path) -> dict[str, Any]:
    dataset = load_path(run_dir)
    conversations = dataset.conversations
    stats = dataset_statistics(conversations)
    mtld = mtld_per_conversation(conversations)
    rejections: Counter[str] = Counter()
    selections: Counter[str] = Counter()
    persona_calls = first_total = first_leaking = experience_rejections = 0
    examples: list[str] = []
    for conv in conversations:
        events = read_jsonl(transcript_path(run_dir, conv.id)).records
        names = {t.speaker for t in conv.turns} | set(conv.speaker_labels)
        labels = sorted(names | {speaker_id(n) for n in names})
        total, leaking, found = _first_replies(events, labels)
        first_total, first_leaking = first_total + total, first_leaking + leaking
        examples += found
        for event in events:
            kind = event.get("event")
            if kind == "reply_rejected":
                for problem in event.get("problems", []):
                    rejections[problem.split(" '")[0].split(" (")[0]] += 1
            elif kind == "speaker_selected":
                selections[event.get("method", "?")] += 1
            elif kind == "experience_rejected":
                experience_rejections += 1
            elif kind == "model_call" and event.get("role") == "persona":
                persona_calls += 1
    return {
        "conversations": len(conversations),
        "turns_mean": stats["nT_mean"],
        "words_per_turn": round(float(stats["nW_per_T"] or 0.0), 2),  # type: ignore[arg-type]
        "speakers_mean": stats["speakers_mean"],
        "speaker_balance_mean": stats["speaker_balance_mean"],
        "mtld_mean": round(statistics.fmean(mtld.per_conversation.values()), 2) if mtld.per_conversation else None,
        "distinct_2": distinct_ns(conversations, (2,))["distinct_2"],
        "persona_calls": persona_calls,
        "reply_rejections": sum(rejections.values()),
        "reply_rejections_by_problem": dict(rejections),
        "first_replies": first_total,
        "first_replies_leaking": first_leaking,
        "first_reply_leak_examples": examples[:5],
        "experience_rejections": experience_rejections,
        "speaker_selection": dict(selections),
    }
