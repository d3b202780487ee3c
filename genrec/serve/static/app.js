// genrec web page: plain JavaScript over the service's JSON API (no build step, no CDN).
// Text from the catalogue is only ever set with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { history: [], added: new Set(), lastAdded: null, searchSeq: 0, treeSeq: 0 };
const FRESH_SLOTS = 2;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "testid") node.dataset.testid = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `${method} ${url}: ${response.status}`);
  return data;
}

function showError(err) {
  $("error").textContent = err ? String(err.message || err) : "";
  $("error").hidden = !err;
}

// --- status line (GET /health) ---------------------------------------------------------------
async function refreshStatus() {
  try {
    const h = await api("GET", "/health");
    const parts = [
      `${h.items.toLocaleString()} items (${h.active_items.toLocaleString()} active)`,
      h.run ? `run ${h.run}` : null,
      h.model ? `model: ${h.model}` : null,
      `catalogue v${h.catalog_version}`, `model v${h.model_version}`,
      `${h.requests} recommendation requests in ${h.batches} batches`,
    ];
    $("status").textContent = parts.filter(Boolean).join(" · ");
    $("fresh").disabled = !h.fresh;
    $("fresh-label").title = h.fresh ? `Let items added after training take up to ${FRESH_SLOTS} slots`
      : "This run cannot rank added items (needs an item head and content vectors)";
    $("add-submit").disabled = h.add_items === false;
  } catch (err) {
    $("status").textContent = `service unreachable: ${err.message}`;
  }
}

// --- search and history ----------------------------------------------------------------------
let searchTimer = null;
function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, 120);
}

async function runSearch() {
  const q = $("search").value.trim();
  const seq = ++state.searchSeq;  // answers to older keystrokes are dropped
  if (!q) {
    $("search-results").replaceChildren();
    $("search-count").textContent = "";
    return;
  }
  try {
    const res = await api("GET", `/items?q=${encodeURIComponent(q)}&limit=20`);
    if (seq !== state.searchSeq) return;
    $("search-count").textContent = `${res.total} match${res.total === 1 ? "" : "es"}` +
      (res.total > res.items.length ? ` (first ${res.items.length})` : "");
    $("search-results").dataset.q = q;  // which query the list answers
    $("search-results").replaceChildren(...res.items.map((item) => el("li", {
      testid: "search-result", data: { id: item.id }, title: item.path || "",
      onclick: () => addToHistory(item),
    }, el("div", {}, item.title), el("div", { className: "meta" },
      [item.brand, `id ${item.id}`, item.active ? null : "removed"].filter(Boolean).join(" · ")))));
  } catch (err) {
    if (seq === state.searchSeq) showError(err);
  }
}

function addToHistory(item) {
  if (!state.history.some((h) => h.id === item.id)) {
    state.history.push({ id: item.id, title: item.title });
    renderHistory();
  }
}

function renderHistory() {
  $("history").replaceChildren(...state.history.map((item, i) => el("li", {
    testid: "history-item", data: { id: item.id }, title: `id ${item.id}`,
  }, el("span", { className: "t" }, item.title), el("button", {
    className: "plain", type: "button", testid: "history-remove", title: "remove",
    ariaLabel: `remove ${item.title}`,
    onclick: () => { state.history.splice(i, 1); renderHistory(); },
  }, "×"))));
  $("recommend").disabled = state.history.length === 0;
}

// --- recommendations -------------------------------------------------------------------------
async function recommend() {
  showError(null);
  const k = Number($("k").value);
  const body = { history: state.history.map((h) => h.id), k, explain: true };
  if ($("fresh").checked && !$("fresh").disabled) body.fresh = Math.min(FRESH_SLOTS, k);
  try {
    const res = await api("POST", "/recommend", body);
    $("rec-note").textContent = [`read ${res.history_used} history items`, ...res.notes,
      `catalogue v${res.catalog_version}`].join(" · ");
    $("recs").replaceChildren(...res.items.map((item, i) => el("li", {
      testid: "rec-item", data: { id: item.id }, onclick: (ev) => openItem(item.id, ev.currentTarget),
    }, el("span", { className: "n" }, `${i + 1}.`),
    el("span", {}, item.title, state.added.has(item.id)
      ? el("span", { className: "fresh-tag" }, " new") : null),
    el("span", { className: "score", title: "score" }, item.score.toFixed(2)),
    el("p", { className: "path", testid: "rec-path" }, item.path || ""))));
    refreshStatus();
  } catch (err) {
    showError(err);
  }
}

