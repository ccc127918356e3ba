// The live deploy dashboard's page: listens to /events (server-sent events from lab/dashboard.py)
// and redraws at most a few times a second. Counts are per second, per "slot|release|kind".
"use strict";

const WINDOW_SHOWN = 120;                   // seconds on the charts (and in the counts, unless cleared):
                                            // a deploy spans a good part of them
const COLOURS = { ok: "#555", failed: "#c62828", blue: "#1565c0", green: "#2e7d32", other: "#777" };
const AXIS_FONT = "16px system-ui, 'DejaVu Sans', sans-serif";

const state = {
  kinds: [], okKind: "ok", buckets: new Map(), events: [], eventKeys: new Set(), errors: [],
  slots: [], staticMode: "", now: Date.now() / 1000, since: null, dirty: true,
};

const $ = (id) => document.getElementById(id);
const hhmmss = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });
const slotColour = (slot) => COLOURS[slot] || COLOURS.other;
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};

// ---------------------------------------------------------------- messages
function apply(msg) {
  if (msg.hello) {
    state.kinds = msg.kinds; state.okKind = msg.ok;
    state.buckets.clear(); state.events = []; state.eventKeys.clear();
    buildTiles();
  }
  state.now = msg.now;
  for (const b of msg.buckets || []) state.buckets.set(b.t, b);
  for (const e of msg.events || []) {
    const key = `${e.t}|${e.what}|${e.phase}`;
    if (!state.eventKeys.has(key)) { state.eventKeys.add(key); state.events.push(e); }
  }
  state.events.sort((a, b) => a.t - b.t);   // the lab's steps and the slot changes, in time order
  if (msg.errors) state.errors = msg.errors;
  if (msg.slots) { state.slots = msg.slots; state.staticMode = msg.static_mode; }
  const oldest = state.now - 900;
  for (const t of state.buckets.keys()) if (t < oldest) state.buckets.delete(t);
  state.dirty = true;
}

function connect() {
  const es = new EventSource("/events");
  es.onopen = () => { $("conn").textContent = "● live"; $("conn").className = ""; };
  es.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "down"; };
  es.onmessage = (ev) => apply(JSON.parse(ev.data));
}

// ---------------------------------------------------------------- counting
function countsSince(from) {
  const byKind = Object.fromEntries(state.kinds.map((k) => [k, 0]));
  const rows = new Map();      // "slot|release" -> {kind: n}
  for (const [t, b] of state.buckets) {
    if (t < Math.floor(from)) continue;
    for (const [key, n] of Object.entries(b.counts)) {
      const [slot, release, kind] = key.split("|");
      byKind[kind] = (byKind[kind] || 0) + n;
      const row = `${slot}|${release}`;
      if (!rows.has(row)) rows.set(row, {});
      const r = rows.get(row);
      r[kind] = (r[kind] || 0) + n;
    }
  }
  return { byKind, rows };
}

function p95Recent(slot) {
  // the slowest per-second p95 of the last 10 s: what a user of that slot waits now
  let worst = null;
  for (let t = Math.floor(state.now) - 10; t <= state.now; t++) {
    const b = state.buckets.get(t);
    if (b && b.lat[slot]) worst = Math.max(worst || 0, b.lat[slot][1]);
  }
  return worst;
}

// ---------------------------------------------------------------- drawing
function buildTiles() {
  document.querySelectorAll(".tile").forEach((t) => t.remove());
  for (const kind of state.kinds) {
    const tile = el("div", { class: "tile" + (kind === state.okKind ? " ok" : ""), "data-kind": kind, "data-count": "0" },
      el("div", { class: "n" }, "0"), el("div", { class: "label" }, kind === state.okKind ? "ok" : kind));
    $("tiles").insertBefore(tile, $("window"));
  }
}

function drawTiles(byKind) {
  for (const tile of document.querySelectorAll(".tile")) {
    const n = byKind[tile.dataset.kind] || 0;
    tile.dataset.count = String(n);
    tile.querySelector(".n").textContent = n.toLocaleString("en");
    tile.classList.toggle("bad", tile.dataset.kind !== state.okKind && n > 0);
  }
}

