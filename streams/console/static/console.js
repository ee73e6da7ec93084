// LLM Router operations console: renders the server's snapshots (server-sent events) and the dead-letter panel.
// No framework, no build, no CDN: the charts are small inline SVG drawn here.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A sparkline of `values` (nulls are gaps), scaled to its own range (or [0, max] when given).
function spark(values, opts) {
  const o = Object.assign({ w: 140, h: 30, max: null, cls: "spark" }, opts || {});
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", o.w);
  svg.setAttribute("height", o.h);
  svg.setAttribute("viewBox", `0 0 ${o.w} ${o.h}`);
  svg.setAttribute("class", o.cls);
  const nums = values.filter((v) => v !== null && v !== undefined);
  if (!nums.length) return svg;
  const top = o.max !== null ? o.max : Math.max(...nums) || 1;
  const step = values.length > 1 ? o.w / (values.length - 1) : o.w;
  let path = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) { pen = false; return; }
    const x = (i * step).toFixed(1);
    const y = (o.h - 2 - (Math.min(v, top) / top) * (o.h - 4)).toFixed(1);
    path += `${pen ? "L" : "M"}${x} ${y} `;
    pen = true;
  });
  const line = document.createElementNS(SVG, "path");
  line.setAttribute("d", path.trim());
  line.setAttribute("fill", "none");
  line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

const fmt = {
  ms: (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ms`),
  pct: (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`),
  usd: (v) => (v >= 0.01 ? `$${Number(v).toFixed(2)}` : `$${Number(v).toFixed(6)}`),
  time: (iso) => (iso ? new Date(iso).toLocaleTimeString() : "–"),
};

function renderBackends(backends) {
  fill($("#backends tbody"), backends.map((b) => el("tr", { "data-backend": b.name, "data-state": b.state },
    el("td", {}, b.name),
    el("td", {}, el("span", { class: `badge state-${b.state}` }, b.state)),
    el("td", { class: "circuit" }, b.circuit),
    el("td", {}, fmt.ms(b.latency_ms)),
    el("td", {}, spark(b.history.call_latency_ms, { cls: "spark latency" })),
    el("td", {}, fmt.pct(b.error_rate)),
    el("td", {}, spark(b.history.call_error_rate, { max: 1, cls: "spark errors" })),
    el("td", {}, b.in_flight),
    el("td", { class: "reason", title: b.worker || "" }, b.reason ? `${fmt.time(b.at)} ${b.reason}` : "–"),
  )));
}

function renderQueues(queues) {
  fill($("#queues tbody"), queues.map((q) => el("tr", { "data-priority": q.priority },
    el("td", {}, q.priority), el("td", {}, q.waiting), el("td", {}, q.lag),
    el("td", {}, spark(q.history, { cls: "spark lag" })),
  )));
}

function renderCache(cache) {
  $("#cache-hit-rate").textContent = fmt.pct(cache.hit_rate);
  $("#cache-chart").replaceChildren(spark(cache.history, { max: 1, cls: "spark hits" }));
  const rows = Object.entries(cache.lookups).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)));
  fill($("#cache-lookups tbody"), rows);
  const eb = cache.error_bound;
  const status = eb.within === null ? "no verified hits yet" : eb.within ? "within the bound" : "OVER the bound";
  $("#cache-bound").textContent = `Error bound δ ${eb.bound === null ? "–" : fmt.pct(eb.bound)}: ` +
    `${eb.wrong} wrong of ${eb.verified} verified (${fmt.pct(eb.observed)}), ${status}. Stored: ${cache.stored}.`;
  $("#cache-bound").dataset.within = String(eb.within);
  $("#cache-missing").textContent = `Not exported by the workers: ${cache.not_exported.join(", ")}.`;
}

function renderCost(cost) {
  const top = Math.max(...cost.map((c) => c.cost_usd), 0) || 1;
  fill($("#cost tbody"), cost.map((c) => {
    const bar = document.createElementNS(SVG, "svg");
    bar.setAttribute("width", "100");
    bar.setAttribute("height", "10");
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("width", String(Math.max(1, (c.cost_usd / top) * 100)));
    rect.setAttribute("height", "10");
    bar.append(rect);
    return el("tr", {}, el("td", {}, c.tenant), el("td", {}, c.model), el("td", {}, fmt.usd(c.cost_usd)),
      el("td", {}, c.prompt_tokens), el("td", {}, c.completion_tokens), el("td", { class: "bar" }, bar));
  }));
}

function renderWorkers(workers, healthWorkers) {
  fill($("#workers tbody"), workers.map((w) => el("tr", { "data-worker": w.url },
    el("td", {}, w.url, w.error ? el("div", { class: "error" }, w.error) : null),
    el("td", { class: "version" }, w.version || "–"),
    el("td", {}, Object.entries(w.reloads).map(([k, v]) => `${k} ${v}`).join(", ") || "none"),
    el("td", {}, w.last_reload ? `${w.last_reload} at ${fmt.time(w.last_reload_at)}` : "none seen"),
    el("td", {}, w.needs_restart === null ? "–" : w.needs_restart),
  )));
  fill($("#health-workers tbody"), healthWorkers.map((w) =>
    el("tr", {}, el("td", {}, w.worker), el("td", { class: "version" }, w.config_version || "–"))));
}

