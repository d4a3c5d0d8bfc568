// The trace viewer: search, trace waterfall, dependency graph and trace quality over Jaeger's
// HTTP query API (/api/services, /api/traces, /api/dependencies, /api/metrics/*) and the viewer's
// /api/quality. No framework, no network beyond this server.
// Every view is a URL: /search?service=..., /trace/<id>, /dependencies, /monitor, /quality.
"use strict";

const main = document.getElementById("main");

// Everything shown comes from spans, which anyone can send: escape it all.
const esc = (value) =>
  String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error((body.errors && body.errors[0] && body.errors[0].msg) || response.statusText);
  return body.data;
}

// A stable, distinct colour per service: palette slots by the sorted list of known services
// (loaded once), a hash for any service seen later.
const palette = ["#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#5d6d00", "#283593"];
let knownServices = [];
function colour(service) {
  const slot = knownServices.indexOf(service);
  if (slot >= 0) return palette[slot % palette.length];
  let hash = 0;
  for (const c of service) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360}, 55%, 42%)`;
}

const chip = (service) => `<span class="chip" style="background:${colour(service)}">${esc(service)}</span>`;

function ms(micros) {
  return micros >= 1000 ? `${(micros / 1000).toFixed(2)} ms` : `${micros} µs`;
}

function tagValue(tags, key) {
  const tag = (tags || []).find((t) => t.key === key);
  return tag ? tag.value : undefined;
}

const isError = (span) => tagValue(span.tags, "error") === true || tagValue(span.tags, "otel.status_code") === "ERROR";

// Summary of one trace in Jaeger's model.
function summarise(trace) {
  const ids = new Set(trace.spans.map((s) => s.spanID));
  const parentOf = (s) => (s.references || []).find((r) => r.refType === "CHILD_OF" && ids.has(r.spanID));
  const root = trace.spans.find((s) => !parentOf(s)) || trace.spans[0];
  const start = Math.min(...trace.spans.map((s) => s.startTime));
  const end = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  const service = (s) => trace.processes[s.processID].serviceName;
  return {
    id: trace.traceID,
    root,
    rootService: service(root),
    start,
    duration: end - start,
    services: [...new Set(trace.spans.map(service))].sort(),
    errors: trace.spans.filter(isError).length,
    count: trace.spans.length,
    service,
    parentOf,
  };
}

// ---- search ---------------------------------------------------------------------------------

async function renderSearch(params) {
  const services = await api("/api/services");
  const selected = params.get("service") || "";
  main.innerHTML = `
    <form class="search" id="search">
      <label>Service <select name="service"><option value="">any</option>${services
        .map((s) => `<option ${s === selected ? "selected" : ""}>${esc(s)}</option>`)
        .join("")}</select></label>
      <label>Operation <select name="operation"><option value="">all</option></select></label>
      <label>Tags <input name="tags" placeholder="error=true http.route=/api/orders" value="${esc(params.get("tags") || "")}"></label>
      <label>Min duration <input name="minDuration" placeholder="100ms" value="${esc(params.get("minDuration") || "")}"></label>
      <label>Limit <input name="limit" type="number" min="1" value="${esc(params.get("limit") || "20")}"></label>
      <button type="submit">Find traces</button>
    </form>
    <div id="results"></div>`;
  const form = document.getElementById("search");
  const operationSelect = form.elements.operation;
  async function loadOperations() {
    const service = form.elements.service.value;
    const operations = service ? await api(`/api/services/${encodeURIComponent(service)}/operations`) : [];
    const wanted = params.get("operation") || "";
    operationSelect.innerHTML = `<option value="">all</option>${operations
      .map((o) => `<option ${o === wanted ? "selected" : ""}>${esc(o)}</option>`)
      .join("")}`;
  }
  form.elements.service.addEventListener("change", loadOperations);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const name of ["service", "operation", "tags", "minDuration", "limit"]) {
      const value = form.elements[name].value.trim();
      if (value) next.set(name, value);
    }
    navigate(`/search?${next}`);
  });
  await loadOperations();
  await runSearch(params);
}

// "k=v k2=v2" (the UI's input) → Jaeger's tags JSON.
function tagsJson(input) {
  const tags = {};
  for (const pair of input.split(/\s+/).filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at > 0) tags[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return Object.keys(tags).length ? JSON.stringify(tags) : "";
}

async function runSearch(params) {
  const results = document.getElementById("results");
  const query = new URLSearchParams();
  for (const name of ["service", "operation", "minDuration", "limit"]) {
    if (params.get(name)) query.set(name, params.get(name));
  }
  const tags = tagsJson(params.get("tags") || "");
  if (tags) query.set("tags", tags);
  results.innerHTML = `<p class="muted">Searching…</p>`;
  try {
    // Settled traces that are not complete, marked in the list (a failed lookup marks none).
    const incomplete = new Map(
      (await fetch("/api/quality/traces").then((r) => (r.ok ? r.json() : [])).catch(() => []))
        .map((t) => [t.traceID, t.gaps]),
    );
    const traces = (await api(`/api/traces?${query}`)).map(summarise).sort((a, b) => b.start - a.start);
    if (!traces.length) {
      results.innerHTML = `<p class="muted">No traces match.</p>`;
      return;
    }
    results.innerHTML = `<table id="trace-list"><thead><tr><th>Root operation</th><th>Duration</th><th>Spans</th>
      <th>Services</th><th>Started</th></tr></thead><tbody>${traces
        .map(
          (t) => `<tr class="trace-row" data-trace-id="${esc(t.id)}">
            <td><a class="trace-link" href="/trace/${esc(t.id)}">${esc(t.rootService)}: ${esc(t.root.operationName)}</a>
              ${t.errors ? `<span class="badge-error" title="${t.errors} failed span(s)">error</span>` : ""}
              ${incomplete.has(t.id) ? `<span class="badge-incomplete" title="${esc(incomplete.get(t.id).join("\n"))}">incomplete</span>` : ""}</td>
            <td>${ms(t.duration)}</td><td>${t.count}</td>
            <td>${t.services.map(chip).join("")}</td>
            <td class="muted">${new Date(t.start / 1000).toLocaleTimeString()}</td></tr>`,
        )
        .join("")}</tbody></table>`;
  } catch (error) {
    results.innerHTML = `<p class="badge-error">${esc(error.message)}</p>`;
  }
}

// ---- one trace ------------------------------------------------------------------------------

async function renderTrace(traceId) {
  main.innerHTML = `<p class="muted">Loading trace ${esc(traceId)}…</p>`;
  let trace;
  try {
    trace = (await api(`/api/traces/${encodeURIComponent(traceId)}`))[0];
  } catch (error) {
    main.innerHTML = `<p><span class="badge-error">${esc(error.message)}</span> — trace ${esc(traceId)}</p>`;
    return;
  }
  const t = summarise(trace);
  // Depth-first order, children by start time; orphans at the top level.
  const children = new Map();
  for (const span of trace.spans) {
    const parent = t.parentOf(span);
    const key = parent ? parent.spanID : "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(span);
  }
  for (const list of children.values()) list.sort((a, b) => a.startTime - b.startTime);
  const rows = [];
  const walk = (span, depth) => {
    rows.push({ span, depth });
    for (const child of children.get(span.spanID) || []) walk(child, depth + 1);
  };
  for (const root of children.get("") || []) walk(root, 0);

  const total = Math.max(t.duration, 1);
  main.innerHTML = `
    <div class="trace-head">
      <h2>${esc(t.rootService)}: ${esc(t.root.operationName)} ${t.errors ? `<span class="badge-error">${t.errors} error(s)</span>` : ""}</h2>
      <div class="muted">Trace <code id="trace-id">${esc(t.id)}</code> · ${ms(t.duration)} · ${trace.spans.length} spans ·
        ${t.services.map(chip).join("")}</div>
    </div>
    <div class="layout">
      <div class="waterfall" id="waterfall">
        <div class="ruler"><div>Service / operation</div><div class="ticks"><span>0</span><span>${ms(total / 2)}</span><span>${ms(total)}</span></div></div>
        ${rows
          .map(({ span, depth }) => {
            const service = t.service(span);
            const left = ((span.startTime - t.start) / total) * 100;
            const width = Math.max((span.duration / total) * 100, 0.2);
            return `<div class="span-row ${isError(span) ? "error" : ""}" data-span-id="${esc(span.spanID)}" data-service="${esc(service)}">
              <div class="span-label" style="padding-left:${0.4 + depth * 1.1}rem;border-left-color:${colour(service)}" title="${esc(service)}: ${esc(span.operationName)}">
                <span class="svc" style="color:${colour(service)}">${esc(service)}</span>${esc(span.operationName)}${isError(span) ? " ⚠" : ""}</div>
              <div class="span-track"><div class="span-bar" style="left:${left}%;width:${width}%;background:${colour(service)}"></div>
                <span class="span-dur" style="left:${Math.min(left + width, 88)}%;padding-left:.3rem">${ms(span.duration)}</span></div>
            </div>`;
          })
          .join("")}
      </div>
      <aside class="details" id="details"><p class="muted">Select a span for its attributes, events, status and resource.</p></aside>
    </div>`;
  const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
  document.getElementById("waterfall").addEventListener("click", (event) => {
    const row = event.target.closest(".span-row");
    if (!row) return;
    document.querySelectorAll(".span-row.selected").forEach((r) => r.classList.remove("selected"));
    row.classList.add("selected");
    showDetails(trace, t, byId.get(row.dataset.spanId));
  });
  const firstError = rows.find(({ span }) => isError(span));
  showDetails(trace, t, (firstError || rows[0]).span);
}

function keyValues(pairs) {
  if (!pairs.length) return `<p class="muted">none</p>`;
  return `<table>${pairs.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</td></tr>`).join("")}</table>`;
}

