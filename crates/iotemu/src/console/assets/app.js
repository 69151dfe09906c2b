// iotemu console: plain JavaScript, no build step. Reads the live entries
// (/_iotemu/logs/stream), the spec of every entry (/_iotemu/spec), the AWS APIs of the
// emulator (logs, iot, iot-data) and drives the demo device (/_iotemu/demo/<action>).
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const MAX_ENTRIES = 2000; // kept in memory, newest
const MAX_TRACES = 150; // traces in the DOM, newest
const MAX_ROWS = 60; // rows of one trace in the DOM, newest
const DEMO_CLIENT = "iotemu-demo-device";

const state = {
  entries: [], // {seq, entry, key, ms}
  seq: 0,
  paused: false,
  inbox: [], // the stream's messages not yet parsed
  received: 0,
  skipped: 0, // arrived faster than the page renders: never parsed
  lagged: 0, // the emulator dropped them for this page (event: lagged)
  traces: 0,
  shownTraces: 0,
  dirty: false,
  selected: null,
  spec: null,
  byEvent: {},
  common: {},
  failure: {},
  region: "us-east-1",
  highlightSince: null,
  seenTypes: new Set(),
};

// ---- tabs ---------------------------------------------------------------------------------
const tabs = ["live", "map", "state", "insights"];
function showTab(name) {
  for (const t of tabs) {
    const on = t === name;
    $("#tab-" + t).setAttribute("aria-selected", on);
    $("#tab-" + t).tabIndex = on ? 0 : -1;
    $("#view-" + t).hidden = !on;
  }
  if (name === "state") loadState();
  if (name === "live" && state.dirty) render();
}
for (const t of tabs) $("#tab-" + t).addEventListener("click", () => showTab(t));
$("nav").addEventListener("keydown", (e) => {
  const focused = tabs.indexOf((e.target.id || "").replace("tab-", ""));
  const i = focused >= 0 ? focused : tabs.findIndex((t) => $("#tab-" + t).getAttribute("aria-selected") === "true");
  const next = e.key === "ArrowRight" ? (i + 1) % tabs.length : e.key === "ArrowLeft" ? (i + tabs.length - 1) % tabs.length : -1;
  if (next >= 0) { showTab(tabs[next]); $("#tab-" + tabs[next]).focus(); }
});
document.addEventListener("keydown", (e) => {
  const typing = /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName);
  if (e.key === "Escape") { state.selected = null; render(); }
  if (typing) return;
  if (e.key === "/") { e.preventDefault(); showTab("live"); $("#f-text").focus(); }
  if (e.key === "p") togglePause();
  if (e.key === "r" && !$("#view-state").hidden) loadState();
  if (/^[1-4]$/.test(e.key) && !e.ctrlKey && !e.altKey && !e.metaKey) { showTab(tabs[Number(e.key) - 1]); $("#tab-" + tabs[Number(e.key) - 1]).focus(); }
});

// ---- spec -----------------------------------------------------------------------------------
async function loadSpec() {
  const spec = await (await fetch("/_iotemu/spec")).json();
  state.spec = spec;
  const groups = spec.common.logGroups || {};
  for (const [group, g] of Object.entries(groups)) {
    state.common[group] = g.attributes || {};
    state.failure[group] = g.failureAttributes || {};
  }
  for (const [component, c] of Object.entries(spec.components)) {
    for (const e of c.entries) state.byEvent[e.eventType || e.event] = { component, group: c.logGroup, entry: e, title: c.component };
  }
  const types = Object.keys(state.byEvent).sort();
  $("#f-type").insertAdjacentHTML("beforeend", types.map((t) => `<option>${esc(t)}</option>`).join(""));
  renderMap();
}

