// sluice console: a dependency-free single-page app. Every connector
// action is a call to the Kafka Connect REST API on the same origin
// (/connectors, /connector-plugins); /ui/api/ adds metrics history and the
// broker view. The DOM is built with createElement/textContent only, so no
// value from the server is ever parsed as HTML.
"use strict";

const HIDDEN = "[hidden]";
let timers = [];
let pageSeq = 0;

// ---- DOM and fetch helpers -------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the CSP
    else if (k === "hidden") el.hidden = true;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

class APIError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!res.ok) {
    const msg = data && data.message ? data.message : `HTTP ${res.status}`;
    throw new APIError(res.status, msg, data);
  }
  return data;
}

const enc = encodeURIComponent;

function curlFor(method, path, body) {
  let s = `curl -X ${method} ${location.origin}${path}`;
  if (body !== undefined) s += ` \\\n  -H 'Content-Type: application/json' \\\n  -d '${JSON.stringify(body)}'`;
  return s;
}

function toast(msg, bad) {
  const t = h("div", { class: "t" + (bad ? " bad" : ""), text: msg });
  document.getElementById("toast").append(t);
  setTimeout(() => t.remove(), bad ? 8000 : 4000);
}

function confirmAction(title, text, method, path) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-curl").textContent = curlFor(method, path);
  document.getElementById("confirm-ok").textContent = title;
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "cancel";
    dlg.showModal();
    document.getElementById("confirm-ok").focus();
  });
}

function fmtNum(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return "–";
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(1);
}

function fmtRate(n) { return n === undefined || n === null ? "–" : fmtNum(n) + "/s"; }

function fmtBytes(n) {
  if (n === undefined || n === null || n < 0) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}

