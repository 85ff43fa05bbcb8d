// thinkbench view: the overview of one or more runs and one problem's chains.
// Every string from a run (what the model wrote, answers, questions) reaches
// the page through textContent or createTextNode, never as markup.
"use strict";

const MODE = (document.querySelector('meta[name="tb-mode"]') || {}).content || "server";
const cache = new Map();
const waiting = new Map();
let runs = [];
let lists = [];        // per run: its problem rows
let visible = [];      // problem ids after the filters, in order
let selected = 0;

// -- data: fetch from the server, or script files in a static export --------
window.TB = {
  put(key, value) {
    cache.set(key, value);
    (waiting.get(key) || []).forEach((resolve) => resolve(value));
    waiting.delete(key);
  },
};

function load(key, url, file) {
  if (cache.has(key)) return Promise.resolve(cache.get(key));
  if (MODE === "server") {
    return fetch(url).then((r) => r.json().then((body) => {
      if (!r.ok) throw new Error(body.error || r.statusText);
      cache.set(key, body);
      return body;
    }));
  }
  return new Promise((resolve, reject) => {
    if (!waiting.has(key)) waiting.set(key, []);
    waiting.get(key).push(resolve);
    const script = document.createElement("script");
    script.src = file;
    script.onerror = () => reject(new Error("cannot load " + file));
    document.body.appendChild(script);
  });
}

const getRuns = () => load("runs", "api/runs", "data/runs.js");
const getList = (i) => load("problems/" + i, "api/problems?run=" + i, "data/problems-" + i + ".js");
function getProblem(i, id) {
  const row = (lists[i] || []).find((r) => r.id === id);
  if (!row) return Promise.resolve(null);
  const url = "api/problem?run=" + i + "&id=" + encodeURIComponent(id);
  return load("problem/" + i + "/" + id, url, "data/p/" + i + "/" + row.file);
}

// -- small DOM helpers ----------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
// Runs are lettered A, B, … in column heads, where their names would not fit.
const letter = (i) => (i < 26 ? String.fromCharCode(65 + i) : "R" + (i + 1));
const fmt = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));

// -- routes: #/?filters and #/p/<run-independent id>?b=<budget> ---------------
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  return { path, params: new URLSearchParams(query || "") };
}
function go(path, params) {
  const q = params && params.toString();
  location.hash = path + (q ? "?" + q : "");
}

// -- the overview -----------------------------------------------------------
function verdictCell(b) {
  if (!b) return el("td", { class: "muted" }, "·");
  let text = "–", cls = "muted";
  if (b.right !== null) {
    if (b.n === 1) { text = b.right >= 0.5 ? "✓" : "✗"; }
    else { text = Math.round(b.right * b.n) + "/" + b.n; }
    cls = b.right >= 0.5 ? (b.right === 1 ? "right" : "partial") : "wrong";
  }
  const extra = (b.cut > 0 ? " ✂" : "") + (b.status.length ? " " + b.status.join(",") : "");
  return el("td", { class: cls, title: b.status.join(", ") }, text + extra);
}

function allBudgets() {
  const set = new Set();
  runs.forEach((r) => r.budgets.forEach((b) => set.add(b)));
  return [...set].sort((a, b) => a - b);
}

function rowsById() {
  const ids = new Map();
  lists.forEach((list, i) => list.forEach((row) => {
    if (!ids.has(row.id)) ids.set(row.id, []);
    ids.get(row.id)[i] = row;
  }));
  return ids;
}

function passes(perRun, p) {
  const any = perRun.find(Boolean);
  const q = (p.get("q") || "").toLowerCase();
  if (q && !perRun.some((r) => r && (r.id + " " + r.question + " " + r.answers + " " + r.gold).toLowerCase().includes(q))) return false;
  if (p.get("difficulty") && any.difficulty !== p.get("difficulty")) return false;
  const budget = p.get("budget");
  const at = (r) => (r && budget ? r.budgets[budget] : null);
  const verdict = p.get("verdict");
  if (verdict && budget) {
    const ok = perRun.some((r) => { const b = at(r); return b && b.right !== null && (verdict === "right" ? b.right >= 0.5 : b.right < 0.5); });
    if (!ok) return false;
  }
  const flips = p.get("flips");
  if (flips && !perRun.some((r) => r && (flips === "up" ? r.flips.up : flips === "down" ? r.flips.down : flips === "any" ? r.flips.up + r.flips.down : !(r.flips.up + r.flips.down)))) return false;
  const cut = p.get("cut");
  if (cut) {
    const isCut = (r) => r && Object.entries(r.budgets).some(([k, b]) => (!budget || k === budget) && b.cut > 0);
    if (cut === "cut" ? !perRun.some(isCut) : perRun.some(isCut)) return false;
  }
  const status = p.get("status");
  if (status && !perRun.some((r) => r && Object.values(r.budgets).some((b) => b.status.includes(status)))) return false;
  const a = p.get("a"), b = p.get("b");
  if (a !== null && b !== null && a !== "" && b !== "") {
    const key = budget || String(Math.max(...allBudgets()));
    const ra = perRun[+a], rb = perRun[+b];
    const va = ra && ra.budgets[key], vb = rb && rb.budgets[key];
    if (!(va && vb && va.right !== null && vb.right !== null && va.right >= 0.5 && vb.right < 0.5)) return false;
  }
  return true;
}

const natural = (x) => { const n = parseFloat(x); return isNaN(n) ? x : n; };
function sortKey(perRun, by) {
  const r = perRun.find(Boolean);
  if (by === "difficulty") return natural(r.difficulty);
  if (by === "first_stable") return r.first_stable === null ? Infinity : r.first_stable;
  if (by === "tokens") return -Math.max(...perRun.filter(Boolean).map((x) => x.tokens));
  return natural(r.id);
}

function select(options, value, name) {
  return el("select", { name }, options.map(([v, label]) => {
    const o = el("option", { value: v }, label);
    if (String(v) === String(value || "")) o.selected = true;
    return o;
  }));
}

function filtersForm(p) {
  const budgets = allBudgets();
  const statuses = new Set();
  const difficulties = new Set();
  lists.forEach((l) => l.forEach((r) => {
    difficulties.add(r.difficulty);
    Object.values(r.budgets).forEach((b) => b.status.forEach((s) => statuses.add(s)));
  }));
  const runOpts = [["", "—"], ...runs.map((r, i) => [i, letter(i) + " " + r.name])];
  const form = el("form", { class: "filters", id: "filters" },
    el("label", {}, "search", el("input", { name: "q", id: "q", value: p.get("q") || "", placeholder: "problem, answer, gold" })),
    el("label", {}, "budget", select([["", "any"], ...budgets.map((b) => [b, b])], p.get("budget"), "budget")),
    el("label", {}, "verdict there", select([["", "any"], ["right", "right"], ["wrong", "wrong"]], p.get("verdict"), "verdict")),
    el("label", {}, "difficulty", select([["", "any"], ...[...difficulties].sort((x, y) => natural(x) - natural(y)).map((d) => [d, d])], p.get("difficulty"), "difficulty")),
    el("label", {}, "flips", select([["", "any"], ["up", "wrong→right"], ["down", "right→wrong"], ["any", "either"], ["none", "none"]], p.get("flips"), "flips")),
    el("label", {}, "cut", select([["", "any"], ["cut", "cut"], ["finished", "finished"]], p.get("cut"), "cut")),
    el("label", {}, "grader status", select([["", "any"], ...[...statuses].sort().map((s) => [s, s])], p.get("status"), "status")),
    el("label", {}, "sort", select([["id", "problem"], ["difficulty", "difficulty"], ["first_stable", "first stable budget"], ["tokens", "tokens (most first)"]], p.get("sort"), "sort")),
    runs.length > 1 ? el("label", {}, "A right", select(runOpts, p.get("a"), "a")) : null,
    runs.length > 1 ? el("label", {}, "B wrong", select(runOpts, p.get("b"), "b")) : null,
  );
  form.addEventListener("change", () => applyForm(form));
  form.addEventListener("submit", (e) => { e.preventDefault(); applyForm(form); });
  form.querySelector("#q").addEventListener("input", () => applyForm(form));
  return form;
}

function applyForm(form) {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v !== "" && !(k === "sort" && v === "id")) params.set(k, v);
  history.replaceState(null, "", "#/" + (params.toString() ? "?" + params : ""));
  drawList(params);
}

