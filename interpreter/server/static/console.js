// The call console (/console): flows and their versions (publish, roll back,
// upload with the diagnostics of a failed upload), live calls updated in
// place (any one followed as it happens), ended calls with their trace, and
// the outbox's deliveries. Every request is the REST API's (docs/rest-api.md)
// with the token typed into the page (session.js); the pure helpers are
// exported for node (tests/server/test_pages.py).

import { describeRecord, followCall, lineItem } from "./records.js";
import { api, token, tokenForm } from "./session.js";

export const LIVE_POLL_MS = 1000;
export const SLOW_POLL_MS = 5000;

// A diagnostic (docs/rest-api.md, "Diagnostic") as the CLI prints its first line.
export function diagnosticLine(d) {
  const where = `${d.file || "flow"}:${d.line}:${d.col}`;
  return `${where}: ${d.severity} ${d.code} ${d.message}${d.hint ? ` (${d.hint})` : ""}`;
}

// The media type an uploaded file is sent as, by its extension.
export function mediaType(fileName) {
  return /\.json$/i.test(fileName) ? "application/json" : "application/yaml";
}

// What a version's row offers: publish a newer one, roll back to an older one.
export function versionAction(version, live) {
  if (version === live) return null;
  return live === null || version > live ? "publish" : "rollback";
}

// A delivery's state as the call's view says it (docs/rest-api.md, "Delivery").
export function deliveryLine(d) {
  const to = d.url ? ` to ${d.url}` : "";
  const tries = d.attempts === 1 ? "1 attempt" : `${d.attempts} attempts`;
  return `${d.kind}${to}: ${d.state}, ${tries}${d.last_status ? `, HTTP ${d.last_status}` : ""}${d.last_error ? ` — ${d.last_error}` : ""}`;
}

export function flowVersion(call) {
  return `${call.flow ?? "—"}${call.version ? ` v${call.version}` : ""}`;
}

export function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "—";
}

if (typeof document !== "undefined") main();