function attemptList(attempts) {
  if (!attempts.length) return "–";
  const items = attempts.map((a) => el("li", {},
    `${a.backend}/${a.model}: ${a.ok ? "ok" : a.error_code || "failed"}` +
    `${a.http_status ? ` (HTTP ${a.http_status})` : ""}, ${a.latency_ms} ms`));
  return el("details", {}, el("summary", {}, `${attempts.length} attempt(s)`), el("ol", {}, ...items));
}

function renderFailures(failures) {
  fill($("#failures tbody"), failures.map((f) => el("tr", { class: f.terminal ? "terminal" : "" },
    el("td", {}, fmt.time(f.at)), el("td", { class: "id" }, f.request_id || "–"), el("td", {}, f.tenant || "–"),
    el("td", {}, f.stage), el("td", {}, f.code), el("td", { class: "message" }, f.message),
    el("td", {}, attemptList(f.attempts)),
  )));
}

function render(snap) {
  if (snap.backends) renderBackends(snap.backends);
  if (snap.queues) renderQueues(snap.queues);
  if (snap.cache) renderCache(snap.cache);
  if (snap.cost) renderCost(snap.cost);
  if (snap.workers) renderWorkers(snap.workers, snap.health_workers || []);
  renderFailures(snap.failures || []);
  const live = $("#live");
  live.textContent = `live · ${fmt.time(snap.at)}`;
  live.dataset.updated = String(Date.now());
  live.classList.remove("stale");
}

function connect() {
  const source = new EventSource("/api/events");
  source.onmessage = (event) => render(JSON.parse(event.data));
  source.onerror = () => { $("#live").textContent = "reconnecting…"; $("#live").classList.add("stale"); };
}

// ---- dead letters -------------------------------------------------------------------------------------------
function currentFilter() {
  const form = new FormData($("#dlq-filter"));
  const out = {};
  for (const [k, v] of form.entries()) if (String(v).trim()) out[k] = String(v).trim();
  return out;
}

async function loadLetters() {
  const reply = await fetch(`/api/dead-letters?${new URLSearchParams(currentFilter())}`);
  const data = await reply.json();
  if (!reply.ok) { $("#dlq-summary").textContent = data.error; return; }
  const reasons = Object.entries(data.by_reason).map(([k, v]) => `${k} ${v}`).join(", ");
  $("#dlq-summary").textContent = `${data.total} match${reasons ? ` (${reasons})` : ""}` +
    (data.rows.length < data.total ? `; the newest ${data.rows.length} shown` : "");
  fill($("#dead-letters tbody"), data.rows.map((d) => el("tr", { "data-dead-letter": d.dead_letter_id },
    el("td", {}, fmt.time(d.at)), el("td", {}, d.reason), el("td", { class: "id" }, d.request_id || "–"),
    el("td", {}, d.tenant || "–"), el("td", {}, d.model || "–"), el("td", {}, d.attempts),
    el("td", { class: "message" }, d.error),
  )));
}

async function replay(dryRun) {
  const body = {
    filter: currentFilter(), dry_run: dryRun,
    to_model: $("#replay-to-model").value.trim() || null, all: $("#replay-all").checked,
  };
  const result = $("#replay-result");
  result.textContent = dryRun ? "counting…" : "replaying…";
  const reply = await fetch("/api/replay", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const data = await reply.json();
  if (!reply.ok) { result.textContent = data.error; $("#replay-confirm").disabled = true; return; }
  const verb = data.dry_run ? "would replay" : "replayed";
  result.textContent = `matched ${data.matched}: ${verb} ${data.replayed}, already replayed ` +
    `${data.already_replayed}, not replayable ${data.not_replayable}` +
    (data.warnings.length ? ` · warning: ${data.warnings.join("; ")}` : "");
  result.dataset.outcome = data.dry_run ? "dry-run" : "replayed";
  $("#replay-confirm").disabled = !(data.dry_run && data.replayed > 0);
  if (!data.dry_run) loadLetters();
}

function wireDeadLetters() {
  $("#dlq-filter").addEventListener("submit", (e) => { e.preventDefault(); loadLetters(); });
  $("#dlq-filter").addEventListener("change", () => { const c = $("#replay-confirm"); if (c) c.disabled = true; });
  const dry = $("#replay-dry-run");
  if (dry) {
    dry.addEventListener("click", () => replay(true));
    $("#replay-confirm").addEventListener("click", () => replay(false));
    $("#replay-to-model").addEventListener("input", () => { $("#replay-confirm").disabled = true; });
  }
  loadLetters();
  setInterval(loadLetters, 10000);
}

document.addEventListener("DOMContentLoaded", () => { connect(); wireDeadLetters(); });
