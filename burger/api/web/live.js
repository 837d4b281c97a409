// The live order page: places orders through POST /orders and follows
// them, and the newest orders, through GET /orders/stream (server-sent
// events read with fetch, which, unlike EventSource, can send the
// credential header). No library, no build step: the API embeds this file.
"use strict";

const CREDENTIAL = "linecook.credential"; // sessionStorage: this tab only
const MINE = "linecook.mine";             // the orders placed in this tab, newest first
const FOLLOW = 5;                         // orders a stream may follow by id (the API's limit)
const SILENCE = 45000;                    // ms without a byte before a stream is taken for dead (the API sends a comment every 15 s)

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const secs = (ms) => (Math.max(0, ms) / 1000).toFixed(2) + " s";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const state = {
  menu: [],
  orders: new Map(), // id → timeline (as GET /orders/{id} shows it)
  recent: [],        // the newest orders' ids, newest first
  mine: load(MINE, []),
  stations: [],      // the pipeline's stations in order, learned from completed orders
  offset: 0,         // the API's clock minus this one, ms
  stream: null,      // the open stream's AbortController
};

function load(key, fallback) {
  try { return JSON.parse(sessionStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

// ---- credentials: the same check as any client's, so the page needs
// whatever the API asks of them.

function credential() { return sessionStorage.getItem(CREDENTIAL) || ""; }

// A JWT is three base64url parts separated by dots; anything else is
// taken for an API key.
function authHeaders() {
  const c = credential();
  if (!c) return {};
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(c) ? {Authorization: "Bearer " + c} : {"X-Api-Key": c};
}

function setConn(text, cls) {
  const el = $("conn");
  el.textContent = text;
  el.className = cls;
}

function askForCredential(reason) {
  $("auth").hidden = false;
  $("auth-error").textContent = credential() ? (reason || "the API refused this credential") : "";
  $("forget").hidden = !credential();
  $("credential").focus();
  setConn("needs a credential", "bad");
}

$("auth-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(CREDENTIAL, $("credential").value.trim());
  $("credential").value = "";
  connect();
});

$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(CREDENTIAL);
  $("forget").hidden = true;
  connect();
});

// ---- the stream

async function connect() {
  if (state.stream) state.stream.abort();
  const ctrl = new AbortController();
  state.stream = ctrl;
  let retry = 2000, dog = 0;
  const watchdog = () => { clearTimeout(dog); dog = setTimeout(() => ctrl.abort(), SILENCE); };
  try {
    const q = state.mine.length ? "?watch=" + state.mine.join(",") : "";
    const r = await fetch("/orders/stream" + q, {
      headers: {Accept: "text/event-stream", ...authHeaders()}, cache: "no-store", signal: ctrl.signal,
    });
    if (r.status === 401) {
      const body = await r.json().catch(() => ({}));
      if (state.stream === ctrl) {
        state.stream = null;
        askForCredential(body.error);
      }
      return;
    }
    if (!r.ok) throw new Error("HTTP " + r.status);
    $("auth").hidden = true;
    $("forget").hidden = !credential();
    setConn("● live", "ok");
    watchdog();
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      watchdog();
      buf += value;
      for (let i; (i = buf.indexOf("\n\n")) >= 0;) {
        const ev = parseEvent(buf.slice(0, i));
        buf = buf.slice(i + 2);
        if (ev.retry) retry = ev.retry;
        if (ev.event === "orders") apply(JSON.parse(ev.data));
      }
    }
  } catch {
    // Aborted (by a newer connection or the watchdog), or the network
    // failed: either way, see below.
  } finally {
    clearTimeout(dog);
  }
  if (state.stream !== ctrl) return; // a newer connection took over
  setConn("○ reconnecting…", "muted");
  // Spread out, so the pages of a task that stops do not all come back
  // in the same instant. Any task will do: they all read the same table.
  setTimeout(() => { if (state.stream === ctrl) connect(); }, retry + Math.random() * 1000);
}

function parseEvent(block) {
  const ev = {event: "message", data: ""};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const c = line.indexOf(":");
    const field = c < 0 ? line : line.slice(0, c);
    const value = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
    if (field === "event") ev.event = value;
    else if (field === "data") ev.data += (ev.data ? "\n" : "") + value;
    else if (field === "retry" && /^\d+$/.test(value)) ev.retry = Number(value);
  }
  return ev;
}

