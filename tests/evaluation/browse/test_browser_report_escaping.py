"""The HTML report in real headless Chromium with data crafted to break out of, or re-tokenise,
the <script> elements that embed it (HTML's script-data escape sequences `<!--`, `<script`,
`</script` in combinations, markup, entities, U+2028/U+2029/U+0085) in every field the report
shows: names, turns, topics, situations, relations, verdict rationales, ids, failures. The page
must run its own script, run none of the data, and show every string exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import run
from orchestrator.store.layout import CONVERSATIONS, FAILURES, MANIFEST
from tests.browser import start_browser, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=f"no browser: {unavailable_reason()}")

PAYLOADS = [
    "<!--<script>",
    "<!-- <script> </script> -->",
    "</script><script>window.__pwned = 1</script>",
    "<script>window.__pwned = 2</script>",
    "</SCRIPT >x",
    "<!--",
    '<img src=x onerror="window.__pwned = 3">',
    "&lt;&amp;&#x3C;&",
    "line\u2028sep\u2029para\u0085next",
    "--><!-- <script",
]


def _record(i: int, names: list[str], text: str) -> dict[str, Any]:
    people = [{"name": n, "age": 30, "qualities": [text], "lifestyle": text, "speech_style": text,
               "memory": {"recent": text, "long_term": text}} for n in names]
    return {
        "id": f"c{i:06d}", "index": i, "scenario": "hostile", "participants": names,
        "speaker_ids": {f"P_{j}": n for j, n in enumerate(names)},
        "experience": {"participants": people, "situation": text, "topic": f"topic {i} {text}",
                       "relations": [{"person_a": names[0], "person_b": names[1], "relation": text}],
                       "starter": {"speaker": names[0], "text": text}},
        "turns": [{"speaker": f"P_{j % len(names)}", "text": PAYLOADS[(i + j) % len(PAYLOADS)]} for j in range(6)],
        "review": {"decision": "accepted", "verdicts": [
            {"expert": "coherence", "role": "quality", "method": "llm", "status": "pass", "score": 4,
             "rationale": text},
            {"expert": "repetition", "role": "gate", "method": "rule", "status": "fail", "rationale": text + " !"}]},
    }


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("hostile") / "run"
    (root / "transcripts").mkdir(parents=True)
    records = [_record(i, [PAYLOADS[i % len(PAYLOADS)], PAYLOADS[(i + 3) % len(PAYLOADS)], f"Zoë {i}"], payload)
               for i, payload in enumerate(PAYLOADS)]
    (root / CONVERSATIONS).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                      encoding="utf-8")
    failure = {"id": "c000099", "index": 99, "scenario": "hostile", "stage": "conversation",
               "reason": " ".join(PAYLOADS)}
    (root / FAILURES).write_text(json.dumps(failure) + "\n")
    (root / MANIFEST).write_text(json.dumps({"status": "complete", "scenario": {"name": PAYLOADS[2]}}))
    return root, records


@pytest.fixture(scope="module")
def page(hostile_run: tuple[Path, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory):
    from selenium.webdriver.support.ui import WebDriverWait

    root, _ = hostile_run
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert run.main(["report", str(root), "--out", str(out)]) == 0
    driver = start_browser()
    try:
        driver.get(out.as_uri())
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        yield driver
    finally:
        driver.quit()


def test_the_reports_own_script_runs_and_no_data_does(page, hostile_run) -> None:
    _, records = hostile_run
    assert page.execute_script("return window.__pwned === undefined")
    # the index, one element per conversation and the report's script: nothing more, nothing merged
    assert page.execute_script("return document.scripts.length") == len(records) + 2
    assert page.execute_script("return document.querySelectorAll('img').length") == 0
    rows = page.execute_script("return Array.from(document.querySelectorAll('#conv-list tbody tr'), "
                               "r => r.textContent)")
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        assert " ".join(record["experience"]["topic"].split()) in row  # the list's topic preview is one line
        assert all(name in row for name in record["participants"])
    failures = page.execute_script("return document.getElementById('failures').textContent")
    assert " ".join(PAYLOADS).replace("\u2028", " ").split("line")[0] in failures.replace("\u2028", " ")
    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []


def test_every_field_of_every_conversation_shows_exactly(page, hostile_run) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    _, records = hostile_run
    for record in records:
        page.execute_script(f"location.hash = {json.dumps(record['id'])}")
        def shown(driver: Any, wanted: str = str(record["id"])) -> bool:
            return wanted in driver.execute_script(
                "const e = document.getElementById('detail'); return e.hidden ? '' : e.textContent")

        WebDriverWait(page, 5).until(shown)
        detail = page.execute_script("return document.getElementById('detail').textContent")
        turns = page.execute_script("return Array.from(document.querySelectorAll('#detail .turn'), t => t.textContent)")
        names = record["speaker_ids"]
        assert turns == [f"{names[t['speaker']]}: {t['text']}" for t in record["turns"]]
        cards = page.execute_script("return Array.from(document.querySelectorAll('#detail .card.persona h4'), "
                                    "h => h.textContent)")
        assert cards == [f"{name} (30)" for name in record["participants"]]
        text = record["experience"]["situation"]
        rationales = page.execute_script("return Array.from(document.querySelectorAll('#detail .vote .muted'), "
                                         "v => v.textContent)")
        assert rationales == [text, text + " !"]
        assert f"situation: {text}" in detail and f"topic: {record['experience']['topic']}" in detail
        assert f"{record['participants'][0]} & {record['participants'][1]}: {text}" in detail
    assert page.execute_script("return window.__pwned === undefined")
    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []
