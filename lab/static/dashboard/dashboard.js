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

// The table's numbers stay short ("11.7k", "123k") so seven columns of them fit beside the charts on
// a 1024-pixel beamer; the tiles above show the exact counts, and a cell's tooltip its own.
function shortCount(n) {
  if (n < 10_000) return n.toLocaleString("en");
  return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
}
const countCell = (n, attrs = {}) => el("td", { ...attrs, title: n.toLocaleString("en") }, shortCount(n));

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
      countCell(r[state.okKind] || 0),
      ...fails.map((k) => countCell(r[k] || 0, { class: r[k] ? "bad" : "", "data-kind": k })),
      el("td", {}, p95 === null ? "–" : String(Math.round(p95))));
  }));
}

// The steps and errors panels share what the charts leave of the screen's height: each list shows
// its newest items, as many as fit whole (a half-cut line reads as a glitch on a projector). Both
// at once: each one's room depends on the other's length.
function fitLists() {
  const lists = [$("steps"), $("errors")];
  for (const list of lists) for (const li of list.children) li.hidden = false;
  const bottoms = lists.map((list) => list.getBoundingClientRect().bottom);   // the room with every item in
  lists.forEach((list, i) => {
    let hiding = false;
    for (const li of [...list.children].slice(1)) {
      hiding = hiding || li.getBoundingClientRect().bottom > bottoms[i] + 0.5;
      li.hidden = hiding;
    }
  });
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
    e.error ? el("div", { class: "uri detail" }, e.error) : "")));
}

// ---- charts (uPlot); the deploy steps are numbered dashed lines across both
const MARKER_ROWS = 4;   // label rows at the top of a chart: steps seconds apart stack, not overlap

// Where each step's number goes: left to right, in the first row where it clears the label before
// it; when every row is taken (many steps in a second or two), the last label takes it in ("3–6").
// Positions in canvas pixels; each label says which steps it stands for.
function placeLabels(xs, width, from, to, gap) {
  const labels = [], lastInRow = [];
  const centred = (x, w) => Math.min(Math.max(x - w / 2, from), to - w);
  xs.forEach((x, i) => {
    if (x === null) return;
    const text = String(i + 1), w = width(text), left = centred(x, w);
    let row = lastInRow.findIndex((l) => l.right + gap <= left);
    if (row < 0 && lastInRow.length < MARKER_ROWS) row = lastInRow.length;
    if (row < 0) {
      const last = labels[labels.length - 1];
      last.steps.push(i + 1);
      last.text = `${last.steps[0]}–${i + 1}`;
      const grown = width(last.text);
      last.left = Math.min(last.left, to - grown);
      last.right = last.left + grown;
      return;
    }
    const label = { steps: [i + 1], text, left, right: left + w, row };
    lastInRow[row] = label;
    labels.push(label);
  });
  return labels;
}

function markersPlugin() {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        const dpr = devicePixelRatio, pad = 4 * dpr, h = 18 * dpr, rowGap = 2 * dpr;
        const evs = shownEvents();
        const xs = evs.map((e) => {
          const x = Math.round(u.valToPos(e.t, "x", true));
          return x < left || x > left + width ? null : x;
        });
        ctx.save();
        ctx.strokeStyle = "#111"; ctx.lineWidth = 2 * dpr;
        ctx.setLineDash([6 * dpr, 4 * dpr]);
        for (const x of xs) {
          if (x !== null) { ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke(); }
        }
        ctx.setLineDash([]);
        ctx.font = `bold ${14 * dpr}px system-ui, sans-serif`;
        ctx.textAlign = "center"; ctx.textBaseline = "middle";
        const labels = placeLabels(xs, (text) => ctx.measureText(text).width + 2 * pad, left, left + width, 3 * dpr);
        for (const l of labels) {
          const y = top + l.row * (h + rowGap);
          ctx.fillStyle = "#111"; ctx.fillRect(l.left, y, l.right - l.left, h);
          ctx.fillStyle = "#fff"; ctx.fillText(l.text, (l.left + l.right) / 2, y + h / 2);
        }
        ctx.restore();
        u.root.dataset.markers = String(evs.length);
        // what was drawn, in CSS pixels from the plot's top left corner (tests/test_dashboard.py)
        u.root.dataset.markerLabels = JSON.stringify(labels.map((l) => ({
          text: l.text, steps: l.steps, left: (l.left - left) / dpr, right: (l.right - left) / dpr,
          top: l.row * (h + rowGap) / dpr, bottom: (l.row * (h + rowGap) + h) / dpr })));
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
    drawTiles(byKind); drawHeader(); drawTable(rows); drawSteps(); drawErrors(); fitLists(); drawCharts();
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
// The charts fill the boxes the layout gives them (whatever the screen, and as the panel beside
// them changes width); the lists refit to their panels.
const resized = new ResizeObserver(() => {
  if (rpsChart) rpsChart.setSize(size("rps"));
  if (latChart) latChart.setSize(size("lat"));
  fitLists();
});
for (const box of [$("rps"), $("lat"), document.querySelector("aside")]) resized.observe(box);

connect();
render();
