// aiodicom worklist page: form submit, edit/delete/status, live C-FIND and MPPS panel.
// Plain JS, no build step. Every write sends X-Requested-With: aiodicom (CSRF header).
"use strict";

const WRITE_HEADERS = { "Content-Type": "application/json", "X-Requested-With": "aiodicom" };
let editing = null; // { id, etag } while the form edits an item
let lastQuery = 0;
let generation = null;

async function api(method, url, body, etag) {
  const headers = method === "GET" ? {} : { ...WRITE_HEADERS };
  if (etag) headers["If-Match"] = etag;
  const response = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (e) { data = null; }
  }
  return { ok: response.ok, status: response.status, data, etag: response.headers.get("ETag") };
}

function byId(id) { return document.getElementById(id); }

function clearErrors() {
  document.querySelectorAll("#item-form .error").forEach((el) => { el.textContent = ""; });
  document.querySelectorAll("#item-form [aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function showErrors(errors) {
  const general = [];
  for (const err of errors) {
    const slot = byId("err-" + err.field);
    const input = byId("f-" + err.field);
    if (slot) {
      slot.textContent = err.rule;
      if (input) input.setAttribute("aria-invalid", "true");
    } else {
      general.push(err.field + ": " + err.rule);
    }
  }
  byId("err-form").textContent = general.join("; ");
  const first = document.querySelector("#item-form [aria-invalid]");
  if (first) first.focus();
}

function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.value === "") continue;
    body[el.name] = el.value.trim();
  }
  if (editing) delete body.ae_title;
  return body;
}

function resetForm() {
  const form = byId("item-form");
  form.reset();
  editing = null;
  clearErrors();
  byId("form-title").textContent = "Add procedure";
  byId("cancel-edit").hidden = true;
  byId("f-ae_title").disabled = false;
}

async function submitForm(event) {
  event.preventDefault();
  clearErrors();
  const form = event.target;
  const body = formBody(form);
  const result = editing
    ? await api("PUT", "/api/items/" + encodeURIComponent(editing.id), body, editing.etag)
    : await api("POST", "/api/items", body);
  if (result.ok) {
    resetForm();
    byId("err-form").textContent = "";
    await refreshTable();
    return;
  }
  if (result.data && result.data.errors) showErrors(result.data.errors);
  else byId("err-form").textContent = (result.data && result.data.error) || ("HTTP " + result.status);
}

async function startEdit(id) {
  const result = await api("GET", "/api/items/" + encodeURIComponent(id));
  if (!result.ok) { alert((result.data && result.data.error) || "cannot load " + id); return; }
  const flat = result.data.flat;
  for (const el of byId("item-form").elements) {
    if (!el.name) continue;
    let value = flat[el.name] || "";
    if (el.name === "birth_date" && value.length === 8) value = value.slice(0, 4) + "-" + value.slice(4, 6) + "-" + value.slice(6);
    if (el.name === "ae_title") value = result.data.ae_title;
    el.value = value;
  }
  byId("f-ae_title").disabled = true;
  editing = { id, etag: result.etag };
  byId("form-title").textContent = "Edit procedure " + id;
  byId("cancel-edit").hidden = false;
  byId("f-patient_name").focus();
}

async function withEtag(id, action) {
  const current = await api("GET", "/api/items/" + encodeURIComponent(id));
  if (!current.ok) { alert((current.data && current.data.error) || "cannot load " + id); return; }
  const result = await action(current.etag);
  if (!result.ok) alert((result.data && (result.data.error || JSON.stringify(result.data.errors))) || "HTTP " + result.status);
  await refreshTable();
}

async function deleteItem(button) {
  const id = button.dataset.id;
  if (!confirm("Delete the procedure of " + (button.dataset.name || id) + "?")) return;
  await withEtag(id, (etag) => api("DELETE", "/api/items/" + encodeURIComponent(id), undefined, etag));
}

async function changeStatus(select) {
  const id = select.dataset.id;
  await withEtag(id, (etag) => api("POST", "/api/items/" + encodeURIComponent(id) + "/status", { status: select.value }, etag));
}