// ---- live stream ----------------------------------------------------------------------------
// The page must not slow the emulator: the stream's messages are only queued as text
// (`state.inbox`, bounded), parsed and rendered at most every RENDER_EVERY ms in an animation
// frame (none while the tab is hidden), and only the newest MAX_TRACES traces are in the DOM.
function entryMs(e) {
  const t = e.timestamp || "";
  const ms = Date.parse(t.includes("T") ? t : t.replace(" ", "T") + "Z");
  return isNaN(ms) ? Date.now() : ms;
}
function add(entry) {
  const item = { seq: ++state.seq, entry, key: entry.traceId || "untraced-" + state.seq, ms: entryMs(entry), text: null };
  state.entries.push(item);
  const type = entry.eventType || entry.event;
  if (state.highlightSince !== null && item.ms >= state.highlightSince && isDemo(item)) state.seenTypes.add(type);
}
function isDemo(item) {
  if (item.demo === undefined) item.demo = item.entry.clientId === DEMO_CLIENT || JSON.stringify(item.entry).includes("iotemu-demo");
  return item.demo;
}
function connect() {
  // Nobody reads more than a thousand entries a second: the emulator counts the rest (event:
  // skipped) instead of sending them for the browser to parse.
  const source = new EventSource("/_iotemu/logs/stream?limit=500&maxRate=1000");
  source.onopen = () => { $("#conn").textContent = "live"; };
  source.onerror = () => { $("#conn").textContent = "reconnecting…"; };
  source.onmessage = (m) => {
    state.received++;
    state.inbox.push(m.data);
    // More than the page keeps arrived before it could render: the oldest are skipped unread.
    if (state.inbox.length >= 2 * MAX_ENTRIES) {
      const skip = state.inbox.length - MAX_ENTRIES;
      state.inbox.splice(0, skip);
      state.skipped += skip;
    }
    if (!state.paused) scheduleRender();
    else if (state.received % 50 === 1) showCounts();
  };
  source.addEventListener("skipped", (m) => {
    try { state.skipped += JSON.parse(m.data).skipped; } catch { /* not a count */ }
  });
  source.addEventListener("lagged", (m) => {
    try { state.lagged += JSON.parse(m.data).missed; } catch { /* not a count */ }
    scheduleRender();
  });
}
// Parses what arrived (the newest MAX_ENTRIES of it) and drops the oldest kept entries.
function drain() {
  if (state.inbox.length === 0) return false;
  const take = state.inbox.splice(0);
  const from = Math.max(0, take.length - MAX_ENTRIES);
  state.skipped += from;
  for (let i = from; i < take.length; i++) {
    let entry;
    try { entry = JSON.parse(take[i]); } catch { continue; }
    add(entry);
  }
  if (state.entries.length > MAX_ENTRIES) state.entries.splice(0, state.entries.length - MAX_ENTRIES);
  return true;
}
const RENDER_EVERY = 250;
let scheduled = false, lastRender = 0;
function scheduleRender() {
  if (scheduled) return;
  scheduled = true;
  const wait = Math.max(0, lastRender + RENDER_EVERY - performance.now());
  setTimeout(() => requestAnimationFrame(() => {
    scheduled = false;
    lastRender = performance.now();
    if (!state.paused) drain();
    render();
  }), wait);
}
function togglePause() {
  state.paused = !state.paused;
  $("#pause").setAttribute("aria-pressed", state.paused);
  $("#pause").textContent = state.paused ? "Resume" : "Pause";
  if (!state.paused) scheduleRender(); else showCounts();
}
$("#pause").addEventListener("click", togglePause);
$("#clear").addEventListener("click", () => { state.inbox = []; state.entries = []; state.selected = null; render(); });
for (const id of ["#f-type", "#f-client", "#f-thing", "#f-status", "#f-text"]) $(id).addEventListener("input", render);

