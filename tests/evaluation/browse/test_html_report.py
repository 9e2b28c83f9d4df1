"""`run.py report`: one self-contained HTML file, built from full and partial runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import run
from evaluation.browse import html_report
from orchestrator.store import reader as rr
from orchestrator.store.layout import CONVERSATIONS
from tests.helpers import FIXTURES

SMALL = FIXTURES / "run_small"
PARTIAL = FIXTURES / "run_partial"


def build(tmp_path: Path, run_dir: Path) -> str:
    out = tmp_path / "report.html"
    assert run.main(["report", str(run_dir), "--out", str(out)]) == 0
    return out.read_text()


def embedded(html: str, element_id: str) -> dict:
    match = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S
    )
    assert match, element_id
    return json.loads(match.group(1))


def test_report_is_self_contained(tmp_path):
    html = build(tmp_path, SMALL)
    # nothing fetched from anywhere: no external src/href, and a CSP that forbids the network
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "default-src 'none'" in html
    assert "<script src" not in html and "<link" not in html


def test_report_embeds_index_details_config_and_figures(tmp_path):
    html = build(tmp_path, SMALL)
    index = embedded(html, "index-data")
    rows = [dict(zip(index["columns"], row, strict=True)) for row in index["rows"]]
    assert {(r["id"], r["status"]) for r in rows} == {
        ("c000001", "accepted"),
        ("c000000", "rejected"),
    }
    detail = embedded(html, f"d{next(r['i'] for r in rows if r['id'] == 'c000000')}")
    assert len(detail["turns"]) == 12
    assert detail["selections"][0]["candidates"] == ["Maria", "Vikram", "Goran", "Sekou"]
    assert {v["expert"] for v in detail["verdicts"]} >= {"faithfulness", "repetition", "coherence"}
    assert detail["calls"] and all(
        len(c["reply"]) <= html_report.REPLY_CHARS for c in detail["calls"]
    )
    assert "data:image/png;base64," in html and "mtld.png" in html  # evaluation figure
    assert "Evaluation of run_small" in html  # report.md
    assert "&#34;seed&#34;: 1" in html or "&quot;seed&quot;: 1" in html  # manifest, escaped
    assert "no usable experience after 4 attempts" in html  # failures table


def test_model_text_cannot_break_out_of_the_page(tmp_path):
    shutil.copytree(SMALL, tmp_path / "run")
    path = tmp_path / "run" / CONVERSATIONS
    record = json.loads(path.read_text())
    record["turns"][0]["text"] = "</script><script>alert(1)</script> & <b>bold</b>"
    record["experience"]["topic"] = "<img src=x onerror=alert(2)>"
    path.write_text(json.dumps(record) + "\n")
    html = build(tmp_path, tmp_path / "run")
    assert "</script><script>alert(1)" not in html
    detail = embedded(html, "d0")
    assert detail["turns"][0]["text"].startswith("</script><script>alert(1)")
    assert "<img src=x" not in html.split('id="index-data">')[0]


def test_partial_run_report_carries_notes(tmp_path):
    html = build(tmp_path, PARTIAL)
    assert 'id="notes"' in html
    assert "manifest.json is missing" in html
    assert "last line is not valid JSON" in html
    assert "No manifest.json in this run." in html
    assert len(embedded(html, "index-data")["rows"]) == 1


def test_run_without_evaluation_or_review_still_builds():
    data = rr.load_run(PARTIAL)
    html = html_report.build_report(data, title="partial")
    assert 'id="evaluation"' not in html
    assert "unreviewed" in html


def test_report_defaults_to_the_run_directory(tmp_path):
    shutil.copytree(SMALL, tmp_path / "run")
    assert run.main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report.html").stat().st_size > 10_000


def test_embedded_json_holds_no_character_the_script_tokenizer_reacts_to() -> None:
    import json as _json
    import re

    from evaluation.browse.html_report import script_json

    value = {"t": "<!--<script></script>--> & \u2028\u2029 <\\/script>", "<k>": ["</SCRIPT", "&amp;"]}
    text = script_json(value)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert _json.loads(text) == value
