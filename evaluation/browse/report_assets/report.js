// Run browser: the index is parsed once; a conversation's details are parsed only when opened
// (each lives in its own <script type="application/json">), and the list is paginated, so a
// 10,000-conversation run opens in about the time it takes to parse the index.
"use strict";
(function () {
  const PAGE = 100;
  const COLOURS = ["#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#1b7c83", "#953800", "#6639ba"];
  const index = JSON.parse(document.getElementById("index-data").textContent);
  const col = Object.fromEntries(index.columns.map((name, i) => [name, i]));
  const rows = index.rows;
  const $ = (id) => document.getElementById(id);
  let page = 0;
  let shown = rows;

  function el(tag, attrs, ...children) {
    // textContent only: every string here came from a model and must never become markup.
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fillSelect(select, values) {
    for (const v of values) select.append(el("option", { value: String(v) }, v));
  }
  fillSelect($("filter-scenario"), [...new Set(rows.map((r) => r[col.scenario]))].sort());
  fillSelect($("filter-speakers"), [...new Set(rows.map((r) => r[col.speakers]))].sort((a, b) => a - b));

  function applyFilters() {
    const text = $("filter-text").value.trim().toLowerCase();
    const scenario = $("filter-scenario").value;
    const status = $("filter-status").value;
    const speakers = $("filter-speakers").value;
    const minScore = $("filter-score").value === "" ? null : Number($("filter-score").value);
    shown = rows.filter((r) =>
      (!scenario || r[col.scenario] === scenario) &&
      (!status || r[col.status] === status) &&
      (!speakers || String(r[col.speakers]) === speakers) &&
      (minScore === null || (r[col.score] !== null && r[col.score] >= minScore)) &&
      (!text || r[col.search].includes(text)));
    page = 0;
    renderList();
  }

  function renderList() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    const body = document.querySelector("#conv-list tbody");
    const fragment = document.createDocumentFragment();
    for (const r of shown.slice(page * PAGE, (page + 1) * PAGE)) {
      const tr = el("tr", { "data-id": r[col.id], "data-i": r[col.i] },
        el("td", null, r[col.id]), el("td", null, r[col.scenario]),
        el("td", { class: r[col.status] }, r[col.status]),
        el("td", null, r[col.speakers] + ": " + r[col.names]), el("td", null, r[col.turns]),
        el("td", null, r[col.score] === null ? "—" : r[col.score].toFixed(2)), el("td", null, r[col.topic]));
      tr.addEventListener("click", () => { location.hash = encodeURIComponent(r[col.id]); });
      fragment.append(tr);
    }
    body.replaceChildren(fragment);
    $("count").textContent = `${shown.length} of ${rows.length} conversations · page ${page + 1}/${pages}`;
    $("prev").disabled = page === 0;
    $("next").disabled = page >= pages - 1;
  }

  function section(title, ...children) {
    return el("div", null, el("h3", null, title), ...children);
  }

  function renderDetail(row) {
    const d = JSON.parse(document.getElementById("d" + row[col.i]).textContent);
    const colour = {};
    Object.keys(d.names).forEach((agent, i) => {
      colour[agent] = colour[d.names[agent]] = COLOURS[i % COLOURS.length];
    });
    const exp = d.experience || {};
    const cards = el("div", { class: "cards" }, ...(exp.participants || []).map((p) => {
      const mem = p.memory || {};
      return el("div", { class: "card persona", style: `--c:${colour[p.name] || "#888"}` },
        el("h4", null, `${p.name} (${p.age ?? "?"})`),
        el("div", null, el("b", null, "qualities: "), (p.qualities || []).join(", ")),
        el("div", null, el("b", null, "life: "), p.lifestyle ?? "—"),
        el("div", null, el("b", null, "speaks: "), p.speech_style ?? "—"),
        el("div", null, el("b", null, "recently: "), mem.recent ?? "—"),
        el("div", null, el("b", null, "long ago: "), mem.long_term ?? "—"));
    }));
    const chat = d.turns.map((t) => el("div", { class: "turn", style: `--c:${colour[t.speaker] || "#888"}` },
      el("b", null, (d.names[t.speaker] || t.speaker) + ": "), t.text));
    const selections = d.selections.length ? d.selections.map((s) => el("div", { class: "sel" },
      el("b", null, s.speaker), ` from [${(s.candidates || []).join(", ")}] by ${s.method}`,
      s.attempt !== undefined ? ` (attempt ${s.attempt})` : "")) : [el("p", { class: "muted" }, "no selector decisions recorded")];
    const votes = d.verdicts.length ? d.verdicts.map((v) => {
      return el("div", { class: "vote " + v.status },
        el("b", null, v.expert), ` (${v.role}) `, el("span", { class: "v" }, v.status),
        v.score === null ? "" : ` · score ${v.score}`, el("div", { class: "muted" }, v.rationale));
    }) : [el("p", { class: "muted" }, "no critic verdicts (run without critics)")];
    const calls = d.calls.map((c) => el("div", { class: "call" },
      el("b", null, `${c.agent} (${c.role})`), ` ${c.prompt_chars} chars, ${c.prompt_tokens}+${c.completion_tokens} tok, ${c.seconds}s → `, c.reply));
    const detail = $("detail");
    detail.replaceChildren(
      el("h2", null, `${row[col.id]} · `, el("span", { class: row[col.status] }, row[col.status]),
        row[col.score] === null ? "" : ` · score ${row[col.score].toFixed(2)}`, " ", el("a", { href: "#" }, "close")),
      ...(d.notes || []).map((n) => el("p", { class: "notes" }, n)),
      el("p", null, el("b", null, "situation: "), exp.situation ?? "—"),
      el("p", null, el("b", null, "topic: "), exp.topic ?? "—"),
      el("ul", null, ...(exp.relations || []).map((r) => el("li", null, `${r.person_a} & ${r.person_b}: ${r.relation}`))),
      cards,
      el("div", { class: "side" },
        section(`Conversation (${d.turns.length} turns)`, ...chat),
        section(`Selector decisions (${d.selections.length})`, ...selections),
        section(`Critic votes (${d.verdicts.length})`, ...votes)),
      d.calls.length ? el("details", null, el("summary", null, `Model calls (${d.calls.length})`), ...calls) : null);
    detail.hidden = false;
    detail.scrollIntoView();
  }

  function route() {
    const id = decodeURIComponent(location.hash.slice(1));
    const row = id && rows.find((r) => r[col.id] === id);
    if (row) renderDetail(row); else $("detail").hidden = true;
  }

  for (const id of ["filter-text", "filter-score"]) $(id).addEventListener("input", applyFilters);
  for (const id of ["filter-scenario", "filter-status", "filter-speakers"]) $(id).addEventListener("change", applyFilters);
  $("prev").addEventListener("click", () => { page -= 1; renderList(); });
  $("next").addEventListener("click", () => { page += 1; renderList(); });
  window.addEventListener("hashchange", route);
  renderList();
  route();
  document.body.dataset.ready = "1";
})();