function matches(item) {
  const e = item.entry;
  const type = $("#f-type").value, client = $("#f-client").value.trim(), thing = $("#f-thing").value.trim();
  const status = $("#f-status").value, text = $("#f-text").value.trim().toLowerCase();
  if (type && (e.eventType || e.event) !== type) return false;
  if (client && !(e.clientId || "").includes(client)) return false;
  if (status && e.status !== status) return false;
  if (thing) {
    const topic = e.topicName || "";
    if (e.thingName !== thing && !topic.includes(`things/${thing}/`) && e.deviceShadowName !== thing) return false;
  }
  if (text) {
    if (item.text === null) item.text = JSON.stringify(e).toLowerCase();
    if (!item.text.includes(text)) return false;
  }
  return true;
}

function showCounts() {
  const waiting = state.paused && state.inbox.length ? `, ${state.inbox.length} waiting` : "";
  const lost = state.skipped + state.lagged ? `, ${state.skipped + state.lagged} skipped while busy` : "";
  $("#counts").textContent = `${state.received} received, ${state.entries.length} kept, ${state.shownTraces} of ${state.traces} traces shown${waiting}${lost}`;
}

function render() {
  if ($("#view-live").hidden) { state.dirty = true; markSeen(); showCounts(); return; }
  state.dirty = false;
  const groups = new Map();
  for (const item of state.entries) {
    if (!matches(item)) continue;
    let g = groups.get(item.key);
    if (!g) groups.set(item.key, (g = []));
    g.push(item);
  }
  const list = [...groups.entries()].sort((a, b) => b[1][b[1].length - 1].seq - a[1][a[1].length - 1].seq).slice(0, MAX_TRACES);
  state.traces = groups.size;
  state.shownTraces = list.length;
  const html = list.map(([key, items]) => {
    const first = items[0].ms;
    const duration = items[items.length - 1].ms - first;
    const story = [...new Set(items.map((i) => i.entry.eventType || i.entry.event))].join(" → ");
    const hl = state.highlightSince !== null && items.some((i) => i.ms >= state.highlightSince && isDemo(i));
    const shown = items.length > MAX_ROWS ? items.slice(items.length - MAX_ROWS) : items;
    const more = items.length - shown.length;
    const rows = shown.map((i) => {
      const e = i.entry;
      return `<li><button class="entry" data-seq="${i.seq}" aria-current="${state.selected === i.seq}">` +
        `<span class="mono">${esc((e.timestamp || "").slice(11))}</span><span class="mono muted">+${i.ms - first} ms</span>` +
        `<span class="ev">${esc(e.eventType || e.event || "?")}</span><span class="${esc(e.status || "")}">${esc(e.status || "")}</span>` +
        `<span class="topic">${esc(e.clientId || "")} ${esc(e.topicName || e.ruleName || e.thingName || "")}</span></button></li>`;
    }).join("");
    return `<section class="trace${hl ? " highlight" : ""}" data-trace="${esc(key)}"><div class="trace-head">` +
      `<span class="story">${esc(story)}</span><span class="mono">traceId ${esc(key.startsWith("untraced-") ? "—" : key)}</span>` +
      `<span>${items.length} entr${items.length === 1 ? "y" : "ies"}, ${duration} ms</span></div>` +
      (more ? `<p class="muted more">${more} earlier entries of this trace not shown</p>` : "") + `<ol>${rows}</ol></section>`;
  }).join("");
  $("#timeline").innerHTML = html || `<p class="muted" style="padding:.6rem">No entries yet. Connect a device, or press "Make it happen" on the Map.</p>`;
  showCounts();
  renderDetail();
  markSeen();
}
$("#timeline").addEventListener("click", (e) => {
  const b = e.target.closest(".entry");
  if (!b) return;
  state.selected = Number(b.dataset.seq);
  render();
  $("#detail").focus();
});