function main() {
  const $ = (id) => document.getElementById(id);
  let selectedFlow = null;
  let timers = [];

  const status = (text) => { $("status").textContent = text; };
  const failed = (error) => status(error.message);

  function cell(row, content) {
    const td = row.insertCell();
    if (content instanceof Node) td.append(content); else td.textContent = content ?? "—";
    return td;
  }

  function button(label, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", () => action().catch(failed));
    return b;
  }

  // ------------------------------------------------------------ flows

  async function loadFlows() {
    const { flows, bound } = await api("/v1/flows");
    const rows = flows.map((f) => {
      const row = document.createElement("tr");
      row.className = f.name === selectedFlow ? "selected" : "";
      cell(row, button(f.name, () => selectFlow(f.name)));
      cell(row, f.live === null ? "none" : `v${f.live}`);
      cell(row, `v${f.latest}`);
      cell(row, String(f.versions));
      return row;
    });
    for (const b of bound) {
      const row = document.createElement("tr");
      cell(row, b.name); cell(row, "bound"); cell(row, b.url); cell(row, "");
      rows.push(row);
    }
    $("flows").replaceChildren(...rows);
    if (selectedFlow) await loadVersions();
  }

  async function selectFlow(name) {
    selectedFlow = name;
    $("upload-name").value = name;
    await loadFlows();
  }

  async function loadVersions() {
    const { versions } = await api(`/v1/flows/${encodeURIComponent(selectedFlow)}/versions`);
    const live = (versions.find((v) => v.live) || { version: null }).version;
    $("versions-of").textContent = selectedFlow;
    $("versions").replaceChildren(...versions.slice().reverse().map((v) => {
      const row = document.createElement("tr");
      row.className = v.live ? "selected" : "";
      cell(row, `v${v.version}${v.live ? " (live)" : ""}`);
      cell(row, when(v.created_at));
      cell(row, `${v.size} B`);
      cell(row, v.warnings.join("\n"));
      const action = versionAction(v.version, live);
      cell(row, action ? button(action, () => changeLive(action, v.version, live)) : "");
      return row;
    }));
  }

  async function changeLive(action, version, live) {
    const body = action === "publish" ? { version, expected_live: live } : { version };
    await api(`/v1/flows/${encodeURIComponent(selectedFlow)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    status(`${selectedFlow} v${version} is live`);
    await loadFlows();
  }

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("upload-name").value.trim();
    const file = $("upload-file").files[0];
    const result = $("upload-result");
    result.replaceChildren();
    try {
      const uploaded = await api(`/v1/flows/${encodeURIComponent(name)}`, {
        method: "POST", headers: { "Content-Type": mediaType(file.name) }, body: await file.arrayBuffer(),
      });
      result.textContent = `stored ${uploaded.name} v${uploaded.version} as a draft` +
        (uploaded.warnings.length ? `\n${uploaded.warnings.join("\n")}` : "");
      selectedFlow = name;
      await loadFlows();
    } catch (error) {
      // Located in the file the operator picked (the server names it after the flow).
      const lines = (error.problem && error.problem.errors || []).map((d) => diagnosticLine({ ...d, file: file.name }));
      const pre = document.createElement("pre");
      pre.className = "error";
      pre.textContent = [error.message, ...lines].join("\n");
      result.append(pre);
    }
  });

  // ------------------------------------------------------------ calls

  // Live calls, one row per call kept and updated in place.
  async function loadLive() {
    const { calls } = await api("/v1/calls?state=live&limit=100");
    const body = $("live-calls");
    const seen = new Set();
    for (const c of calls) {
      seen.add(c.call_id);
      let row = body.querySelector(`tr[data-call="${CSS.escape(c.call_id)}"]`);
      if (!row) {
        row = document.createElement("tr");
        row.dataset.call = c.call_id;
        for (let i = 0; i < 5; i++) row.insertCell();
        cell(row, button("follow", async () => follow(c.call_id)));
        body.append(row);
      }
      const values = [c.call_id, flowVersion(c), c.media, c.call_state, when(c.started_at)];
      values.forEach((value, i) => { if (row.cells[i].textContent !== value) row.cells[i].textContent = value; });
    }
    for (const row of [...body.rows]) if (!seen.has(row.dataset.call)) row.remove();
  }

  // One live call's records as they happen: its transcript, steps, tools,
  // barge-ins and end, on the call's follow socket.
  let following = null;

  function follow(callId) {
    if (following) following.close();
    $("follow-of").textContent = callId;
    $("follow").replaceChildren();
    const add = (text, who, lane) => {
      const item = lineItem(text, who);
      if (lane) item.className = lane;
      $("follow").append(item);
      item.scrollIntoView({ block: "nearest" });
    };
    following = followCall(callId, token(), (record) => {
      const view = describeRecord(record);
      if (!view) return;
      if (view.lane === "transcript") add(view.text, view.who);
      else add(view.text || `context ${view.context ?? "—"}, step ${view.step ?? "—"}`, null, view.lane);
    }, (note) => add(note, null, "events"));
  }

  async function loadEnded() {
    const { calls } = await api("/v1/calls?state=ended&limit=25");
    $("ended-calls").replaceChildren(...calls.map((c) => {
      const row = document.createElement("tr");
      cell(row, button(c.call_id, () => showTrace(c.call_id)));
      cell(row, flowVersion(c));
      cell(row, c.disposition);
      cell(row, when(c.started_at));
      cell(row, c.ended_at ? (c.ended_at - c.started_at).toFixed(1) : "—");
      return row;
    }));
  }

  async function showTrace(callId) {
    const trace = await api(`/v1/calls/${encodeURIComponent(callId)}/trace`);
    $("trace-of").textContent = callId;
    showTimeline(callId).catch(() => { $("timeline").removeAttribute("src"); });
    showRecordings(callId).catch(() => { $("recordings").replaceChildren(); });
    showDeliveries(callId).catch((error) => { $("deliveries").textContent = `deliveries: ${error.message}`; });
    $("trace").textContent = trace.map((r) => {
      const { n, t, kind, ...fields } = r;
      return `${String(n).padStart(4)} ${t.toFixed(2).padStart(8)}s ${kind} ${JSON.stringify(fields)}`;
    }).join("\n");
  }

  // An <img> cannot send the token: fetch the picture, show it as a blob.
  async function showTimeline(callId) {
    const response = await fetch(`/v1/calls/${encodeURIComponent(callId)}/timeline.png`,
                                 { headers: { Authorization: `Bearer ${token()}` } });
    if (!response.ok) throw new Error(`${response.status}`);
    const image = $("timeline");
    if (image.src) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(await response.blob());
  }

  // The call's recordings, each playable (fetched with the token, as a blob).
  async function showRecordings(callId) {
    const { recordings } = await api(`/v1/calls/${encodeURIComponent(callId)}/recordings`);
    const players = await Promise.all(recordings.map(async (r) => {
      const response = await fetch(r.url, { headers: { Authorization: `Bearer ${token()}` } });
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.title = `${r.name} (${r.bytes} bytes)`;
      if (response.ok) audio.src = URL.createObjectURL(await response.blob());
      return audio;
    }));
    $("recordings").replaceChildren(...players);
  }

  // What the call's post-call work left: each delivery's state and, for a
  // summary, what the model wrote.
  async function showDeliveries(callId) {
    const { deliveries } = await api(`/v1/outbox?call_id=${encodeURIComponent(callId)}&limit=50`);
    const shown = await Promise.all(deliveries.map((d) => api(`/v1/outbox/${encodeURIComponent(d.key)}`)));
    $("deliveries").replaceChildren(...(shown.length ? shown.map(deliveryView) : [document.createTextNode("none")]));
  }

  function deliveryView(d) {
    const block = document.createElement("div");
    block.className = "delivery";
    const head = document.createElement("p");
    head.textContent = deliveryLine(d);
    block.append(head);
    if (d.summary !== null && d.summary !== undefined) {
      const summary = document.createElement("pre");
      summary.textContent = d.summary;
      block.append(summary);
    }
    return block;
  }

  // ------------------------------------------------------------ the outbox

  async function loadOutbox() {
    const { deliveries } = await api("/v1/outbox?limit=50");
    $("outbox").replaceChildren(...deliveries.map((d) => {
      const row = document.createElement("tr");
      cell(row, d.key);
      cell(row, d.call_id);
      cell(row, d.kind);
      cell(row, d.state + (d.state === "pending" && d.next_attempt_at ? ` (next ${when(d.next_attempt_at)})` : ""));
      cell(row, String(d.attempts));
      cell(row, d.last_error);
      cell(row, d.state === "failed" ? button("retry", async () => {
        await api(`/v1/outbox/${encodeURIComponent(d.key)}/retry`, { method: "POST" });
        await loadOutbox();
      }) : "");
      return row;
    }));
  }

  // ------------------------------------------------------------ the token and polling

  function every(ms, load) {
    const run = () => load().catch(failed);
    run();
    timers.push(setInterval(run, ms));
  }

  const showToken = tokenForm($, (saved) => {
    timers.forEach(clearInterval);
    timers = [];
    if (!saved) return;
    status("");
    every(LIVE_POLL_MS, loadLive);
    every(SLOW_POLL_MS, async () => { await loadFlows(); await loadEnded(); await loadOutbox(); });
  });

  showToken();
}