function apply(m) {
  state.offset = Date.parse(m.time) - Date.now();
  for (const o of m.orders || []) {
    state.orders.set(o.id, o);
    learn(o);
  }
  state.recent = m.recent || [];
  for (const id of state.orders.keys()) {
    if (!state.recent.includes(id) && !state.mine.includes(id)) state.orders.delete(id);
  }
  setConn(m.error ? "⚠ " + m.error : "● live", m.error ? "bad" : "ok");
  render();
}

// The stations in pipeline order: those of the completed order that went
// through the most of them, in the order they started.
function learn(o) {
  if (o.status === "completed" && o.stages.length >= state.stations.length) {
    state.stations = o.stages.map((s) => s.name);
  }
}

// ---- rendering

const now = () => Date.now() + state.offset;
const items = (o) => o.items.map((l) => (l.quantity > 1 ? l.quantity + "× " : "") + l.item).join(", ");
const colour = (name, i) => "c" + ((state.stations.includes(name) ? state.stations.indexOf(name) : i) % 8);

function render() {
  renderTracker();
  renderRecent();
}

// The order placed last in this tab, station by station: how long it
// waited in each station's queue and how long the station worked on it.
function renderTracker() {
  const id = state.mine[0];
  if (!id) return;
  const el = $("tracker");
  const o = state.orders.get(id);
  el.className = "";
  el.dataset.order = id;
  el.dataset.status = o ? o.status : "accepted";
  if (!o) {
    el.innerHTML = `<div class="order-head"><span class="id">${esc(id)}</span><span class="status-accepted">accepted</span></div>
      <div class="muted">on its way to the first station…</div>`;
    return;
  }
  const t = now();
  const seen = o.stages.map((s) => s.name);
  const stations = [...o.stages, ...state.stations.filter((n) => !seen.includes(n)).map((name) => ({name}))];
  const cards = stations.map((s) => {
    let st = "waiting", work = "–", wait = "";
    if (s.startedAt) {
      st = s.endedAt ? "done" : "working";
      work = s.endedAt ? secs(s.durationMs) : secs(t - Date.parse(s.startedAt));
      if (s.waitMs != null) wait = "queued " + secs(s.waitMs);
      if (s.attempts > 1) wait += ` · ${s.attempts} attempts`;
    }
    return `<div class="station" data-stage="${esc(s.name)}" data-state="${st}">
      <h3>${esc(s.name)}</h3><div class="state">${st}</div><div class="work">${work}</div><div class="wait">${wait}</div></div>`;
  });
  const t0 = Date.parse(o.createdAt);
  const span = Math.max(1, (o.completedAt ? Date.parse(o.completedAt) : t) - t0);
  const bars = o.stages.map((s, i) => {
    const a = Date.parse(s.startedAt) - t0, b = (s.endedAt ? Date.parse(s.endedAt) : t) - t0;
    return `<span class="${colour(s.name, i)}" title="${esc(s.name)}" data-left="${(100 * a / span).toFixed(2)}"
      data-width="${Math.max(0.5, 100 * (b - a) / span).toFixed(2)}"></span>`;
  }).join("");
  const total = o.endToEndMs != null
    ? `<div class="total">completed in <b id="end-to-end">${secs(o.endToEndMs)}</b></div>`
    : `<div class="total muted">${secs(t - t0)} so far</div>`;
  el.innerHTML = `<div class="order-head"><span class="id">${esc(o.id)}</span>
    <span class="status-${esc(o.status)}">${esc(o.status)}</span><span class="muted">${esc(items(o))}</span>
    <span class="muted">placed ${esc(new Date(t0).toLocaleTimeString())}</span></div>
    <div class="stations">${cards.join("")}</div>
    <div class="gantt" title="the order's time: coloured, a station at work on it; gaps, waiting in the next station's queue">${bars}</div>
    <div class="axis muted"><span>0 s</span><span>${secs(span)}</span></div>${total}`;
  place(el);
}