function showDetails(trace, t, span) {
  const status = isError(span) ? `<span class="badge-error">ERROR</span> ${esc(tagValue(span.tags, "otel.status_description") || "")}` : "unset / ok";
  const hidden = new Set(["otel.status_code", "otel.status_description", "error", "span.kind"]);
  const attributes = span.tags.filter((tag) => !hidden.has(tag.key)).map((tag) => [tag.key, tag.value]);
  const events = (span.logs || [])
    .map((log) => {
      const name = (log.fields.find((f) => f.key === "event") || {}).value || "event";
      const fields = log.fields.filter((f) => f.key !== "event").map((f) => [f.key, f.value]);
      return `<div><strong>${esc(name)}</strong> <span class="muted">+${ms(log.timestamp - t.start)}</span>${keyValues(fields)}</div>`;
    })
    .join("");
  const links = (span.references || []).map((r) => [r.refType, `${r.traceID} / ${r.spanID}`]);
  const process = trace.processes[span.processID];
  document.getElementById("details").innerHTML = `
    <h3>${esc(span.operationName)}</h3>
    <div>${chip(process.serviceName)} ${esc(tagValue(span.tags, "span.kind") || "")} · ${ms(span.duration)} · <code>${esc(span.spanID)}</code></div>
    <h4>Status</h4><div>${status}</div>
    <h4>Attributes</h4>${keyValues(attributes)}
    <h4>Events</h4>${events || `<p class="muted">none</p>`}
    <h4>Resource</h4>${keyValues(process.tags.map((tag) => [tag.key, tag.value]))}
    <h4>Links</h4>${keyValues(links)}`;
}