function attributeInfo(type, name) {
  const info = state.byEvent[type];
  const group = info ? info.group : "AWSIotLogsV2";
  return (info && info.entry.attributes && info.entry.attributes[name]) || (state.common[group] || {})[name] || (state.failure[group] || {})[name];
}
function renderDetail() {
  const item = state.entries.find((i) => i.seq === state.selected);
  if (!item) { $("#detail").innerHTML = `<p class="muted">Select an entry to see its JSON and what each attribute means.</p>`; return; }
  const e = item.entry, type = e.eventType || e.event, info = state.byEvent[type];
  const rows = Object.entries(e).map(([k, v]) => {
    const a = attributeInfo(type, k);
    const values = a && a.values ? `<div class="muted">AWS's values: ${a.values.map(esc).join(", ")}</div>` : "";
    return `<tr><th class="mono">${esc(k)}</th><td class="mono">${esc(typeof v === "string" ? v : JSON.stringify(v))}</td>` +
      `<td>${a ? esc(a.meaning || "") + values : `<span class="muted">not in the spec</span>`}</td></tr>`;
  }).join("");
  $("#detail").innerHTML = `<h2>${esc(type)} <span class="muted">${esc(e.status || "")}</span></h2>` +
    (info ? `<p>${esc(info.entry.meaning || "")} <span class="muted">(${esc(info.title)}, log level ${esc(e.logLevel || "")})</span></p>` : "") +
    `<table aria-label="Attributes"><thead><tr><th>attribute</th><th>value</th><th>meaning</th></tr></thead><tbody>${rows}</tbody></table>` +
    `<h3>JSON</h3><pre>${esc(JSON.stringify(e, null, 2))}</pre>`;
}

// ---- the map ----------------------------------------------------------------------------------
const DEMOS = {
  "Connect": [["publish", "Make it happen"]],
  "Subscribe": [["publish", "Make it happen"]],
  "Publish-In": [["publish", "Make it happen"], ["denied", "Make it happen: policy denial"]],
  "Publish-Out": [["publish", "Make it happen"]],
  "Disconnect": [["publish", "Make it happen"]],
  "UpdateThingShadow": [["shadow", "Make it happen"]],
  "RuleNotFound": [["basic-ingest", "Make it happen"]],
};
function renderMap() {
  const out = [];
  for (const [name, c] of Object.entries(state.spec.components)) {
    out.push(`<section class="component"><h2>${esc(c.component)} <span class="muted mono">${esc(c.logGroup)}</span></h2>`);
    for (const e of c.entries) {
      const type = e.eventType || e.event;
      const levels = Object.entries(e.levels || {}).map(([s, l]) => `${esc(s)}: ${l.map(esc).join("/")}`).join(", ");
      const attrs = Object.entries(e.attributes || {}).map(([k, a]) =>
        `<tr><th class="mono">${esc(k)}</th><td>${esc(a.type)}${a.required ? "" : " (optional)"}</td><td>${esc(a.meaning || "")}${a.values ? `<div class="muted">values: ${a.values.map(esc).join(", ")}</div>` : ""}</td></tr>`).join("");
      const buttons = (DEMOS[type] || []).map(([action, label]) =>
        `<button type="button" class="demo" data-action="${action}" data-type="${esc(type)}">${esc(label)}</button>`).join("");
      out.push(`<article data-type="${esc(type)}" id="map-${esc(name)}-${esc(type)}"><h3>${esc(type)} ${buttons}</h3>` +
        `<p>${esc(e.meaning || "")} <span class="muted">Levels: ${levels}</span></p>` +
        (attrs ? `<details><summary>Attributes</summary><table>${attrs}</table></details>` : "") +
        (e.example ? `<details><summary>AWS's example</summary><pre>${esc(JSON.stringify(e.example, null, 2))}</pre></details>` : "") +
        `</article>`);
    }
    out.push(`</section>`);
  }
  $("#map").className = "map";
  $("#map").innerHTML = out.join("");
}
function markSeen() {
  for (const a of document.querySelectorAll(".map article")) a.classList.toggle("seen", state.seenTypes.has(a.dataset.type));
}
$("#map").addEventListener("click", async (e) => {
  const b = e.target.closest(".demo");
  if (!b) return;
  b.disabled = true;
  const label = b.textContent;
  b.textContent = "working…";
  try {
    state.highlightSince = Date.now() - 2000;
    state.seenTypes = new Set();
    const r = await fetch("/_iotemu/demo/" + b.dataset.action, { method: "POST" });
    const body = await r.json();
    if (!r.ok) throw new Error(body.message || r.status);
    state.highlightSince = Math.min(state.highlightSince, body.startedAt - 1000);
    b.textContent = "done ✓";
    render();
  } catch (err) {
    b.textContent = "failed: " + err.message;
  } finally {
    setTimeout(() => { b.disabled = false; b.textContent = label; }, 2500);
  }
});