// The page's policy allows no style attribute in markup; bars are
// positioned through the DOM instead.
function place(el) {
  for (const bar of el.querySelectorAll("[data-left]")) {
    bar.style.left = bar.dataset.left + "%";
    bar.style.width = bar.dataset.width + "%";
  }
}

function renderRecent() {
  const rows = state.recent.map((id) => state.orders.get(id)).filter(Boolean).map((o) => {
    const chips = o.stages.map((s, i) => s.endedAt
      ? `<span class="chip ${colour(s.name, i)}" data-stage="${esc(s.name)}" title="queued ${secs(s.waitMs || 0)}">${esc(s.name)} ${secs(s.durationMs)}</span>`
      : `<span class="chip running" data-stage="${esc(s.name)}">${esc(s.name)} …</span>`).join("");
    return `<tr data-order="${esc(o.id)}" data-status="${esc(o.status)}" class="${state.mine.includes(o.id) ? "mine" : ""}">
      <td class="id" title="${esc(o.id)}">${esc(o.id.slice(-8))}</td><td>${esc(items(o))}</td>
      <td class="status-${esc(o.status)}">${esc(o.status)}</td><td><div class="chips">${chips}</div></td>
      <td class="num">${o.endToEndMs != null ? secs(o.endToEndMs) : "–"}</td></tr>`;
  });
  if (rows.length) $("recent").innerHTML = rows.join("");
}

// A stage at work shows its running time.
setInterval(() => {
  const o = state.orders.get(state.mine[0]);
  if (o && o.status !== "completed") renderTracker();
}, 250);

// ---- placing orders

async function loadMenu() {
  for (;;) {
    try {
      const r = await fetch("/menu", {cache: "no-store"});
      if (r.ok) {
        state.menu = (await r.json()).items;
        break;
      }
    } catch {
      // retried below
    }
    await sleep(2000);
  }
  $("menu").innerHTML = state.menu.map((item) => `<label for="q-${esc(item)}">${esc(item.replace(/-/g, " "))}</label>
    <input type="number" id="q-${esc(item)}" min="0" max="20" value="${item === "burger" || item === "fries" ? 1 : 0}">`).join("");
}

function result(text, cls) {
  const el = $("order-result");
  el.textContent = text;
  el.className = cls;
}

$("order-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const lines = state.menu.map((item) => ({item, quantity: Number($("q-" + item).value) || 0})).filter((l) => l.quantity > 0);
  if (!lines.length) {
    result("Choose at least one item.", "bad");
    return;
  }
  $("place").disabled = true;
  try {
    const {status, body} = await placeOrder(lines);
    if (status === 401) {
      askForCredential(body.error);
      result("rejected: " + (body.error || "a credential is needed"), "bad");
      return;
    }
    if (status !== 202) {
      result(`rejected (${status}): ${body.error || "unknown error"}`, "bad");
      return;
    }
    result("accepted: " + body.id, "ok");
    $("order-result").dataset.order = body.id;
    state.mine = [body.id, ...state.mine.filter((id) => id !== body.id)].slice(0, FOLLOW);
    sessionStorage.setItem(MINE, JSON.stringify(state.mine));
    render();
    // Follow it by id too: in a busy kitchen it soon leaves the newest.
    connect();
  } finally {
    $("place").disabled = false;
  }
});

// placeOrder posts the order with an Idempotency-Key and retries a failed
// attempt with the same key: behind the load balancer a task may be
// stopping, and the retry, on another task, gets the same order rather
// than a second one.
async function placeOrder(lines) {
  const key = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await fetch("/orders", {
        method: "POST",
        headers: {"Content-Type": "application/json", "Idempotency-Key": key, ...authHeaders()},
        body: JSON.stringify({items: lines}),
      });
      const body = await r.json().catch(() => ({}));
      if ((r.status !== 503 && r.status !== 409) || attempt === 3) return {status: r.status, body};
      await sleep(1000 * Math.min(3, Number(r.headers.get("Retry-After")) || 1));
    } catch (err) {
      if (attempt === 3) return {status: 0, body: {error: "the API is unreachable: " + err.message}};
      await sleep(1000);
    }
  }
}

loadMenu();
render();
connect();