// ---- dependencies ---------------------------------------------------------------------------

async function renderDependencies() {
  // Jaeger counts calls inside a service as edges to itself; the graph shows calls between them.
  const edges = (await api(`/api/dependencies?endTs=${Date.now()}&lookback=${24 * 3600 * 1000}`))
    .filter((e) => e.parent !== e.child);
  const nodes = [...new Set(edges.flatMap((e) => [e.parent, e.child]))].sort();
  if (!nodes.length) {
    main.innerHTML = `<h2>Service dependencies</h2><p class="muted">No calls between services in the last 24 hours.</p>`;
    return;
  }
  // Nodes on a circle; an arrow per caller → callee with its call count.
  const [w, h, r] = [900, 560, 210];
  const at = new Map(nodes.map((n, i) => {
    const angle = (2 * Math.PI * i) / nodes.length - Math.PI / 2;
    return [n, { x: w / 2 + r * Math.cos(angle), y: h / 2 + r * Math.sin(angle) }];
  }));
  const lines = edges
    .map((e) => {
      const a = at.get(e.parent);
      const b = at.get(e.child);
      const [dx, dy] = [b.x - a.x, b.y - a.y];
      const len = Math.hypot(dx, dy) || 1;
      const [ux, uy] = [dx / len, dy / len];
      // Offset sideways so a → b and b → a do not overlap; stop short of the node circles.
      const [ox, oy] = [-uy * 6, ux * 6];
      const [x1, y1, x2, y2] = [a.x + ux * 34 + ox, a.y + uy * 34 + oy, b.x - ux * 40 + ox, b.y - uy * 40 + oy];
      return `<g class="edge" data-parent="${esc(e.parent)}" data-child="${esc(e.child)}">
        <line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#8795a8" stroke-width="1.6" marker-end="url(#arrow)"/>
        <text x="${(x1 + x2) / 2 + ox * 2}" y="${(y1 + y2) / 2 + oy * 2}" fill="#4a5668">${e.callCount}</text></g>`;
    })
    .join("");
  const circles = nodes
    .map((n) => {
      const p = at.get(n);
      return `<g class="node" data-service="${esc(n)}"><circle cx="${p.x}" cy="${p.y}" r="30" fill="${colour(n)}"/>
        <text x="${p.x}" y="${p.y + 48}" text-anchor="middle">${esc(n)}</text></g>`;
    })
    .join("");
  main.innerHTML = `<h2>Service dependencies</h2><p class="muted">Calls between services in the stored traces of the last 24 hours (arrow: caller → callee, number: calls).</p>
    <svg class="graph" viewBox="0 0 ${w} ${h}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8795a8"/></marker></defs>${lines}${circles}</svg>`;
}

