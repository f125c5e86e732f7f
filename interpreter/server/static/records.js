// A call's trace records (docs/trace.md) as the softphone and the console
// show them: the view of one record, a list item for a line, and the socket
// that follows a live call (GET /v1/calls/{id}/ws). `describeRecord` is pure,
// for node (tests/server/test_pages.py).

// What a trace record (docs/trace.md) shows on the page: a line for the
// transcript, the tools or the events list, and the context/step it moves
// to; null for records the page does not show.
export function describeRecord(record) {
  switch (record.kind) {
    case "event":
      if (record.event === "TranscriptReceived" && record.final) return { lane: "transcript", who: "caller", text: record.text };
      if (record.event === "DigitPressed") return { lane: "transcript", who: "caller", text: `(pressed ${record.digit})` };
      return null;
    case "say":
      return { lane: "transcript", who: "agent", text: record.text };
    case "play": {
      const spoken = (record.items || []).filter((item) => item.startsWith("say:")).map((item) => item.slice(4));
      return spoken.length ? { lane: "transcript", who: "agent", text: spoken.join(" ") } : null;
    }
    case "ai_started":
      return { lane: "where", context: record.context, step: record.step };
    case "step_change":
      return { lane: "where", step: record.new, text: `step ${record.old} → ${record.new} (${record.trigger})` };
    case "context_change":
      return { lane: "where", context: record.new, step: record.step, text: `context ${record.old} → ${record.new} (${record.trigger})` };
    case "effect_started":
      return record.effect === "tool" ? { lane: "tools", text: `→ ${record.function}(${show(record.arguments)})` } : null;
    case "tool_returned":
      return { lane: "tools", text: `← ${record.function}: ${show(record.response)}${record.actions && record.actions.length ? ` [${record.actions.join(", ")}]` : ""}` };
    case "tool_failed":
      return { lane: "tools", text: `✗ ${record.function}: ${record.error} ${record.message || ""}`.trim() };
    case "barge_in":
      return { lane: "events", text: `barge-in (${BARGED_BY[record.cause || record.by] || record.cause || record.by}): the caller heard “${record.heard}”` };
    case "flow_chosen":
      return { lane: "events", text: record.flow ? `flow ${record.flow}${record.version ? ` v${record.version}` : ""} (${CHOSEN_BY[record.by] || record.by})` : "no flow took the call" };
    case "flow_unavailable":
      return { lane: "events", text: `flow unavailable: ${record.message}` };
    case "error":
      return { lane: "events", text: `${record.type}: ${record.message}` };
    case "call_ended":
      return { lane: "events", text: `call ended: ${record.disposition}` };
    default:
      return null;
  }
}

// What interrupted the agent (a barge_in record's `cause`, else `by`), in words.
const BARGED_BY = { speech: "the caller spoke", words: "the caller spoke", noise: "a noise", SpeechStarted: "the caller spoke", DigitPressed: "a key press" };

// How a flow_chosen record's flow was chosen, in words.
const CHOSEN_BY = { named: "named by the call", to: "routed by the number called", params: "routed by the call's parameters", default: "the default flow" };

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

// A list item: `text`, after a bold "who: " label when there is a `who`.
export function lineItem(text, who) {
  const item = document.createElement("li");
  if (who) {
    item.className = who;
    const label = document.createElement("b");
    label.textContent = `${who}: `;
    item.append(label);
  }
  item.append(text);
  return item;
}

// Follow a call: each of its records to `onRecord`, anything else worth
// saying (the page fell behind, the call is over) to `onNote`. A browser's
// WebSocket cannot send an Authorization header: the token rides in the
// URL, which the server accepts on WebSocket handshakes only.
export function followCall(callId, token, onRecord, onNote) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/v1/calls/${encodeURIComponent(callId)}/ws?access_token=${encodeURIComponent(token)}`);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "record") onRecord(message.record);
    else if (message.type === "lagged") onNote(`the page fell behind: ${message.detail}`);
  };
  return socket;
}