async function refreshTable() {
  const params = new URLSearchParams(window.location.search);
  params.set("fragment", "table");
  const response = await fetch("/?" + params.toString(), { credentials: "same-origin" });
  if (response.ok) byId("table-container").innerHTML = await response.text();
}

function nItem(q) {
  // An MPPS N-CREATE / N-SET (PS3.4 Annex F) beside the C-FINDs.
  const li = document.createElement("li");
  li.className = "query n-op" + (q.status === "0x0000" ? "" : " zero");
  li.dataset.seq = q.seq;
  li.dataset.kind = q.kind;
  const head = document.createElement("div");
  head.textContent = q.time.slice(11, 19) + "  " + q.kind + "  " + q.calling_ae + " → " + q.called_ae + " (" + q.peer + ")";
  const body = document.createElement("div");
  body.className = "keys";
  body.textContent = Object.entries(q.keys).map(([k, v]) => k + "=" + v).join(", ");
  const result = document.createElement("div");
  result.className = "result";
  result.textContent = q.status_text + " · " + q.ms + " ms" + (q.comment ? " · " + q.comment : "");
  li.append(head, body, result);
  return li;
}

async function refreshMpps() {
  const container = byId("mpps-container");
  if (!container) return;
  const response = await fetch("/?fragment=mpps", { credentials: "same-origin" });
  if (response.ok) container.innerHTML = await response.text();
}

function queryItem(q) {
  if (q.kind) return nItem(q);
  const li = document.createElement("li");
  li.className = q.matches === 0 ? "query zero" : "query";
  li.dataset.seq = q.seq;
  const keys = Object.entries(q.keys).map(([k, v]) => k + "=" + v).join(", ") || "(no matching keys)";
  const head = document.createElement("div");
  head.textContent = q.time.slice(11, 19) + "  " + q.calling_ae + " → " + q.called_ae + " (" + q.peer + ")";
  const body = document.createElement("div");
  body.className = "keys";
  body.textContent = keys;
  const result = document.createElement("div");
  result.className = "result";
  result.textContent = q.matches + " match" + (q.matches === 1 ? "" : "es") + " · " + q.status_text + " · " + q.ms + " ms" + (q.comment ? " · " + q.comment : "");
  li.append(head, body, result);
  if (q.matches === 0 && q.near_misses && q.near_misses.length) {
    const list = document.createElement("ul");
    list.className = "near";
    for (const near of q.near_misses) {
      const item = document.createElement("li");
      item.textContent = (near.id || "query") + ": " + near.reason;
      list.append(item);
    }
    li.append(list);
  }
  return li;
}

async function pollQueries() {
  try {
    const response = await fetch("/api/queries?since=" + lastQuery + "&limit=30", { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    const list = byId("queries");
    let performed = false;
    for (const q of data.queries.slice().reverse()) {
      list.prepend(queryItem(q));
      lastQuery = Math.max(lastQuery, q.seq);
      performed = performed || Boolean(q.kind);
    }
    if (performed) { await refreshMpps(); await refreshTable(); }
    while (list.children.length > 30) list.lastElementChild.remove();
  } catch (e) { /* server restarting: try again next tick */ }
}

async function pollHealth() {
  try {
    const response = await fetch("/api/health", { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    if (generation !== null && data.generation !== generation) await refreshTable();
    generation = data.generation;
  } catch (e) { /* ignore */ }
}

document.addEventListener("DOMContentLoaded", () => {
  generation = Number(document.body.dataset.generation);
  byId("item-form").addEventListener("submit", submitForm);
  byId("cancel-edit").addEventListener("click", resetForm);
  const table = byId("table-container");
  table.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("edit")) startEdit(button.dataset.id);
    if (button.classList.contains("delete")) deleteItem(button);
  });
  table.addEventListener("change", (event) => {
    if (event.target.classList.contains("status-select")) changeStatus(event.target);
  });
  pollQueries();
  setInterval(pollQueries, 1000);
  setInterval(pollHealth, 2000);
});