// ---- AWS APIs from the page -------------------------------------------------------------------
function auth(service) {
  return `AWS4-HMAC-SHA256 Credential=console/20260101/${state.region}/${service}/aws4_request, SignedHeaders=host, Signature=console`;
}
async function logs(operation, body) {
  const r = await fetch("/", {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "Logs_20140328." + operation, authorization: auth("logs") },
    body: JSON.stringify(body),
  });
  const out = await r.json();
  if (!r.ok) throw new Error(`${out.__type}: ${out.message}`);
  return out;
}
async function rest(service, path) {
  const r = await fetch(path, { headers: { authorization: auth(service) } });
  return r.ok ? r.json() : null;
}

// ---- state at a glance ------------------------------------------------------------------------
// Read-only views over what the emulator already serves: the broker's session table
// (/_iotemu/connections), the iot and iot-data APIs (things, named shadows, rules, jobs and their
// executions) and the recent RuleMatch / RuleExecution entries of the live tail (/_iotemu/logs).
const show = (v) => (v === undefined ? "" : esc(JSON.stringify(v)));
const table = (label, head, rows) => rows.length
  ? `<table aria-label="${esc(label)}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`
  : `<p class="muted">none</p>`;
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
async function recentEntries(eventType) {
  const r = await fetch(`/_iotemu/logs?eventType=${eventType}&limit=500`);
  if (!r.ok) return [];
  return (await r.text()).split("\n").filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
}
async function shadowsOf(thing) {
  const names = await rest("iotdata", `/api/things/shadow/ListNamedShadowsForThing/${encodeURIComponent(thing)}?pageSize=100`);
  const all = [["", `/things/${encodeURIComponent(thing)}/shadow`]]
    .concat(((names && names.results) || []).map((n) => [n, `/things/${encodeURIComponent(thing)}/shadow?name=${encodeURIComponent(n)}`]));
  const got = await Promise.all(all.map(async ([name, path]) => [name, await rest("iotdata", path)]));
  return got.filter(([name, s]) => s || name === "");
}
async function executionsOf(jobId) {
  const out = await rest("iot", `/jobs/${encodeURIComponent(jobId)}/things?maxResults=50`);
  return (out && out.executionSummaries) || [];
}
let loadingState = false;
async function loadState() {
  if (loadingState) return;
  loadingState = true;
  try {
    const [health, conns, things, rules, jobs, matches, executions] = await Promise.all([
      fetch("/_iotemu/health").then((r) => r.json()),
      fetch("/_iotemu/connections").then((r) => r.json()),
      rest("iot", "/things?maxResults=250"), rest("iot", "/rules?maxResults=250"), rest("iot", "/jobs?maxResults=250"),
      recentEntries("RuleMatch"), recentEntries("RuleExecution"),
    ]);
    const connRows = conns.connections.map((c) =>
      `<tr><th class="mono">${esc(c.clientId)}</th><td class="mono" title="${esc(c.principalId)}">${esc(c.principalId.length > 24 ? c.principalId.slice(0, 12) + "…" + c.principalId.slice(-8) : c.principalId)}</td>` +
      `<td>${esc(c.protocol)} ${esc(c.mqttVersion)}</td><td class="mono">${esc(c.sourceIp)}:${c.sourcePort}</td>` +
      `<td title="${esc(new Date(c.connectedSince).toISOString())}">${esc(new Date(c.connectedSince).toLocaleTimeString())} <span class="muted">(${ago(c.connectedSince)})</span></td>` +
      `<td>${c.persistentSession ? "persistent" : "clean"}</td><td>${c.subscriptions}</td></tr>`);
    const thingRows = (await Promise.all(((things && things.things) || []).map(async (t) => {
      const shadows = await shadowsOf(t.thingName);
      return shadows.map(([name, shadow], i) => {
        const st = (shadow && shadow.state) || {};
        return `<tr data-thing="${esc(t.thingName)}" data-shadow="${esc(name)}">${i === 0 ? `<th rowspan="${shadows.length}">${esc(t.thingName)}</th>` : ""}` +
          `<td>${name ? esc(name) : `<span class="muted">classic</span>`}</td>` +
          (shadow ? `<td class="mono">${show(st.desired)}</td><td class="mono">${show(st.reported)}</td><td class="mono">${show(st.delta)}</td><td>${shadow.version ?? ""}</td>`
            : `<td colspan="4" class="muted">no shadow</td>`) + `</tr>`;
      }).join("");
    }))).filter(Boolean);
    const byRule = (list) => list.reduce((m, e) => ((m[e.ruleName] = m[e.ruleName] || []).push(e), m), {});
    const matched = byRule(matches), executed = byRule(executions);
    const ruleRows = ((rules && rules.rules) || []).map((r) => {
      const m = matched[r.ruleName] || [], x = executed[r.ruleName] || [];
      const last = m[m.length - 1], lastX = x[x.length - 1];
      const recent = last
        ? `${m.length} recent match${m.length === 1 ? "" : "es"}; last ${esc(last.timestamp.slice(11))} on <span class="mono">${esc(last.topicName || "")}</span> by <span class="mono">${esc(last.clientId || "")}</span>`
        : `<span class="muted">no recent match</span>`;
      const exec = lastX ? `<span class="${esc(lastX.status)}">${esc(lastX.status)}</span> <span class="muted">${esc(lastX.timestamp.slice(11))}</span>` : "";
      return `<tr data-rule="${esc(r.ruleName)}"><th>${esc(r.ruleName)}</th><td class="mono">${esc(r.topicPattern || "")}</td><td>${r.ruleDisabled ? "disabled" : "enabled"}</td><td>${recent}</td><td>${exec}</td></tr>`;
    });
    const jobList = (jobs && jobs.jobs) || [];
    const jobRows = await Promise.all(jobList.map(async (j) => {
      const ex = await executionsOf(j.jobId);
      const cells = ex.length ? ex.map((e) => {
        const s = e.jobExecutionSummary || {};
        const thing = (e.thingArn || "").split("/").pop();
        return `<li><span class="mono">${esc(thing)}</span> <span class="exec exec-${esc(s.status)}">${esc(s.status)}</span> <span class="muted">#${s.executionNumber ?? ""}</span></li>`;
      }).join("") : `<li class="muted">no executions</li>`;
      return `<tr data-job="${esc(j.jobId)}"><th>${esc(j.jobId)}</th><td>${esc(j.status)}</td><td>${esc(j.targetSelection || "")}</td><td><ul class="plain">${cells}</ul></td></tr>`;
    }));
    $("#state").className = "state results";
    $("#state").innerHTML =
      `<section><h2>Connected clients <span class="muted">(${conns.connections.length})</span></h2>` +
      table("Connected clients", ["client id", "principal", "protocol", "source", "since", "session", "subscriptions"], connRows) +
      `<p class="muted">Log entries dropped: ${health.logEntriesDropped}; lost by slow live readers: ${health.liveTailLagged ?? 0}.</p></section>` +
      `<section><h2>Things and their shadows</h2>${table("Things and shadows", ["thing", "shadow", "desired", "reported", "delta", "version"], thingRows)}</section>` +
      `<section><h2>Topic rules and their recent matches</h2>${table("Topic rules", ["rule", "topic pattern", "state", "recent matches (RuleMatch)", "last execution"], ruleRows)}</section>` +
      `<section><h2>Jobs and their executions</h2>${table("Jobs", ["job", "status", "target selection", "executions"], jobRows)}</section>`;
    $("#state-updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (err) {
    $("#state-updated").textContent = "cannot read the state: " + err.message;
  } finally {
    loadingState = false;
  }
}
$("#refresh-state").addEventListener("click", loadState);

// ---- Insights ---------------------------------------------------------------------------------
for (const b of document.querySelectorAll(".sample")) b.addEventListener("click", () => { $("#query").value = b.dataset.q; runQuery(); });
$("#insights-form").addEventListener("submit", runQuery);
$("#query").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runQuery(); });
async function runQuery() {
  const status = $("#query-status");
  const now = Math.floor(Date.now() / 1000);
  $("#results").innerHTML = ""; $("#chart").innerHTML = "";
  try {
    status.textContent = "running…";
    const { queryId } = await logs("StartQuery", {
      logGroupName: "AWSIotLogsV2", startTime: now - Number($("#range").value), endTime: now + 60, queryString: $("#query").value,
    });
    let out;
    for (;;) {
      out = await logs("GetQueryResults", { queryId });
      if (out.status !== "Running" && out.status !== "Scheduled") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    status.textContent = `${out.status}: ${out.results.length} rows, ${out.statistics.recordsMatched} of ${out.statistics.recordsScanned} records matched`;
    showResults(out.results);
  } catch (err) {
    status.textContent = err.message;
  }
}
function showResults(results) {
  const cols = [];
  for (const row of results) for (const f of row) if (f.field !== "@ptr" && !cols.includes(f.field)) cols.push(f.field);
  const rows = results.map((row) => {
    const m = Object.fromEntries(row.map((f) => [f.field, f.value]));
    return `<tr>${cols.map((c) => `<td class="mono">${esc(m[c] ?? "")}</td>`).join("")}</tr>`;
  });
  $("#results").className = "results";
  $("#results").innerHTML = `<table aria-label="Query results"><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
  const bin = cols.find((c) => /^bin\(/.test(c));
  const value = cols.find((c) => c !== bin && results.every((row) => row.every((f) => f.field !== c || !isNaN(Number(f.value)))));
  if (bin && value) chart(results, bin, value);
}
function chart(results, bin, value) {
  const points = results.map((row) => Object.fromEntries(row.map((f) => [f.field, f.value])))
    .filter((m) => m[bin] !== undefined).sort((a, b) => (a[bin] < b[bin] ? -1 : 1));
  const max = Math.max(1, ...points.map((p) => Number(p[value])));
  const w = 600, h = 160, bw = Math.min(40, w / Math.max(points.length, 1));
  const bars = points.map((p, i) => {
    const bh = (Number(p[value]) / max) * (h - 30);
    return `<rect x="${i * bw + 1}" y="${h - 15 - bh}" width="${Math.max(bw - 2, 1)}" height="${bh}"><title>${esc(p[bin])}: ${esc(p[value])}</title></rect>`;
  }).join("");
  const first = points[0] ? esc(points[0][bin].slice(11, 16)) : "", last = points.length ? esc(points[points.length - 1][bin].slice(11, 16)) : "";
  $("#chart").className = "chart";
  $("#chart").innerHTML = `<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(value)} by ${esc(bin)}">${bars}` +
    `<text x="0" y="${h - 2}">${first}</text><text x="${w - 30}" y="${h - 2}">${last}</text><text x="0" y="10">max ${max}</text></svg>`;
}

// ---- start ------------------------------------------------------------------------------------
fetch("/_iotemu/health").then((r) => r.json()).then((h) => { state.region = h.region || state.region; }).catch(() => {});
loadSpec().then(render).catch((e) => { $("#map").textContent = "cannot read the spec: " + e.message; });
connect();