function drawHeader() {
  const box = $("slots");
  box.replaceChildren(...state.slots.map((s) => el("span", {
    class: `chip ${s.name}${s.live ? "" : " out"}`, "data-slot": s.name, "data-release": s.release,
    title: s.live ? "nginx sends it requests" : "out of nginx's rotation",
  }, `${s.name} · ${s.release}${s.live ? "" : " · out"}`)));
  $("mode").textContent = state.staticMode ? `static files: ${state.staticMode}` : "";
}

function drawTable(rows) {
  const fails = state.kinds.filter((k) => k !== state.okKind);
  const short = { "404 static asset": "404 static" };
  $("table").tHead.replaceChildren(el("tr", {}, el("th", {}, "slot · release"), el("th", {}, "ok"),
    ...fails.map((k) => el("th", {}, short[k] || k)), el("th", {}, "p95 ms")));
  const body = $("table").tBodies[0];
  const keys = [...rows.keys()].sort();
  if (!keys.length) {
    body.replaceChildren(el("tr", {}, el("td", { class: "empty", colspan: String(fails.length + 3) }, "no requests yet")));
    return;
  }
  body.replaceChildren(...keys.map((key) => {
    const [slot, release] = key.split("|");
    const r = rows.get(key);
    const p95 = p95Recent(slot);
    return el("tr", { "data-slot": slot, "data-release": release },
      el("td", { class: `slot-${slot}` }, `${slot} · ${release}`),
      el("td", {}, String(r[state.okKind] || 0)),
      ...fails.map((k) => el("td", { class: r[k] ? "bad" : "", "data-kind": k }, String(r[k] || 0))),
      el("td", {}, p95 === null ? "–" : String(Math.round(p95))));
  }));
}

function shownEvents() {
  const from = state.now - WINDOW_SHOWN;
  return state.events.filter((e) => e.phase === "start" && e.t >= from);
}

function drawSteps() {
  const evs = shownEvents();
  const list = $("steps");
  if (!evs.length) { list.replaceChildren(el("li", { class: "empty" }, "none in the last 2 minutes")); return; }
  // newest first (the last 10), numbered like the markers on the charts
  list.replaceChildren(...evs.map((e, i) => el("li", { "data-kind": e.kind },
    el("span", { class: "num" }, String(i + 1)), el("span", { class: "time" }, hhmmss(e.t)), e.what)).reverse().slice(0, 10));
}

function drawErrors() {
  const list = $("errors");
  const errs = state.errors.filter((e) => e.t >= (state.since || state.now - WINDOW_SHOWN));
  if (!errs.length) { list.replaceChildren(el("li", { class: "empty" }, "none")); return; }
  list.replaceChildren(...errs.slice(-6).reverse().map((e) => el("li", { "data-kind": e.kind },
    el("span", { class: "time" }, hhmmss(e.t)), el("span", { class: "kind" }, e.kind),
    `${e.slot} · ${e.release} `, el("span", { class: "uri" }, `${e.method} ${e.uri}`),
    e.error ? el("div", { class: "uri" }, e.error) : "")));
}

// ---- charts (uPlot); the deploy steps are numbered dashed lines across both
function markersPlugin() {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        const { top, height } = u.bbox;
        const evs = shownEvents();
        ctx.save();
        let freeFrom = Infinity;   // labels drawn right to left; one that would overlap is left out
        const xs = evs.map((e) => Math.round(u.valToPos(e.t, "x", true)));
        [...evs.keys()].reverse().forEach((i) => {
          const x = xs[i];
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
          ctx.strokeStyle = "#111"; ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
          const label = String(i + 1), pad = 4 * devicePixelRatio;
          ctx.font = `bold ${14 * devicePixelRatio}px system-ui, sans-serif`;
          const w = ctx.measureText(label).width + 2 * pad, h = 18 * devicePixelRatio;
          if (x + w / 2 > freeFrom) return;
          freeFrom = x - w / 2;
          ctx.setLineDash([]); ctx.fillStyle = "#111";
          ctx.fillRect(x - w / 2, top, w, h);
          ctx.fillStyle = "#fff"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
          ctx.fillText(label, x, top + h / 2);
        });
        ctx.restore();
        u.root.dataset.markers = String(evs.length);
      }],
    },
  };
}