// --- hierarchy -------------------------------------------------------------------------------
async function openItem(id, row) {
  document.querySelectorAll("#recs li.open").forEach((li) => li.classList.remove("open"));
  if (row) row.classList.add("open");
  try {
    const seq = ++state.treeSeq;
    const sid = (await api("GET", `/items/${encodeURIComponent(id)}`)).semantic_id;
    const leaves = await api("GET", `/tree?prefix=${sid.slice(0, -1).join(",")}`);
    if (seq !== state.treeSeq) return;
    if (leaves.children.length === 1 && sid.length > 2) {
      // alone on its last level (e.g. balanced IDs): show it among its neighbours instead
      await loadTree(sid.slice(0, -2), { id, prefix: sid.slice(0, -1).join(",") });
    } else {
      renderTree(leaves, { id });
    }
  } catch (err) {
    showError(err);
  }
}

// target: {id, prefix?}: mark the item's leaf, or the branch `prefix` holding it
async function loadTree(prefix, target = {}) {
  const seq = ++state.treeSeq;
  try {
    const res = await api("GET", `/tree?prefix=${prefix.join(",")}`);
    if (seq === state.treeSeq) renderTree(res, target);
  } catch (err) {
    showError(err);
  }
}

function renderTree(res, target) {
  renderCrumbs(res);
  $("tree").replaceChildren(...res.children.map((node) => treeNode(node, target)));
  const hit = $("tree").querySelector("li.target");
  if (hit) hit.scrollIntoView({ block: "nearest" });
}

function renderCrumbs(res) {
  const crumbs = [el("button", { className: "plain", type: "button", testid: "crumb",
    onclick: () => loadTree([]) }, `All (${res.levels} levels)`)];
  res.prefix.forEach((code, d) => {
    const prefix = res.prefix.slice(0, d + 1);
    crumbs.push(document.createTextNode(" › "), el("button", {
      className: "plain", type: "button", testid: "crumb", onclick: () => loadTree(prefix),
    }, `${res.labels[d] || "?"} [${code}]`));
  });
  crumbs.push(el("span", { className: "count" },
    `${plural(res.items, "item")}, ${plural(res.children.length, "child", "children")}`));
  $("crumbs").replaceChildren(...crumbs);
}

function treeNode(node, target) {
  const data = { prefix: node.prefix.join(","), leaf: String(node.leaf) };
  if (node.leaf) {
    const removed = node.active_items ? "" : " · removed";
    return el("li", {
      testid: "tree-node", data: { ...data, id: node.item.id },
      className: node.item.id === target.id ? "target" : "",
    }, el("span", { className: "code" }, `#${node.code}`),
    el("span", { className: "label" }, node.item.title),
    el("span", { className: "count" }, `id ${node.item.id}${removed}`));
  }
  const examples = node.examples.map((ex) => ex.title).join(" · ");
  const marked = target.prefix === data.prefix;
  return el("li", {
    testid: "tree-node", data: marked ? { ...data, id: target.id } : data,
    className: marked ? "branch target" : "branch", title: "open",
    onclick: () => loadTree(node.prefix),
  }, el("span", { className: "code" }, String(node.code)),
  el("span", { className: "label" }, node.label || `code ${node.code}`),
  el("span", { className: "count" }, plural(node.items, "item")),
  el("div", { className: "ex" }, examples));
}

// --- add an item -----------------------------------------------------------------------------
async function addItem(ev) {
  ev.preventDefault();
  showError(null);
  const record = { id: $("add-id").value.trim() || `web-${Date.now().toString(36)}`,
    title: $("add-title").value.trim() };
  const brand = $("add-brand").value.trim();
  const path = $("add-categories").value.split(">").map((c) => c.trim()).filter(Boolean);
  if (brand) record.brand = brand;
  if (path.length) record.categories = [path];
  $("add-submit").disabled = true;
  try {
    const res = await api("POST", "/items", { items: [record] });
    const added = res.items[0];
    state.added.add(added.id);
    state.lastAdded = { id: added.id, title: record.title };
    $("added-sid").textContent = `[${added.semantic_id.join(", ")}]  (id ${added.id})`;
    $("added-path").textContent = added.path || "";
    $("added").hidden = false;
    $("add-id").value = "";
    refreshStatus();
  } catch (err) {
    showError(err);
  } finally {
    $("add-submit").disabled = false;
  }
}

function init() {
  $("search").addEventListener("input", onSearchInput);
  $("search").addEventListener("keydown", (ev) => {  // Enter takes the top hit
    const top = $("search-results").firstElementChild;
    if (ev.key === "Enter" && top) top.click();
  });
  $("recommend").addEventListener("click", recommend);
  $("clear").addEventListener("click", () => { state.history = []; renderHistory(); });
  $("add-form").addEventListener("submit", addItem);
  $("added-open").addEventListener("click", () => openItem(state.lastAdded.id));
  $("added-history").addEventListener("click", () => addToHistory(state.lastAdded));
  renderHistory();
  refreshStatus();
  loadTree([]);
  setInterval(refreshStatus, 5000);
}

document.addEventListener("DOMContentLoaded", init);