function scalingBlock() {
  const table = el("table", { id: "scaling" },
    el("tr", {}, ["run", "model", "strategy", "budget", "accuracy", "95% CI", "problems"].map((h) => el("th", {}, h))));
  runs.forEach((r) => r.scaling.forEach((s) => table.appendChild(el("tr", {},
    el("td", {}, r.name), el("td", {}, r.model), el("td", {}, s.strategy), el("td", {}, s.budget),
    el("td", {}, fmt(s.accuracy)), el("td", {}, s.ci_low === undefined ? "–" : fmt(s.ci_low, 2) + "–" + fmt(s.ci_high, 2)),
    el("td", {}, s.n)))));
  const damaged = runs.filter((r) => r.damaged && Object.keys(r.damaged).length).map((r) =>
    el("p", { class: "wrong damaged" }, r.name + ": left out what cannot be read (" +
      Object.entries(r.damaged).map(([part, why]) => part + ": " + why).join("; ") + "); bench repair " + r.name + " sets it aside"));
  return el("div", {}, damaged, curve(), table);
}

function curve() {
  const NS = "http://www.w3.org/2000/svg", W = 420, H = 180, pad = 34;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H); svg.setAttribute("id", "curve");
  const budgets = allBudgets().filter((b) => b > 0);
  if (!budgets.length) return svg;
  const lo = Math.log2(budgets[0]), hi = Math.log2(budgets[budgets.length - 1]) || lo + 1;
  const x = (b) => pad + (b <= 0 ? 0 : ((Math.log2(b) - lo) / Math.max(hi - lo, 1)) * (W - 2 * pad));
  const y = (a) => H - pad - a * (H - 2 * pad);
  const colors = ["#1f5fbf", "#b3261e", "#176d2c", "#8a5a00", "#6a3fb5", "#00838f"];
  const line = (x1, y1, x2, y2, stroke) => { const l = document.createElementNS(NS, "line"); Object.entries({ x1, y1, x2, y2, stroke }).forEach(([k, v]) => l.setAttribute(k, v)); svg.appendChild(l); };
  const label = (tx, ty, text) => { const t = document.createElementNS(NS, "text"); t.setAttribute("x", tx); t.setAttribute("y", ty); t.textContent = text; svg.appendChild(t); return t; };
  line(pad, H - pad, W - pad, H - pad, "#999"); line(pad, pad, pad, H - pad, "#999");
  budgets.forEach((b) => label(x(b) - 6, H - pad + 14, b));
  [0, 0.5, 1].forEach((a) => label(4, y(a) + 4, a));
  runs.forEach((r, i) => {
    const pts = r.scaling.filter((s) => s.budget > 0 && s.accuracy !== null).sort((a, b) => a.budget - b.budget);
    const path = document.createElementNS(NS, "polyline");
    path.setAttribute("points", pts.map((s) => x(s.budget) + "," + y(s.accuracy)).join(" "));
    path.setAttribute("fill", "none"); path.setAttribute("stroke", colors[i % colors.length]); path.setAttribute("stroke-width", 2);
    svg.appendChild(path);
    label(W - pad - 150, pad + 12 * i, letter(i) + " " + r.name).style.fill = colors[i % colors.length];
  });
  return svg;
}

function filtered(ids, p) {
  const entries = [...ids.entries()].filter(([, perRun]) => passes(perRun, p));
  const by = p.get("sort") || "id";
  entries.sort((a, b) => { const ka = sortKey(a[1], by), kb = sortKey(b[1], by); return ka < kb ? -1 : ka > kb ? 1 : 0; });
  return entries;
}

function drawList(p) {
  const ids = rowsById();
  const budgets = allBudgets();
  const entries = filtered(ids, p);
  visible = entries.map(([id]) => id);
  selected = Math.min(selected, Math.max(visible.length - 1, 0));
  const head = el("tr", {}, el("th", {}, "problem"), el("th", {}, "difficulty"), el("th", {}, "gold"),
    runs.map((r, i) => budgets.map((b) => el("th", { title: r.name + ", budget " + b }, (runs.length > 1 ? letter(i) + " " : "") + b))),
    el("th", {}, "flips"), el("th", {}, "first stable"), el("th", {}, "tokens"));
  const table = el("table", { id: "problems" }, head);
  entries.forEach(([id, perRun], n) => {
    const any = perRun.find(Boolean);
    const flips = perRun.filter(Boolean).map((r) => (r.flips.up ? "↑" + r.flips.up : "") + (r.flips.down ? "↓" + r.flips.down : "")).join(" ");
    const tr = el("tr", { class: "row" + (n === selected ? " sel" : ""), "data-id": id, onclick: () => openProblem(id) },
      el("td", {}, id), el("td", {}, any.difficulty), el("td", {}, any.gold),
      runs.map((r, i) => budgets.map((b) => verdictCell(perRun[i] && perRun[i].budgets[String(b)]))),
      el("td", {}, flips), el("td", {}, any.first_stable === null ? "never" : any.first_stable),
      el("td", {}, Math.round(any.tokens)));
    table.appendChild(tr);
  });
  const shared = [...ids.values()].filter((perRun) => runs.every((_, i) => perRun[i])).length;
  const note = runs.length > 1 ? el("p", { class: "note", id: "shared" }, "the runs share " + shared + " of " + ids.size + " problems; a side-by-side filter compares only those") : null;
  const old = document.getElementById("list");
  const block = el("div", { id: "list" }, el("p", { id: "count" }, visible.length + " of " + ids.size + " problems"), note, table);
  old ? old.replaceWith(block) : document.getElementById("main").appendChild(block);
}

function overview(p) {
  const main = document.getElementById("main");
  main.replaceChildren(scalingBlock(), filtersForm(p));
  drawList(p);
}

function openProblem(id, budget) {
  const params = new URLSearchParams();
  if (budget !== undefined && budget !== null) params.set("b", budget);
  sessionStorage.setItem("tb-list", location.hash.startsWith("#/p/") ? sessionStorage.getItem("tb-list") || "#/" : location.hash || "#/");
  go("/p/" + encodeURIComponent(id), params);
}

// -- one problem ------------------------------------------------------------
function thinkingWithCuts(chain, budget) {
  const pre = el("pre", { class: "thinking" });
  let at = 0;
  for (const cut of chain.cuts) {
    pre.appendChild(document.createTextNode(chain.thinking.slice(at, cut.at)));
    pre.appendChild(el("span", { class: "cutmark" + (String(cut.budget) === budget ? " on" : ""), title: "budget " + cut.budget + " cut here" }, "✂ " + cut.budget));
    at = cut.at;
  }
  pre.appendChild(document.createTextNode(chain.thinking.slice(at)));
  return pre;
}

function stepScores(o, delimiter) {
  if (!o.step_scores) return null;
  const steps = delimiter ? o.thinking.split(delimiter) : [o.thinking];
  const list = el("ol", { class: "steps" });
  o.step_scores.forEach((s, i) => {
    const text = i < steps.length ? steps[i] : "(answer) " + o.answer_text;
    list.appendChild(el("li", { class: s >= 0.5 ? "step-good" : "step-bad" }, fmt(s, 2) + "  ", text));
  });
  return el("details", {}, el("summary", {}, "verifier per step"), list);
}

function outcomeTable(chain, budget, delimiter) {
  const t = el("table", { class: "outcomes" }, el("tr", {}, ["budget", "ended", "answer text", "extracted", "verdict", "why", "tokens", "US$", "vote class", "verifier"].map((h) => el("th", {}, h))));
  chain.budgets.forEach((o) => {
    const tr = el("tr", { class: String(o.budget) === budget ? "sel" : "" },
      el("td", {}, el("a", { href: "#" + route().path + "?b=" + o.budget }, o.budget)),
      el("td", {}, o.cut ? "cut ✂" : o.finish),
      el("td", {}, el("pre", {}, o.answer_text)),
      el("td", {}, o.answer === null ? "—" : o.answer),
      el("td", { class: o.correct === null ? "muted" : o.correct ? "right" : "wrong" }, o.correct === null ? "–" : o.correct ? "right" : "wrong"),
      el("td", {}, o.reason, o.status ? " [" + o.status + "]" : "", o.detail ? el("pre", {}, o.detail) : null),
      el("td", {}, o.thinking_tokens + " + " + o.answer_tokens),
      el("td", {}, o.usd === null ? "–" : o.usd.toFixed(6)),
      el("td", {}, o.vote_class === null ? "–" : o.vote_class),
      el("td", {}, o.verifier_score === null ? "–" : fmt(o.verifier_score, 3), stepScores(o, delimiter)));
    t.appendChild(tr);
    if (chain.thinking === null) t.appendChild(el("tr", {}, el("td", { colspan: 10 }, el("pre", { class: "thinking" }, o.thinking))));
  });
  return t;
}

function problemView(id, p) {
  const budget = p.get("b");
  const main = document.getElementById("main");
  const pos = visible.indexOf(id);
  const nav = el("p", {}, el("a", { href: sessionStorage.getItem("tb-list") || "#/" }, "← all problems"),
    pos >= 0 ? "  (" + (pos + 1) + " of " + visible.length + "; j/k next/previous)" : "");
  main.replaceChildren(nav, el("p", {}, "loading…"));
  Promise.all(runs.map((_, i) => getProblem(i, id).catch((e) => ({ error: String(e) })))).then((pages) => {
    const first = pages.find((x) => x && !x.error);
    if (!first) { main.replaceChildren(nav, el("p", {}, "no run has problem " + id)); return; }
    const head = el("div", {}, el("h2", {}, "problem " + id + (first.difficulty ? " · difficulty " + first.difficulty : "")),
      el("h3", {}, "question"), el("pre", { id: "question" }, first.question || "(the suite's data is not on this machine)"),
      el("p", {}, "gold: ", el("b", { id: "gold" }, first.gold)));
    const cols = el("div", { class: "runs" }, pages.map((page, i) => {
      const sec = el("section", {}, el("h3", {}, (runs.length > 1 ? letter(i) + " " : "") + runs[i].name + " (" + runs[i].model + ", " + runs[i].strategy + ")"));
      if (!page || page.error) { sec.appendChild(el("p", { class: "muted" }, page ? page.error : "not in this run")); return sec; }
      page.chains.forEach((chain) => {
        const box = el("div", { class: "chain" }, el("h4", {}, "sample " + chain.sample + (chain.repeat ? " repeat " + chain.repeat : "") + " · " + chain.strategy));
        if (chain.thinking !== null) box.appendChild(thinkingWithCuts(chain, budget));
        box.appendChild(outcomeTable(chain, budget, page.step_delimiter));
        sec.appendChild(box);
      });
      return sec;
    }));
    main.replaceChildren(nav, head, cols);
  });
}

// -- keys and start -----------------------------------------------------------
document.addEventListener("keydown", (e) => {
  if (e.target.matches("input, select, textarea")) { if (e.key === "Escape") e.target.blur(); return; }
  const r = route();
  if (e.key === "/") { const q = document.getElementById("q"); if (q) { e.preventDefault(); q.focus(); } return; }
  if (r.path.startsWith("/p/")) {
    const id = decodeURIComponent(r.path.slice(3));
    const pos = visible.indexOf(id);
    if ((e.key === "j" || e.key === "ArrowRight") && pos + 1 < visible.length) openProblem(visible[pos + 1], r.params.get("b"));
    else if ((e.key === "k" || e.key === "ArrowLeft") && pos > 0) openProblem(visible[pos - 1], r.params.get("b"));
    else if (e.key === "Escape" || e.key === "u") location.hash = sessionStorage.getItem("tb-list") || "#/";
    return;
  }
  const rows = document.querySelectorAll("#problems tr.row");
  if (!rows.length) return;
  if (e.key === "j" || e.key === "ArrowDown") selected = Math.min(selected + 1, rows.length - 1);
  else if (e.key === "k" || e.key === "ArrowUp") selected = Math.max(selected - 1, 0);
  else if (e.key === "Enter") { openProblem(visible[selected]); return; }
  else return;
  e.preventDefault();
  rows.forEach((row, n) => row.classList.toggle("sel", n === selected));
  rows[selected].scrollIntoView({ block: "nearest" });
});

function render() {
  const r = route();
  if (r.path.startsWith("/p/")) problemView(decodeURIComponent(r.path.slice(3)), r.params);
  else overview(r.params);
}

getRuns().then((found) => {
  runs = found;
  document.getElementById("runs").replaceChildren(...runs.map((r, i) => el("span", { class: "chip" }, (runs.length > 1 ? letter(i) + " " : "") + r.name + " · " + r.model + " · " + r.strategy + (r.status && r.status !== "complete" ? " · " + r.status : ""))));
  return Promise.all(runs.map((_, i) => getList(i)));
}).then((found) => {
  lists = found;
  const r = route();
  if (r.path.startsWith("/p/")) {  // a shared link: j/k walk the list as it was left, or all of it
    const left = new URLSearchParams((sessionStorage.getItem("tb-list") || "#/").split("?")[1] || "");
    visible = filtered(rowsById(), left).map(([id]) => id);
  }
  render();
  window.addEventListener("hashchange", render);
}).catch((e) => {
  document.getElementById("main").replaceChildren(el("p", { class: "wrong" }, "cannot load the runs: " + e.message));
});