const axes = (label) => [
  { font: AXIS_FONT, stroke: "#111", grid: { stroke: "#e5e5e5" }, space: 110, values: (u, vals) => vals.map(hhmmss) },
  { font: AXIS_FONT, stroke: "#111", grid: { stroke: "#e5e5e5" }, size: 60, label, labelFont: AXIS_FONT },
];

let rpsChart = null, latChart = null, latSlots = [];

function size(elId) {
  const box = $(elId);
  return { width: box.clientWidth, height: box.clientHeight };
}

function chartData() {
  const end = Math.floor(state.now), start = end - WINDOW_SHOWN;
  const xs = [], ok = [], failed = [], lat = latSlots.map(() => []);
  for (let t = start; t <= end; t++) {
    const b = state.buckets.get(t);
    let nOk = 0, nFail = 0;
    if (b) for (const [key, n] of Object.entries(b.counts)) {
      if (key.endsWith(`|${state.okKind}`)) nOk += n; else nFail += n;
    }
    xs.push(t); ok.push(nOk); failed.push(nFail);
    latSlots.forEach((s, i) => lat[i].push(b && b.lat[s] ? b.lat[s][1] : null));
  }
  return { xs, ok, failed, lat };
}

function drawCharts() {
  const slotNames = state.slots.length ? state.slots.map((s) => s.name) : ["blue", "green"];
  if (!rpsChart) {
    rpsChart = new uPlot({
      ...size("rps"), legend: { show: false }, cursor: { show: false }, padding: [12, 36, 0, 0], plugins: [markersPlugin()],
      scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(5, max * 1.1)] } },
      axes: axes("req/s"),
      series: [{}, { label: "ok", stroke: COLOURS.ok, width: 3, fill: "rgba(85,85,85,0.15)" },
               { label: "failed", stroke: COLOURS.failed, width: 4, fill: "rgba(198,40,40,0.25)" }],
    }, [[], [], []], $("rps"));
  }
  if (!latChart || latSlots.join() !== slotNames.join()) {
    if (latChart) latChart.destroy();
    latSlots = slotNames;
    latChart = new uPlot({
      ...size("lat"), legend: { show: false }, cursor: { show: false }, padding: [12, 36, 0, 0], plugins: [markersPlugin()],
      scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(50, (max || 0) * 1.1)] } },
      axes: axes("ms"),
      series: [{}, ...latSlots.map((s) => ({ label: s, stroke: slotColour(s), width: 3, spanGaps: false }))],
    }, [[], ...latSlots.map(() => [])], $("lat"));
    $("lat-key").replaceChildren(...latSlots.map((s) => el("span", {},
      el("i", { class: `sw ${s in COLOURS ? s : ""}` }), s)));
  }
  const d = chartData();
  rpsChart.setData([d.xs, d.ok, d.failed]);
  latChart.setData([d.xs, ...d.lat]);
}

function render() {
  if (state.dirty && state.kinds.length) {
    state.dirty = false;
    // after Clear: whole seconds from then on (the second it was pressed in counted before)
    const { byKind, rows } = countsSince(state.since ? Math.ceil(state.since) : state.now - WINDOW_SHOWN);
    drawTiles(byKind); drawHeader(); drawTable(rows); drawSteps(); drawErrors(); drawCharts();
    document.body.dataset.updated = String(state.now);
  }
  setTimeout(() => requestAnimationFrame(render), 250);
}

$("clear").onclick = () => {
  state.since = state.now; state.dirty = true;
  $("window-label").textContent = `since ${hhmmss(state.since)}`;
  $("unclear").hidden = false;
};
$("unclear").onclick = () => {
  state.since = null; state.dirty = true;
  $("window-label").textContent = "last 2 min";
  $("unclear").hidden = true;
};
window.addEventListener("resize", () => {
  if (rpsChart) rpsChart.setSize(size("rps"));
  if (latChart) latChart.setSize(size("lat"));
});

connect();
render();