// ---- monitor: RED per service and operation (Jaeger's SPM API) --------------------------------

// Jaeger's Monitor tab defaults: the last hour, a point a minute, rates over ten minutes.
const RED_WINDOW = () => `endTs=${Date.now()}&lookback=3600000&step=60000&ratePer=600000`;

async function metric(kind, query) {
  const response = await fetch(`/api/metrics/${kind}?${query}&${RED_WINDOW()}`);
  if (!response.ok) throw new Error((await response.text()).trim());
  return (await response.json()).metrics;
}

// series → Map(label key → points [{t, v}]); NaN points (no call in the window) are skipped.
function byLabel(metrics, label) {
  const out = new Map();
  for (const m of metrics) {
    const key = (m.labels.find((l) => l.name === label) || {}).value;
    const points = m.metricPoints
      .map((p) => ({ t: Date.parse(p.timestamp), v: Number(p.gaugeValue.doubleValue) }))
      .filter((p) => Number.isFinite(p.v));
    out.set(key, points);
  }
  return out;
}

const last = (points) => (points && points.length ? points[points.length - 1].v : undefined);

function sparkline(points, colourOf) {
  if (!points || points.length < 2) return "";
  const [w, h] = [120, 24];
  const max = Math.max(...points.map((p) => p.v), 1e-9);
  const [t0, t1] = [points[0].t, points[points.length - 1].t];
  const xy = points.map((p) => `${(((p.t - t0) / (t1 - t0 || 1)) * w).toFixed(1)},${(h - (p.v / max) * h).toFixed(1)}`);
  return `<svg class="spark" width="${w}" height="${h}"><polyline fill="none" stroke="${colourOf}" stroke-width="1.5" points="${xy.join(" ")}"/></svg>`;
}