function fmtTime(ms) {
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function badge(state) { return h("span", { class: "badge " + (state || ""), text: state || "UNKNOWN" }); }

function shortClass(c) { return (c || "").split(".").pop(); }

function every(ms, fn) {
  const seq = pageSeq;
  const tick = async () => {
    if (seq !== pageSeq) return;
    try { await fn(); } catch (e) { /* shown by fn; keep polling */ }
    if (seq === pageSeq) timers.push(setTimeout(tick, ms));
  };
  timers.push(setTimeout(tick, ms));
}

function errorBanner(e) { return h("div", { class: "banner bad", role: "alert", text: e.message || String(e) }); }

function setMain(title, ...kids) {
  const main = document.getElementById("main");
  main.replaceChildren(...kids);
  document.title = title + " · sluice console";
}

function pageHead(title, crumbs, ...right) {
  return h("div", { class: "page-head" },
    h("div", {}, crumbs ? h("div", { class: "crumbs" }, crumbs) : null, h("h1", { text: title })),
    h("div", { class: "spacer" }), ...right);
}

// ---- router ---------------------------------------------------------------

const routes = [
  [/^#\/connectors\/?$/, "connectors", pageConnectors],
  [/^#\/connectors\/([^/]+)$/, "connectors", (m) => pageConnector(decodeURIComponent(m[1]))],
  [/^#\/new$/, "new", () => pageEditor(null)],
  [/^#\/edit\/([^/]+)$/, "connectors", (m) => pageEditor(decodeURIComponent(m[1]))],
  [/^#\/topics\/?$/, "topics", pageTopics],
  [/^#\/topics\/([^/]+)$/, "topics", (m) => pageTopic(decodeURIComponent(m[1]))],
  [/^#\/groups$/, "groups", pageGroups],
  [/^#\/workers$/, "workers", pageWorkers],
];

function route() {
  timers.forEach(clearTimeout);
  timers = [];
  pageSeq++;
  const hash = location.hash || "#/connectors";
  for (const [re, nav, fn] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    document.querySelectorAll("[data-nav]").forEach((a) => {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    Promise.resolve(fn(m)).catch((e) => setMain("Error", errorBanner(e)));
    document.getElementById("main").focus({ preventScroll: true });
    return;
  }
  location.hash = "#/connectors";
}

// ---- connectors list ------------------------------------------------------

async function loadOverview() {
  const [all, hist] = await Promise.all([
    api("GET", "/connectors?expand=status&expand=info"),
    api("GET", "/ui/api/history").catch(() => ({ connectors: {} })),
  ]);
  return { all, hist };
}

function lastPoint(ch) { return ch && ch.points && ch.points.length ? ch.points[ch.points.length - 1] : null; }

async function pageConnectors() {
  const body = h("tbody");
  const table = h("div", { class: "table-wrap" }, h("table", { "aria-label": "Connectors" },
    h("thead", {}, h("tr", {},
      h("th", { text: "Name" }), h("th", { text: "Type" }), h("th", { text: "Class" }), h("th", { text: "State" }),
      h("th", { text: "Tasks" }), h("th", { text: "Worker" }), h("th", { class: "num", text: "Throughput" }),
      h("th", { class: "num", text: "Records" }), h("th", { class: "num", text: "Lag" }))),
    body));
  const err = h("div");
  const summary = h("div", { class: "stats" });
  setMain("Connectors", pageHead("Connectors", null, h("a", { class: "btn primary", href: "#/new", text: "New connector" })), err, summary, table);
  const fill = async () => {
    let data;
    try { data = await loadOverview(); err.replaceChildren(); } catch (e) { err.replaceChildren(errorBanner(e)); return; }
    const names = Object.keys(data.all).sort();
    const sts = names.map((n) => data.all[n].status).filter(Boolean);
    const card = (label, v, cls) => h("div", { class: "stat" + (cls ? " " + cls : "") }, h("div", { class: "label", text: label }), h("div", { class: "value", text: v }));
    const failedTasks = sts.reduce((a, s) => a + s.tasks.filter((t) => t.state === "FAILED").length, 0);
    const totalRate = names.reduce((a, n) => { const lp = lastPoint(data.hist.connectors[n]); return a + (lp && data.all[n].status && data.all[n].status.type === "source" ? lp.out_rate : 0); }, 0);
    summary.replaceChildren(
      card("Connectors", String(names.length)),
      card("Running", String(sts.filter((s) => s.connector.state === "RUNNING").length)),
      card("Paused or stopped", String(sts.filter((s) => s.connector.state === "PAUSED" || s.connector.state === "STOPPED").length)),
      card("Failed tasks", String(failedTasks), failedTasks ? "bad" : ""),
      card("Produced by sources", fmtRate(totalRate)));
    if (!names.length) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No connectors yet. ", h("a", { href: "#/new", text: "Create one" }), " from a plugin's config form or from JSON.")));
      return;
    }
    body.replaceChildren(...names.map((n) => {
      const e = data.all[n];
      const st = e.status || { connector: {}, tasks: [] };
      const ch = data.hist.connectors[n];
      const lp = lastPoint(ch);
      const running = st.tasks.filter((t) => t.state === "RUNNING").length;
      const failed = st.tasks.filter((t) => t.state === "FAILED").length;
      const type = (e.info && e.info.type) || st.type;
      const rate = lp ? lp.out_rate : null;
      return h("tr", { dataset: { connector: n } },
        h("td", {}, h("a", { href: "#/connectors/" + enc(n), text: n })),
        h("td", {}, h("span", { class: "badge type", text: type || "?" })),
        h("td", { class: "mono", title: e.info && e.info.config["connector.class"], text: shortClass(e.info && e.info.config["connector.class"]) }),
        h("td", {}, badge(st.connector.state)),
        h("td", {}, `${running}/${st.tasks.length} running`, failed ? h("span", { class: "badge FAILED", style: "margin-left:6px", text: failed + " failed" }) : null),
        h("td", { class: "mono", text: st.connector.worker_id || "–" }),
        h("td", { class: "num", text: fmtRate(rate) }),
        h("td", { class: "num", text: ch ? fmtNum(ch.records_out) : "–" }),
        h("td", { class: "num", text: ch && ch.lag !== undefined ? fmtNum(ch.lag) : "–" }));
    }));
  };
  await fill();
  every(3000, fill);
}

// ---- connector page -------------------------------------------------------

async function pageConnector(name) {
  const path = "/connectors/" + enc(name);
  let info;
  try { info = await api("GET", path); } catch (e) {
    setMain(name, pageHead(name, h("a", { href: "#/connectors", text: "Connectors" })), errorBanner(e));
    return;
  }
  const stateBadge = h("span");
  const actions = h("div", { class: "actions", role: "toolbar", "aria-label": "Connector actions" });
  const stats = h("div", { class: "stats" });
  const chartBox = h("div");
  const snapBox = h("div");
  const tasksBody = h("tbody");
  const openTraces = new Set();
  const err = h("div");
  const topicsBox = h("div", { class: "muted", text: "…" });
  // The REST API returns config values verbatim, as Kafka Connect does; the
  // console hides secrets itself: the plugin's PASSWORD keys, and key names
  // the worker treats as secrets (password, secret, access ... .key, JAAS).
  let passwordKeys = new Set();
  try {
    const defs = await api("GET", "/connector-plugins/" + enc(info.config["connector.class"] || "") + "/config");
    passwordKeys = new Set((defs || []).filter((d) => d.type === "PASSWORD").map((d) => d.name));
  } catch (e) { /* unknown plugin: fall back to key names */ }
  const isSecret = (k) => {
    const l = k.toLowerCase();
    return passwordKeys.has(k) || l.includes("password") || l.includes("secret") ||
      (l.endsWith(".key") && l.includes("access")) || l.endsWith("sasl.jaas.config");
  };
  const shownValue = (k) => (isSecret(k) && info.config[k] !== "" ? HIDDEN : info.config[k]);
  const cfgRows = Object.keys(info.config).sort().map((k) => h("tr", {}, h("td", { class: "mono", text: k }),
    h("td", { class: "mono" + (shownValue(k) === HIDDEN ? " muted" : ""), text: shownValue(k) })));

  const act = (label, method, sub, text, cls) => h("button", {
    class: "btn " + (cls || ""), type: "button", text: label,
    onclick: async () => {
      const p = path + sub;
      if (!(await confirmAction(label, text, method, p))) return;
      try {
        await api(method, p);
        toast(`${label}: ${name}`);
        if (method === "DELETE") { location.hash = "#/connectors"; return; }
        await refresh();
      } catch (e) { toast(`${label} failed: ${e.message}`, true); }
    },
  });
  let lastState = null;
  const renderActions = (state) => {
    if (state === lastState) return;
    lastState = state;
    actions.replaceChildren(
      state === "PAUSED" || state === "STOPPED"
        ? act("Resume", "PUT", "/resume", `Resume ${name}: its connector and tasks start processing again.`)
        : act("Pause", "PUT", "/pause", `Pause ${name}: its tasks stop processing but keep their resources and offsets.`),
      state !== "STOPPED" ? act("Stop", "PUT", "/stop", `Stop ${name}: its tasks shut down; its config and offsets are kept.`) : null,
      act("Restart", "POST", "/restart?includeTasks=true", `Restart ${name} and all of its tasks.`),
      act("Restart failed tasks", "POST", "/restart?includeTasks=true&onlyFailed=true", `Restart the connector and tasks of ${name} that are FAILED.`),
      h("a", { class: "btn", href: "#/edit/" + enc(name), text: "Edit" }),
      act("Delete", "DELETE", "", `Delete ${name}. Its config is removed; this cannot be undone.`, "danger"));
  };

  setMain(name,
    pageHead(name, h("a", { href: "#/connectors", text: "Connectors" }), stateBadge,
      h("span", { class: "badge type", text: info.type }), actions),
    err, stats,
    h("div", { class: "grid cols-2" },
      h("div", {},
        h("section", { class: "panel", "aria-labelledby": "h-tp" }, h("h2", { id: "h-tp", text: info.type === "sink" ? "Throughput and lag" : "Throughput" }), chartBox),
        snapBox,
        h("section", { class: "panel", "aria-labelledby": "h-tasks" }, h("h2", { id: "h-tasks", text: "Tasks" }),
          h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Task" }), h("th", { text: "State" }), h("th", { text: "Worker" }), h("th", { text: "Details" }), h("th", {}, h("span", { class: "sr-only", text: "Actions" })))), tasksBody))),
      h("div", {},
        h("section", { class: "panel", "aria-labelledby": "h-cfg" }, h("h2", { id: "h-cfg", text: "Configuration" }),
          h("p", { class: "muted", style: "margin:0 0 8px;font-size:12.5px", text: "As the REST API returns it, with secrets hidden in this view." }),
          h("table", { class: "cfg", "aria-labelledby": "h-cfg" }, h("tbody", {}, cfgRows))),
        h("section", { class: "panel", "aria-labelledby": "h-topics" }, h("h2", { id: "h-topics", text: "Topics" }), topicsBox))));

  const topicList = (ts, note) => topicsBox.replaceChildren(ts.length ? h("ul", { style: "margin:0;padding-left:18px" }, ts.map((x) => h("li", {}, h("a", { href: "#/topics/" + enc(x), text: x })))) : "No topics used yet.",
    note ? h("p", { class: "muted", style: "margin:8px 0 0;font-size:12.5px", text: note }) : null);
  const loadTopics = () => api("GET", path + "/topics").then((t) => topicList((t[name] && t[name].topics) || [])).catch(async (e) => {
    if (e.status !== 403) { topicList([], e.message); return; }
    // Without topic tracking (403), name the topics the config sets, or
    // those under its topic.prefix (Debezium sources).
    let ts = [info.config.topic, ...(info.config.topics || "").split(",")].map((x) => (x || "").trim()).filter((x) => x && x !== HIDDEN);
    let note = "From the config (topic tracking is off on this worker).";
    const prefix = info.config["topic.prefix"];
    if (!ts.length && prefix) {
      const all = await api("GET", "/ui/api/topics").catch(() => []);
      ts = all.map((t) => t.name).filter((n) => n.startsWith(prefix + "."));
      note = `Topics under topic.prefix “${prefix}” (topic tracking is off on this worker).`;
    }
    topicList(ts, note);
  });
  loadTopics();
  let ticks = 0;

  const refresh = async () => {
    if (++ticks % 3 === 0) loadTopics(); // new topics appear as the connector runs
    let st, hist;
    try {
      [st, hist] = await Promise.all([api("GET", path + "/status"), api("GET", "/ui/api/history")]);
      err.replaceChildren();
    } catch (e) {
      if (e.status === 404) { err.replaceChildren(errorBanner(new Error(`Connector ${name} no longer exists.`))); return; }
      err.replaceChildren(errorBanner(e)); return;
    }
    stateBadge.replaceChildren(badge(st.connector.state));
    stateBadge.dataset.state = st.connector.state;
    renderActions(st.connector.state);
    const ch = hist.connectors[name] || { points: [] };
    const lp = lastPoint(ch);
    const stat = (label, key, v) => h("div", { class: "stat" }, h("div", { class: "label", text: label }), h("div", { class: "value", dataset: { stat: key }, text: v }));
    stats.replaceChildren(
      stat("Records in", "records-in", fmtNum(ch.records_in || 0)),
      stat("Records out", "records-out", fmtNum(ch.records_out || 0)),
      stat("Throughput", "rate", fmtRate(lp ? lp.out_rate : 0)),
      stat(info.type === "sink" ? "Lag (records)" : "Errors", info.type === "sink" ? "lag" : "errors",
        fmtNum(info.type === "sink" ? (ch.lag || 0) : (ch.errors || 0))),
      stat("Tasks running", "tasks", `${st.tasks.filter((t) => t.state === "RUNNING").length} / ${st.tasks.length}`));
    if (st.tasks.some((t) => t.state === "FAILED")) stats.lastChild.classList.add("bad");
    stats.querySelector('[data-stat="records-out"]').dataset.raw = String(ch.records_out || 0);
    chartBox.replaceChildren(chart(ch.points, hist.window_ms, info.type === "sink", chartBox.clientWidth, hist.interval_ms));
    const snap = snapshotView(ch.tasks);
    snapBox.replaceChildren(...(snap ? [snap] : []));
    tasksBody.replaceChildren(...(st.tasks.length ? st.tasks.map((t) => {
      const det = t.trace ? h("details", { ontoggle: (ev) => ev.target.open ? openTraces.add(t.id) : openTraces.delete(t.id), open: openTraces.has(t.id) },
        h("summary", { text: "Error trace" }), h("pre", { class: "trace", text: t.trace })) : h("span", { class: "muted", text: "–" });
      return h("tr", { dataset: { task: t.id } }, h("td", { text: "#" + t.id }), h("td", {}, badge(t.state)),
        h("td", { class: "mono", text: t.worker_id }), h("td", {}, det),
        h("td", {}, act("Restart task", "POST", `/tasks/${t.id}/restart`, `Restart task ${t.id} of ${name}.`, "small")));
    }) : [h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No tasks." }))]));
    const failed = st.tasks.filter((t) => t.state === "FAILED");
    if (st.connector.trace) err.replaceChildren(h("div", { class: "banner bad", role: "alert" }, h("b", { text: "The connector failed" }), h("pre", { class: "trace", text: st.connector.trace })));
    else if (failed.length) err.replaceChildren(h("div", { class: "banner bad", role: "alert" },
      h("b", { text: `${failed.length} of ${st.tasks.length} task${st.tasks.length === 1 ? "" : "s"} failed` }),
      " — the error trace is under Tasks; “Restart failed tasks” restarts them once the cause is fixed."));
  };
  await refresh();
  every(2000, refresh);
}

// chart draws record rates (and lag for sinks) over the history window.
function chart(points, windowMs, showLag, width, intervalMs) {
  const W = Math.max(420, Math.round(width || 760)), H = 220, L = 56, R = showLag ? 56 : 16, T = 12, B = 26;
  const box = h("div");
  if (!points || points.length < 2) {
    box.append(h("div", { class: "empty", text: "Collecting samples… the chart fills in over the next seconds." }));
    return box;
  }
  // The x axis spans the samples held (at least a minute, at most the
  // history window), so a new connector's chart is not a sliver.
  const now = points[points.length - 1].t;
  const t0 = now - Math.min(windowMs || 600000, Math.max(60000, now - points[0].t));
  const pts = points.filter((p) => p.t >= t0);
  const maxRate = niceMax(Math.max(4, ...pts.map((p) => Math.max(p.in_rate, p.out_rate))));
  const lagPts = pts.filter((p) => p.lag !== undefined);
  const maxLag = niceMax(Math.max(4, ...lagPts.map((p) => p.lag)));
  const x = (t) => L + ((t - t0) / (now - t0)) * (W - L - R);
  const y = (v, m) => T + (1 - v / m) * (H - T - B);
  const s = svg("svg", { class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Records per second over the last ${Math.round((now - t0) / 60000)} minutes; latest ${fmtRate(pts[pts.length - 1].out_rate)} out` });
  for (let i = 0; i <= 4; i++) {
    const v = (maxRate * i) / 4;
    s.append(svg("line", { class: "grid-line", x1: L, x2: W - R, y1: y(v, maxRate), y2: y(v, maxRate) }));
    const lbl = svg("text", { class: "axis", x: L - 8, y: y(v, maxRate) + 4, "text-anchor": "end" });
    lbl.textContent = fmtNum(v);
    s.append(lbl);
    if (showLag && lagPts.length) {
      const ll = svg("text", { class: "axis", x: W - R + 8, y: y((maxLag * i) / 4, maxLag) + 4 });
      ll.textContent = fmtNum((maxLag * i) / 4);
      s.append(ll);
    }
  }
  const span = now - t0;
  for (let i = 0; i <= 5; i++) {
    const t = t0 + (span * i) / 5;
    const lbl = svg("text", { class: "axis", x: x(t), y: H - 6, "text-anchor": "middle" });
    const ago = Math.round((now - t) / 1000);
    lbl.textContent = ago === 0 ? "now" : ago >= 60 ? `-${(ago / 60).toFixed(ago % 60 ? 1 : 0)}m` : `-${ago}s`;
    s.append(lbl);
  }
  const line = (cls, f, m, arr) => s.append(svg("polyline", { class: cls, points: arr.map((p) => `${x(p.t).toFixed(1)},${y(f(p), m).toFixed(1)}`).join(" ") }));
  const base = y(0, maxRate).toFixed(1);
  s.append(svg("polygon", { class: "a-out", points: `${x(pts[0].t).toFixed(1)},${base} ` + pts.map((p) => `${x(p.t).toFixed(1)},${y(p.out_rate, maxRate).toFixed(1)}`).join(" ") + ` ${x(now).toFixed(1)},${base}` }));
  line("s-in", (p) => p.in_rate, maxRate, pts);
  line("s-out", (p) => p.out_rate, maxRate, pts);
  if (showLag && lagPts.length) line("s-lag", (p) => p.lag, maxLag, lagPts);
  box.append(s, h("div", { class: "legend" },
    h("span", {}, h("i", { style: "background:#2563eb" }), "records out/s"),
    h("span", {}, h("i", { style: "background:#10b981" }), "records in/s"),
    showLag && lagPts.length ? h("span", {}, h("i", { style: "background:#f59e0b" }), "lag (right axis)") : null,
    h("span", { class: "note", text: `from the workers' metrics every ${Math.round((intervalMs || 2000) / 1000)} s, kept in memory` })));
  return box;
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// snapshotView renders snapshot progress from task-reported gauges named
// sluice_<source>_snapshot_* (connect.MetricsReporter).
function snapshotView(tasks) {
  if (!tasks) return null;
  const rows = [];
  for (const [id, g] of Object.entries(tasks)) {
    const get = (suffix) => { for (const [k, v] of Object.entries(g)) if (k.endsWith("_snapshot_" + suffix)) return v; return undefined; };
    const total = get("tables_total");
    if (total === undefined) continue;
    const done = get("tables_done") || 0, rowsRead = get("rows") || 0;
    const state = get("completed") ? "completed" : get("running") ? "running" : get("skipped") ? "skipped (streaming resumed)" : "pending";
    const pct = get("completed") ? 100 : total > 0 ? Math.round((100 * done) / total) : 0;
    rows.push(h("div", { class: "progress-row" }, h("span", { text: "Task #" + id }),
      h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": `Snapshot of task ${id}` }, h("div", { style: `width:${pct}%` })),
      h("span", { class: "muted", text: `${done}/${total} tables, ${fmtNum(rowsRead)} rows · ${state}` })));
  }
  if (!rows.length) return null;
  return h("section", { class: "panel", "aria-labelledby": "h-snap" }, h("h2", { id: "h-snap", text: "Initial snapshot" }), rows);
}

// ---- create / edit --------------------------------------------------------

const SKIP_KEYS = new Set(["name", "connector.class"]);

async function pageEditor(editName) {
  const plugins = await api("GET", "/connector-plugins");
  let current = null; // config being edited (masked as the API returns it)
  if (editName) current = await api("GET", "/connectors/" + enc(editName) + "/config");
  const title = editName ? "Edit " + editName : "New connector";
  const banner = h("div", { "aria-live": "polite" });
  const pluginSel = h("select", { id: "f-plugin", disabled: !!editName },
    h("option", { value: "", text: "Choose a connector plugin…" }),
    plugins.map((p) => h("option", { value: p.class, text: `${shortClass(p.class)} (${p.type}) — ${p.class}` })));
  const nameIn = h("input", { type: "text", id: "f-name", autocomplete: "off", required: true, readonly: !!editName, "aria-describedby": "f-name-err" });
  const nameErr = h("div", { id: "f-name-err", class: "err" });
  const formBox = h("form", { class: "config", novalidate: true, id: "panel-form", role: "tabpanel", "aria-labelledby": "tab-form", onsubmit: (e) => { e.preventDefault(); submit(); } });
  const jsonArea = h("textarea", { class: "json", id: "f-json", spellcheck: "false", "aria-label": "Connector JSON" });
  const jsonBox = h("div", { hidden: true, id: "panel-json", role: "tabpanel", "aria-labelledby": "tab-json" }, h("p", { class: "muted", text: 'The body of POST /connectors: {"name": …, "config": {…}}. Validation uses the plugin in "connector.class".' }), jsonArea);
  let mode = "form";
  let defs = [];
  // extra holds keys the form has no field for (converter options,
  // transforms.*, ...), set in JSON or in the stored config; the form keeps
  // them as they are.
  let extra = {};
  const extraNote = h("p", { class: "muted", "aria-live": "polite" });
  const tabForm = h("button", { type: "button", role: "tab", "aria-selected": "true", "aria-controls": "panel-form", id: "tab-form", text: "Form", onclick: () => setMode("form") });
  const tabJSON = h("button", { type: "button", role: "tab", "aria-selected": "false", "aria-controls": "panel-json", id: "tab-json", text: "JSON", onclick: () => setMode("json") });
  const validateBtn = h("button", { type: "button", class: "btn", text: "Validate", onclick: () => validate() });
  const submitBtn = h("button", { type: "button", class: "btn primary", text: editName ? "Save changes" : "Create connector", onclick: () => submit() });

  if (editName) {
    pluginSel.value = current["connector.class"];
    if (!pluginSel.value) pluginSel.append(h("option", { value: current["connector.class"], text: current["connector.class"], selected: true }));
    nameIn.value = editName;
  }

  setMain(title,
    pageHead(title, h("a", { href: editName ? "#/connectors/" + enc(editName) : "#/connectors", text: editName || "Connectors" })),
    banner,
    h("div", { class: "panel" },
      h("div", { class: "row" },
        h("label", { for: "f-plugin" }, "Connector plugin", pluginSel),
        h("label", { for: "f-name", style: "min-width:280px" }, "Name", nameIn)),
      nameErr),
    h("div", { class: "tabs", role: "tablist", "aria-label": "Editor" }, tabForm, tabJSON),
    formBox, jsonBox,
    h("div", { class: "actions", style: "margin-top:12px" }, validateBtn, submitBtn));

  function fieldValues() {
    const cfg = {};
    formBox.querySelectorAll("[data-key]").forEach((el) => {
      const v = el.value;
      if (v !== "") cfg[el.dataset.key] = v;
    });
    return cfg;
  }

  function currentConfig() {
    if (mode === "json") {
      let parsed;
      try { parsed = JSON.parse(jsonArea.value); } catch (e) { throw new Error("The JSON is not valid: " + e.message); }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error('The JSON must be an object like {"name": "…", "config": {…}}');
      const cfg = parsed.config && typeof parsed.config === "object" ? parsed.config : parsed;
      const out = {};
      for (const [k, v] of Object.entries(cfg)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
      const nm = parsed.name || out.name || nameIn.value.trim();
      if (nm) out.name = nm;
      if (!out["connector.class"]) out["connector.class"] = pluginSel.value;
      return out;
    }
    const cfg = Object.assign({}, extra, fieldValues());
    cfg["connector.class"] = pluginSel.value;
    cfg.name = nameIn.value.trim();
    return cfg;
  }

  function setMode(m) {
    if (m === mode) return;
    try {
      if (m === "json") {
        const cfg = currentConfig();
        const name = cfg.name; delete cfg.name;
        jsonArea.value = JSON.stringify({ name, config: cfg }, null, 2);
      } else {
        const cfg = currentConfig();
        if (cfg.name && !editName) nameIn.value = cfg.name;
        if (cfg["connector.class"] && cfg["connector.class"] !== pluginSel.value && !editName) {
          pluginSel.value = cfg["connector.class"];
          loadPlugin(cfg);
        } else fillForm(cfg);
      }
    } catch (e) { banner.replaceChildren(errorBanner(e)); return; }
    mode = m;
    tabForm.setAttribute("aria-selected", String(m === "form"));
    tabJSON.setAttribute("aria-selected", String(m === "json"));
    formBox.hidden = m !== "form";
    jsonBox.hidden = m !== "json";
  }

  function fillForm(cfg) {
    const fields = new Set();
    formBox.querySelectorAll("[data-key]").forEach((el) => {
      fields.add(el.dataset.key);
      el.value = cfg[el.dataset.key] !== undefined ? cfg[el.dataset.key] : "";
    });
    extra = {};
    for (const [k, v] of Object.entries(cfg)) if (!fields.has(k) && !SKIP_KEYS.has(k)) extra[k] = v;
    const n = Object.keys(extra).length;
    extraNote.textContent = n ? `Also set, without a field here (edit them in the JSON tab): ${Object.keys(extra).sort().join(", ")}.` : "";
  }

  async function loadPlugin(prefill) {
    if (!prefill) { extra = {}; extraNote.textContent = ""; }
    formBox.replaceChildren(h("div", { class: "muted", text: "Loading the plugin's configuration…" }));
    if (!pluginSel.value) { formBox.replaceChildren(h("div", { class: "empty", text: "Choose a plugin to see its configuration form." })); return; }
    try { defs = await api("GET", "/connector-plugins/" + enc(pluginSel.value) + "/config"); } catch (e) { formBox.replaceChildren(errorBanner(e)); return; }
    // The plugin's own keys (no group) come first, then Kafka Connect's
    // common keys; the rest (transforms, error handling...) start folded.
    const own = shortClass(pluginSel.value).replace(/Connector$/, "") + " settings";
    const groups = new Map([[own, []], ["Common", []]]);
    for (const d of defs) {
      if (SKIP_KEYS.has(d.name)) continue;
      const g = d.group || own;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(d);
    }
    const kids = [];
    for (const [g, ds] of groups) {
      if (!ds.length) continue;
      ds.sort((a, b) => (b.required - a.required) || (a.order - b.order));
      const important = g === own || g === "Common" || ds.some((d) => d.required);
      const fs = h("fieldset", { "data-group": g }, h("legend", { text: g }), ds.map(fieldFor));
      kids.push(important ? fs : h("details", { class: "group" }, h("summary", { text: `${g} (${ds.length} option${ds.length === 1 ? "" : "s"})` }), fs));
    }
    formBox.replaceChildren(...kids, extraNote, h("button", { type: "submit", hidden: true, tabindex: "-1", text: "Submit" }));
    if (prefill) fillForm(prefill);
  }

  function fieldFor(d) {
    const id = "f-" + d.name.replace(/[^a-zA-Z0-9_-]/g, "_");
    const describedBy = `${id}-doc ${id}-err`;
    let input;
    const common = { id, "data-key": d.name, "aria-describedby": describedBy, "aria-required": d.required ? "true" : null };
    if (d.type === "BOOLEAN") {
      input = h("select", common, h("option", { value: "", text: d.default_value !== null && d.default_value !== undefined ? `default (${d.default_value})` : "not set" }),
        h("option", { value: "true", text: "true" }), h("option", { value: "false", text: "false" }));
    } else {
      input = h("input", Object.assign({
        type: d.type === "PASSWORD" ? "password" : "text", autocomplete: "off",
        inputmode: ["INT", "LONG", "SHORT", "DOUBLE"].includes(d.type) ? "decimal" : null,
        placeholder: d.default_value !== null && d.default_value !== undefined && d.default_value !== "" ? `default: ${d.default_value}` : d.type === "LIST" ? "comma-separated" : "",
      }, common));
    }
    const doc = (d.documentation || "") + ` (${d.type.toLowerCase()}${d.importance ? ", " + d.importance.toLowerCase() + " importance" : ""})`;
    return h("div", { class: "field", "data-field": d.name },
      h("label", { for: id }, d.display_name || d.name, d.required ? h("span", { class: "req", "aria-hidden": "true", text: "*" }) : null,
        d.required ? h("span", { class: "sr-only", text: " (required)" }) : null,
        d.display_name && d.display_name !== d.name ? h("span", { class: "key", text: d.name }) : null),
      input,
      h("div", { class: "doc", id: id + "-doc", text: doc }),
      h("div", { class: "err", id: id + "-err", role: "alert" }));
  }

  function clearErrors() {
    banner.replaceChildren();
    nameErr.textContent = "";
    formBox.querySelectorAll(".field.invalid").forEach((f) => f.classList.remove("invalid"));
    formBox.querySelectorAll(".field .err").forEach((e) => { e.textContent = ""; });
    formBox.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  }

  // validate asks the validate endpoint and shows each error next to its
  // field; it returns true when the config has no errors.
  async function validate(quiet) {
    clearErrors();
    let cfg;
    try { cfg = currentConfig(); } catch (e) { banner.replaceChildren(errorBanner(e)); return false; }
    if (!cfg["connector.class"]) { banner.replaceChildren(errorBanner(new Error("Choose a connector plugin first."))); return false; }
    if (!cfg.name) { nameErr.textContent = "A connector name is required."; nameIn.setAttribute("aria-invalid", "true"); nameIn.focus(); return false; }
    let res;
    try { res = await api("PUT", "/connector-plugins/" + enc(cfg["connector.class"]) + "/config/validate", cfg); } catch (e) { banner.replaceChildren(errorBanner(e)); return false; }
    const others = [];
    let firstBad = null;
    for (const c of res.configs) {
      const errs = c.value.errors || [];
      if (!errs.length) continue;
      const field = mode === "form" ? formBox.querySelector(`.field[data-field="${CSS.escape(c.value.name)}"]`) : null;
      if (field) {
        field.classList.add("invalid");
        field.querySelector(".err").textContent = errs.join(" ");
        const inp = field.querySelector("[data-key]");
        inp.setAttribute("aria-invalid", "true");
        const det = field.closest("details");
        if (det) det.open = true;
        if (!firstBad) firstBad = inp;
      } else if (c.value.name === "name") {
        nameErr.textContent = errs.join(" ");
      } else {
        others.push(`${c.value.name}: ${errs.join(" ")}`);
      }
    }
    if (res.error_count > 0) {
      banner.replaceChildren(h("div", { class: "banner bad", role: "alert" },
        h("b", { text: `${res.error_count} configuration error${res.error_count > 1 ? "s" : ""}` }), " — nothing was created or changed.",
        others.length ? h("ul", { style: "margin:6px 0 0" }, others.map((o) => h("li", { class: "mono", text: o }))) : null));
      if (firstBad) firstBad.focus();
      return false;
    }
    if (!quiet) banner.replaceChildren(h("div", { class: "banner ok", role: "status", text: "The configuration is valid." }));
    return true;
  }

  async function submit() {
    submitBtn.disabled = true;
    try {
      if (!(await validate(true))) return;
      const cfg = currentConfig();
      if (!editName) {
        const name = cfg.name;
        await api("POST", "/connectors", { name, config: cfg });
        toast(`Created ${name}`);
        location.hash = "#/connectors/" + enc(name);
        return;
      }
      // Edit: PATCH only what changed, so masked secrets are never written back.
      const patch = {};
      for (const [k, v] of Object.entries(cfg)) if (current[k] !== v && v !== HIDDEN) patch[k] = v;
      for (const k of Object.keys(current)) if (!(k in cfg) && !SKIP_KEYS.has(k) && (mode === "json" || formBox.querySelector(`[data-key="${CSS.escape(k)}"]`))) patch[k] = null;
      if (!Object.keys(patch).length) { banner.replaceChildren(h("div", { class: "banner info", text: "Nothing changed." })); return; }
      await api("PATCH", "/connectors/" + enc(editName) + "/config", patch);
      toast(`Saved ${editName}`);
      location.hash = "#/connectors/" + enc(editName);
    } catch (e) {
      banner.replaceChildren(errorBanner(e));
    } finally { submitBtn.disabled = false; }
  }

  pluginSel.addEventListener("change", () => loadPlugin(null));
  if (editName) await loadPlugin(current); else formBox.replaceChildren(h("div", { class: "empty", text: "Choose a plugin to see its configuration form." }));
}

// ---- topics ---------------------------------------------------------------

async function pageTopics() {
  const body = h("tbody");
  const err = h("div");
  setMain("Topics", pageHead("Topics"), err, h("div", { class: "table-wrap" }, h("table", { "aria-label": "Topics" },
    h("thead", {}, h("tr", {}, h("th", { text: "Topic" }), h("th", { class: "num", text: "Partitions" }), h("th", { class: "num", text: "Records" }),
      h("th", { class: "num", text: "End offset" }), h("th", { class: "num", text: "Size" }))), body)));
  const fill = async () => {
    let ts;
    try { ts = await api("GET", "/ui/api/topics"); err.replaceChildren(); } catch (e) { err.replaceChildren(errorBanner(e)); return; }
    ts.sort((a, b) => (isInternal(a) - isInternal(b)) || a.name.localeCompare(b.name));
    body.replaceChildren(...(ts.length ? ts.map((t) => h("tr", { dataset: { topic: t.name } },
      h("td", {}, h("a", { href: "#/topics/" + enc(t.name), text: t.name }), isInternal(t) ? h("span", { class: "badge", style: "margin-left:8px", text: "internal" }) : null),
      h("td", { class: "num", text: t.partitions.length }),
      h("td", { class: "num", text: fmtNum(t.records) }),
      h("td", { class: "num", title: t.partitions.length > 1 ? "Sum over partitions: " + t.partitions.map((p) => p.end_offset).join(", ") : null,
        text: fmtNum(t.partitions.reduce((a, p) => a + p.end_offset, 0)) + (t.partitions.length > 1 ? " (sum)" : "") }),
      h("td", { class: "num", text: t.partitions.some((p) => p.size_bytes >= 0) ? fmtBytes(t.size_bytes) : "–" }))) :
      [h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No topics." }))]));
  };
  await fill();
  every(5000, fill);
}

function isInternal(t) { return t.internal || t.protected || t.name.startsWith("__") || /^connect-(configs|offsets|status)$/.test(t.name) ? 1 : 0; }

async function pageTopic(name) {
  const t = await api("GET", "/ui/api/topics/" + enc(name));
  const partSel = h("select", { id: "m-part" }, t.partitions.map((p) => h("option", { value: p.partition, text: `Partition ${p.partition} (offsets ${p.start_offset}–${p.end_offset})` })));
  const limitSel = h("select", { id: "m-limit" }, [10, 20, 50, 100, 200].map((n) => h("option", { value: n, text: n, selected: n === 20 })));
  const list = h("div", { id: "messages", "aria-live": "polite" });
  const load = async () => {
    list.replaceChildren(h("div", { class: "muted", text: "Reading…" }));
    try {
      const res = await api("GET", `/ui/api/topics/${enc(name)}/messages?partition=${partSel.value}&limit=${limitSel.value}`);
      list.replaceChildren(res.messages.length ? h("p", { class: "muted", text: `Latest ${res.messages.length} of partition ${res.partition} (offsets ${res.start_offset}–${res.end_offset}), newest first.` }) : h("div", { class: "empty", text: "This partition has no records." }),
        ...res.messages.map(messageView));
    } catch (e) { list.replaceChildren(errorBanner(e)); }
  };
  setMain(name,
    pageHead(name, h("a", { href: "#/topics", text: "Topics" })),
    h("section", { class: "panel", "aria-labelledby": "h-parts" }, h("h2", { id: "h-parts", text: "Partitions" }),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Partition" }), h("th", { text: "Leader" }), h("th", { text: "Replicas" }), h("th", { text: "ISR" }),
        h("th", { class: "num", text: "Start offset" }), h("th", { class: "num", text: "End offset" }), h("th", { class: "num", text: "Size" }))),
        h("tbody", {}, t.partitions.map((p) => h("tr", {}, h("td", { text: p.partition }), h("td", { text: p.leader }), h("td", { text: p.replicas.join(", ") }),
          h("td", { text: p.isr.join(", ") }), h("td", { class: "num", text: p.start_offset }), h("td", { class: "num", text: p.end_offset }),
          h("td", { class: "num", text: fmtBytes(p.size_bytes) })))))),
    h("section", { class: "panel", "aria-labelledby": "h-msgs" }, h("h2", { id: "h-msgs", text: "Message browser" }),
      t.protected ? h("div", { class: "banner info", text: "This is the worker's config topic: its records hold connector configs with unmasked secrets, so the console does not show them." }) : null,
      h("div", { class: "row", style: "margin-bottom:12px" },
        h("label", { for: "m-part" }, "Partition", partSel), h("label", { for: "m-limit" }, "Records", limitSel),
        h("button", { class: "btn primary", type: "button", text: "Load latest", onclick: load, disabled: t.protected })),
      list));
  if (!t.protected) await load();
}

function dataView(d) {
  if (d.encoding === "null") return h("span", { class: "muted mono", text: "null" });
  let text = d.value;
  let schema = null;
  if (d.encoding === "json") {
    let v = d.value;
    // JsonConverter with schemas.enable: show the payload, fold the schema.
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 2 && "schema" in v && "payload" in v) {
      schema = v.schema;
      v = v.payload;
    }
    text = typeof v === "string" && schema ? v : JSON.stringify(v, null, 2);
  }
  return h("div", {}, h("pre", { class: "mono", text: text + (d.truncated ? "\n… (truncated)" : "") }),
    schema ? h("details", { class: "schema" }, h("summary", { text: `JsonConverter envelope: schema ${schema.type || ""}${schema.name ? " " + schema.name : ""}` }),
      h("pre", { class: "mono", text: JSON.stringify(schema, null, 2) })) : null);
}

function messageView(m) {
  return h("article", { class: "msg", dataset: { offset: m.offset }, "aria-label": `Record at offset ${m.offset}` },
    h("header", {}, h("span", {}, "offset ", h("b", { text: m.offset })), h("span", {}, "partition ", h("b", { text: m.partition })),
      h("span", { text: fmtTime(m.timestamp) })),
    h("div", { class: "body" },
      h("span", {}, "key", h("span", { class: "enc", text: m.key.encoding })), dataView(m.key),
      h("span", {}, "value", h("span", { class: "enc", text: m.value.encoding })), h("div", { class: "value" }, dataView(m.value)),
      m.headers.length ? [h("span", { text: "headers" }), h("dl", { class: "kv" }, m.headers.map((hd) => [h("dt", { class: "mono", text: hd.key }), h("dd", {}, dataView(hd.value))]))] : null));
}

// ---- consumer groups ------------------------------------------------------

async function pageGroups() {
  const box = h("div");
  setMain("Consumer groups", pageHead("Consumer groups"), box);
  const open = new Set();
  const fill = async () => {
    let gs;
    try { gs = await api("GET", "/ui/api/groups"); } catch (e) { box.replaceChildren(errorBanner(e)); return; }
    if (!gs.length) { box.replaceChildren(h("div", { class: "panel empty", text: "No consumer groups." })); return; }
    box.replaceChildren(h("div", { class: "table-wrap" }, h("table", { "aria-label": "Consumer groups" },
      h("thead", {}, h("tr", {}, h("th", { text: "Group" }), h("th", { text: "State" }), h("th", { text: "Protocol" }), h("th", { class: "num", text: "Members" }), h("th", { class: "num", text: "Lag" }))),
      h("tbody", {}, gs.map((g) => [
        h("tr", { dataset: { group: g.group } },
          h("td", {}, h("details", { open: open.has(g.group), ontoggle: (ev) => {
            if (ev.target.open === open.has(g.group)) return; // the render itself
            if (ev.target.open) open.add(g.group); else open.delete(g.group);
            fill();
          } }, h("summary", { text: g.group }))),
          h("td", {}, badge(g.state)), h("td", { class: "mono", text: `${g.protocol_type || "–"}${g.protocol ? " / " + g.protocol : ""}` }),
          h("td", { class: "num", text: g.members.length }), h("td", { class: "num", text: fmtNum(g.lag) })),
        open.has(g.group) ? h("tr", {}, h("td", { colspan: 5 }, groupDetail(g))) : null,
      ])))));
  };
  await fill();
  every(5000, fill);
}

function groupDetail(g) {
  return h("div", { class: "grid cols-2" },
    h("div", {}, h("h3", { text: "Partitions" }), g.partitions.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Topic" }), h("th", { class: "num", text: "Partition" }), h("th", { class: "num", text: "Committed" }), h("th", { class: "num", text: "End" }), h("th", { class: "num", text: "Lag" }))),
      h("tbody", {}, g.partitions.map((p) => h("tr", {}, h("td", {}, h("a", { href: "#/topics/" + enc(p.topic), text: p.topic })), h("td", { class: "num", text: p.partition }),
        h("td", { class: "num", text: p.committed }), h("td", { class: "num", text: p.end }), h("td", { class: "num", text: p.lag }))))) : h("p", { class: "muted", text: "No committed offsets." })),
    h("div", {}, h("h3", { text: "Members" }), g.members.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Client" }), h("th", { text: "Assigned partitions" }))), h("tbody", {}, g.members.map((m) => h("tr", {},
      h("td", {}, h("div", { class: "mono", text: m.client_id + (m.instance_id ? ` (${m.instance_id})` : "") }), h("div", { class: "muted mono", text: m.client_host })),
      h("td", { class: "mono", text: m.assigned.join(", ") || "–" }))))) : h("p", { class: "muted", text: "No members (the group is empty)." })));
}

// ---- workers --------------------------------------------------------------

async function pageWorkers() {
  const box = h("div");
  const poolBox = h("section", { class: "panel", "aria-labelledby": "h-pool" }, h("h2", { id: "h-pool", text: "Worker pool" }), h("div", { class: "muted", text: "…" }));
  setMain("Workers", pageHead("Workers"), box, poolBox);
  const fill = async () => {
    let all;
    try { all = await api("GET", "/connectors?expand=status"); } catch (e) { box.replaceChildren(errorBanner(e)); return; }
    const ws = new Map();
    const add = (w, what) => { if (!w) return; if (!ws.has(w)) ws.set(w, []); ws.get(w).push(what); };
    for (const [n, e] of Object.entries(all)) {
      add(e.status.connector.worker_id, { name: n, label: n, state: e.status.connector.state });
      for (const t of e.status.tasks) add(t.worker_id, { name: n, label: `${n} task #${t.id}`, state: t.state });
    }
    box.replaceChildren(h("p", { class: "muted", text: "Workers running at least one connector or task, from the connectors' statuses." }),
      ws.size ? h("div", { class: "table-wrap" }, h("table", { "aria-label": "Workers" }, h("thead", {}, h("tr", {}, h("th", { text: "Worker" }), h("th", { class: "num", text: "Assignments" }), h("th", { text: "Connectors and tasks" }))),
        h("tbody", {}, [...ws.keys()].sort().map((w) => h("tr", {}, h("td", { class: "mono", text: w }), h("td", { class: "num", text: ws.get(w).length }),
          h("td", {}, ws.get(w).map((a) => h("span", { style: "display:inline-flex;gap:4px;margin:0 10px 4px 0;align-items:center" }, h("a", { href: "#/connectors/" + enc(a.name), text: a.label }), badge(a.state))))))))) :
        h("div", { class: "panel empty", text: "No connectors are assigned yet." }));
  };
  await fill();
  every(5000, fill);
  // Pools: connectors created with a capacity run on worker pools of their
  // own (docs/pools.md); GET /connectors/{name}/pool answers for those and
  // 404 for the others. Nothing is shown that the API did not return.
  const fillPools = async () => {
    let names;
    try { names = await api("GET", "/connectors"); } catch (e) { poolBox.replaceChildren(h("h2", { id: "h-pool", text: "Worker pools" }), errorBanner(e)); return; }
    const pools = [];
    await Promise.all(names.map(async (n) => {
      try {
        const [st, ops] = await Promise.all([api("GET", `/connectors/${enc(n)}/pool`), api("GET", `/connectors/${enc(n)}/operations`).catch(() => ({ connectorOperations: [] }))]);
        pools.push({ st, ops: ops.connectorOperations || [] });
      } catch (e) { if (e.status !== 404) pools.push({ name: n, error: e }); }
    }));
    pools.sort((x, y) => (x.st ? x.st.connectorName : x.name).localeCompare(y.st ? y.st.connectorName : y.name));
    poolBox.replaceChildren(h("h2", { id: "h-pool", text: "Worker pools" }), poolsView(pools));
  };
  await fillPools();
  every(5000, fillPools);
}

// poolsView renders each pool's status (GET /connectors/{name}/pool) and its
// latest operations (GET /connectors/{name}/operations).
function poolsView(pools) {
  if (!pools.length) return h("p", { class: "muted", text: "No connector runs on a worker pool: the workers above are the fixed group. Create a connector with a capacity (sluice create-connector --capacity) to give it an autoscaled or provisioned pool." });
  const capText = (c) => c && c.autoScaling ? `autoscaled ${c.autoScaling.minWorkerCount}–${c.autoScaling.maxWorkerCount} workers × ${c.autoScaling.mcuCount} MCU` :
    c && c.provisionedCapacity ? `provisioned ${c.provisionedCapacity.workerCount} workers × ${c.provisionedCapacity.mcuCount} MCU` : "–";
  const when = (t) => t ? new Date(t).toLocaleTimeString() : "–";
  return h("div", {}, pools.map((p) => {
    if (p.error) return h("div", { class: "banner bad", role: "alert", text: `Pool of ${p.name} could not be read: ${p.error.message}` });
    const s = p.st;
    const ops = p.ops.slice(-8).reverse();
    return h("div", { class: "panel", dataset: { pool: s.connectorName } },
      h("h3", {}, h("a", { href: "#/connectors/" + enc(s.connectorName), text: s.connectorName }), " ", badge(s.connectorState)),
      h("dl", { class: "kv" },
        h("dt", { text: "Capacity" }), h("dd", { text: capText(s.capacity) }),
        h("dt", { text: "Workers (actual / desired)" }), h("dd", { dataset: { poolWorkers: s.workers.length }, text: `${s.workers.length} / ${s.desiredWorkerCount}` }),
        h("dt", { text: "Pool CPU" }), h("dd", { text: `${(s.cpuUtilizationPercent || 0).toFixed(1)} %` }),
        h("dt", { text: "tasks.max" }), h("dd", { text: s.tasksMax || "–" }),
        h("dt", { text: "Scale events (out / in)" }), h("dd", { text: `${s.scaleOutEvents} / ${s.scaleInEvents}` }),
        h("dt", { text: "Worker restarts" }), h("dd", { text: s.workerRestarts })),
      s.workers.length ? h("table", { "aria-label": `Workers of ${s.connectorName}` }, h("thead", {}, h("tr", {}, h("th", { text: "Worker" }), h("th", { class: "num", text: "PID" }), h("th", { class: "num", text: "MCU" }), h("th", { class: "num", text: "CPU %" }))),
        h("tbody", {}, s.workers.map((w) => h("tr", {}, h("td", { class: "mono", text: w.workerId }), h("td", { class: "num", text: w.pid || "–" }), h("td", { class: "num", text: w.mcuCount }), h("td", { class: "num", text: (w.cpuUtilizationPercent || 0).toFixed(1) }))))) : null,
      h("h3", { text: "Operations" }),
      ops.length ? h("table", { "aria-label": `Operations of ${s.connectorName}` }, h("thead", {}, h("tr", {}, h("th", { text: "Started" }), h("th", { text: "Type" }), h("th", { text: "State" }), h("th", { text: "By" }), h("th", { class: "num", text: "Workers" }), h("th", { text: "Reason" }))),
        h("tbody", {}, ops.map((o) => h("tr", {}, h("td", { text: when(o.creationTime) }), h("td", { class: "mono", text: o.connectorOperationType }), h("td", {}, badge(o.connectorOperationState)),
          h("td", { text: o.initiator }), h("td", { class: "num", text: o.originWorkerSetting && o.targetWorkerSetting ? `${o.originWorkerSetting.workerCount} → ${o.targetWorkerSetting.workerCount}` : "–" }),
          h("td", { text: o.reason || "" }))))) : h("p", { class: "muted", text: "No operations yet." }));
  }));
}

// ---- start ----------------------------------------------------------------

async function serverInfo() {
  const el = document.getElementById("server-info");
  try {
    const [root, cluster] = await Promise.all([api("GET", "/"), api("GET", "/ui/api/cluster").catch(() => null)]);
    el.replaceChildren(h("div", {}, h("b", { text: "sluice " }), root.version),
      h("div", { text: "Kafka cluster " + (root.kafka_cluster_id || "?") }),
      cluster ? h("div", { text: `${cluster.brokers.length} broker${cluster.brokers.length === 1 ? "" : "s"}: ${cluster.bootstrap_servers.join(", ")}` }) : null);
  } catch (e) { el.textContent = "REST API unreachable: " + e.message; }
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => { serverInfo(); route(); });
