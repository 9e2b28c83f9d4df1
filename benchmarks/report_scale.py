"""Does the HTML run browser stay usable at 10,000 conversations?

Builds a synthetic run (records cloned from the real fixture run with varied ids, statuses,
scores and speaker counts, plus a transcript per conversation with selector decisions, model
calls and critic verdicts), then measures: report build time, HTML size, load time in headless
Chromium until the list is interactive, filter time, time to open one conversation, and the
terminal list's time.

    .venv/bin/python -m benchmarks.report_scale [--conversations 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import random
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from evaluation.browse import html_report
from evaluation.browse import inspect as inspect_cli
from orchestrator.store import reader as rr
from orchestrator.store.jsonl import encode_line, read_jsonl
from orchestrator.store.layout import CONVERSATIONS, MANIFEST, REJECTED, TRANSCRIPTS, transcript_path
from tests.browser import start_browser, unavailable_reason

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "run_small"
EXPERTS = (
    "faithfulness",
    "toxicity",
    "repetition",
    "format_leaks",
    "coherence",
    "naturalness",
    "engagement",
)


def synthetic_run(root: Path, count: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    templates = read_jsonl(FIXTURE / CONVERSATIONS).records + read_jsonl(FIXTURE / REJECTED).records
    (root / TRANSCRIPTS).mkdir(parents=True)
    (root / MANIFEST).write_text((FIXTURE / MANIFEST).read_text())
    with (root / CONVERSATIONS).open("w") as out:
        for i in range(count):
            record = copy.deepcopy(templates[i % len(templates)])
            record["id"], record["index"] = f"s{i:06d}", i
            keep = rng.randint(2, len(record["participants"]))
            record["participants"] = record["participants"][:keep]
            record["turns"] = [
                t for t in record["turns"] if t["speaker"] in record["participants"]
            ] or record["turns"][:2]
            score = round(rng.uniform(1, 5), 2)
            record["review"] = {
                "accepted": score >= 2.5,
                "quality_score": score,
                "verdicts": [
                    {
                        "expert": e,
                        "passed": rng.random() > 0.2,
                        "score": None,
                        "rationale": f"{e} rationale {i}",
                    }
                    for e in EXPERTS
                ],
            }
            out.write(encode_line(record))
            events = []
            for n, turn in enumerate(record["turns"]):
                events.append(
                    {
                        "seq": 3 * n,
                        "event": "speaker_selected",
                        "candidates": record["participants"],
                        "speaker": turn["speaker"],
                        "method": "llm",
                        "attempt": 1,
                    }
                )
                events.append(
                    {
                        "seq": 3 * n + 1,
                        "event": "model_call",
                        "agent": turn["speaker"],
                        "role": "persona",
                        "n_messages": n + 2,
                        "prompt_chars": 900 + 80 * n,
                        "prompt_tokens": 300 + 25 * n,
                        "completion_tokens": 40,
                        "seconds": 0.4,
                        "reply": turn["text"],
                    }
                )
                events.append(
                    {
                        "seq": 3 * n + 2,
                        "event": "message",
                        "speaker": turn["speaker"],
                        "text": turn["text"],
                    }
                )
            transcript_path(root, record["id"]).write_text("".join(encode_line(e) for e in events))


def measure_browser(html_path: Path, first_id: str) -> dict[str, float]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = start_browser()
    try:
        started = time.perf_counter()
        driver.get(html_path.as_uri())
        WebDriverWait(driver, 120).until(
            lambda d: d.execute_script("return document.body.dataset.ready") == "1"
        )
        load = time.perf_counter() - started
        nav = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return [n.domContentLoadedEventEnd, n.loadEventEnd];"
        )
        rows = len(driver.find_elements(By.CSS_SELECTOR, "#conv-list tbody tr"))
        started = time.perf_counter()
        Select(driver.find_element(By.ID, "filter-status")).select_by_visible_text("rejected")
        filtered = driver.find_element(By.ID, "count").text
        filter_seconds = time.perf_counter() - started
        started = time.perf_counter()
        driver.execute_script(f"location.hash = '{first_id}'")
        WebDriverWait(driver, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#detail .turn")) > 0
        )
        open_seconds = time.perf_counter() - started
        return {
            "browser_load_seconds": round(load, 2),
            "dom_content_loaded_ms": round(nav[0]),
            "load_event_ms": round(nav[1]),
            "rows_rendered_on_first_page": rows,
            "filter_seconds": round(filter_seconds, 3),
            "filtered_count_text": filtered,
            "open_conversation_seconds": round(open_seconds, 3),
        }
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="build the run here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="symposia-scale-")) / "run"
    started = time.perf_counter()
    synthetic_run(root, args.conversations)
    results: dict[str, object] = {
        "conversations": args.conversations,
        "synthetic_run_seconds": round(time.perf_counter() - started, 2),
    }

    started = time.perf_counter()
    run = rr.load_run(root)
    html = html_report.build_report(run, title=f"scale-{args.conversations}")
    out = root / "report.html"
    out.write_text(html, encoding="utf-8")
    results["report_build_seconds"] = round(time.perf_counter() - started, 2)
    results["html_megabytes"] = round(out.stat().st_size / 1e6, 2)

    started = time.perf_counter()
    with redirect_stdout(io.StringIO()) as listing:
        inspect_cli.main([str(root), "--page", "3", "--width", "160"])
    results["inspect_list_seconds"] = round(time.perf_counter() - started, 2)
    results["inspect_list_lines"] = listing.getvalue().count("\n")

    reason = unavailable_reason()
    if reason:
        results["browser"] = f"skipped: {reason}"
    else:
        results.update(measure_browser(out, "s000000"))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