async function renderMonitor(params) {
  const selected = params.get("service");
  const services = selected ? [selected] : await api("/api/services");
  if (!services.length) {
    main.innerHTML = `<h2>Monitor</h2><p class="muted">No spans yet.</p>`;
    return;
  }
  const query = services.map((s) => `service=${encodeURIComponent(s)}`).join("&") + (selected ? "&groupByOperation=true" : "");
  const label = selected ? "operation" : "service_name";
  const [calls, errors, p50, p95] = await Promise.all([
    metric("calls", query),
    metric("errors", query),
    metric("latencies", `${query}&quantile=0.5`),
    metric("latencies", `${query}&quantile=0.95`),
  ]).then((all) => all.map((m) => byLabel(m, label)));
  const rows = [...calls.keys()].sort().map((key) => {
    const rate = last(calls.get(key));
    const error = last(errors.get(key));
    const name = selected ? esc(key) : `<a href="/monitor?service=${encodeURIComponent(key)}">${chip(key)}</a>`;
    return `<tr class="red-row" data-key="${esc(key)}"><td>${name}</td>
      <td>${rate === undefined ? "—" : rate.toFixed(3)}</td><td>${sparkline(calls.get(key), "#1565c0")}</td>
      <td>${error === undefined ? "—" : `${(error * 100).toFixed(1)}%`}</td><td>${sparkline(errors.get(key), "#c62828")}</td>
      <td>${last(p50.get(key)) === undefined ? "—" : `${last(p50.get(key)).toFixed(1)} ms`}</td>
      <td>${last(p95.get(key)) === undefined ? "—" : `${last(p95.get(key)).toFixed(1)} ms`}</td><td>${sparkline(p95.get(key), "#ef6c00")}</td></tr>`;
  });
  main.innerHTML = `<h2>Monitor${selected ? `: ${esc(selected)}` : ""}</h2>
    <p class="muted">SERVER spans of the last hour: calls per second and the share failed over the ten minutes before each
      minute, latency quantiles interpolated in the OpenTelemetry Collector's spanmetrics buckets — Jaeger's Monitor tab,
      computed from the stored spans (<code>/api/metrics/*</code>, Jaeger's API).${selected ? ` <a href="/monitor">All services</a>` : ""}</p>
    <table id="red"><thead><tr><th>${selected ? "Operation" : "Service"}</th><th>Calls/s</th><th></th><th>Errors</th><th></th>
      <th>p50</th><th>p95</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

// ---- trace quality --------------------------------------------------------------------------

async function renderQuality() {
  const response = await fetch("/api/quality");
  if (!response.ok) throw new Error(await response.text());
  const q = await response.json();
  const percent = (ratio) => (ratio === null || ratio === undefined ? "—" : `${(ratio * 100).toFixed(1)}%`);
  const roots = q.roots
    .map((r) => `<tr><td>${esc(r.root)}</td><td>${r.traces}</td><td>${r.complete}</td><td>${percent(r.ratio)}</td></tr>`)
    .join("");
  const gaps = q.gaps.map((g) => `<tr><td>${esc(g.hop)}</td><td>${g.traces}</td></tr>`).join("");
  main.innerHTML = `<h2>Trace quality</h2>
    <p class="muted">Traces that started in the last ${q.window_seconds / 60} minutes and have had no span end for
      ${q.settle_seconds} s (their spans are all in), judged by tracecheck's rules: one root, no orphan,
      every call and every message joined. ${q.unsettled} not settled yet.</p>
    <p id="quality-ratio" class="figure">${percent(q.ratio)} complete <span class="muted">(${q.complete} of ${q.traces})</span></p>
    <h3>By root operation</h3>
    ${roots ? `<table id="quality-roots"><thead><tr><th>Root</th><th>Traces</th><th>Complete</th><th>Share</th></tr></thead><tbody>${roots}</tbody></table>` : `<p class="muted">No trace judged yet.</p>`}
    <h3>Where traces break</h3>
    ${gaps ? `<table id="quality-gaps"><thead><tr><th>Hop</th><th>Traces</th></tr></thead><tbody>${gaps}</tbody></table>` : `<p class="muted">No gap: every judged trace is complete.</p>`}`;
}

// ---- routing --------------------------------------------------------------------------------

function navigate(url) {
  history.pushState(null, "", url);
  route();
}

function route() {
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  let view;
  if (path.startsWith("/trace/")) view = renderTrace(decodeURIComponent(path.slice("/trace/".length)));
  else if (path === "/dependencies") view = renderDependencies();
  else if (path === "/quality") view = renderQuality();
  else if (path === "/monitor") view = renderMonitor(params);
  else view = renderSearch(params);
  view.catch((error) => {
    main.innerHTML = `<p class="badge-error">${esc(error.message)}</p>`;
  });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='/']");
  if (link && !event.metaKey && !event.ctrlKey) {
    event.preventDefault();
    navigate(link.getAttribute("href"));
  }
});
window.addEventListener("popstate", route);
api("/api/services")
  .then((services) => (knownServices = services))
  .catch(() => {})
  .finally(route);
