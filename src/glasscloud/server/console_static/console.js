// glasscloud operator console: plain JS, no build step. Every call sends the developer token
// (kept in this tab's sessionStorage) as Authorization: Bearer. Everything shown comes from
// the server and is written with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "glasscloud.devToken";
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

let pollTimer = null;
let mirrorAbort = null;
let editing = null; // package being edited, or null when registering

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401 || response.status === 403) {
    signOut("The token was refused: " + ((data && data.error && data.error.message) || response.status));
    throw new ApiError(response.status, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else td.textContent = cell == null ? "" : String(cell);
    tr.append(td);
  }
  return tr;
}

function button(text, cls, onClick) {
  const b = el("button", text, cls);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// ---- sign in ----------------------------------------------------------------------------

async function signIn(candidate) {
  sessionStorage.setItem(TOKEN_KEY, candidate);
  try {
    await api("GET", "/api/admin/metrics");
  } catch (err) {
    $("signin-error").textContent = "Sign-in failed: " + err.message;
    return;
  }
  showSignedIn();
}

function showSignedIn() {
  $("signin-panel").hidden = true;
  $("app-panels").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = "Signed in";
  $("signin-error").textContent = "";
  refresh();
  loadApps();
  clearInterval(pollTimer);
  pollTimer = setInterval(refresh, POLL_MS);
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const name of Object.keys(lastDrawn)) delete lastDrawn[name];
  clearInterval(pollTimer);
  stopMirror();
  $("signin-panel").hidden = false;
  $("app-panels").hidden = true;
  $("signout").hidden = true;
  $("who").textContent = "";
  $("token").value = "";
  $("signin-error").textContent = reason || "";
}

// ---- sessions, connections, errors ------------------------------------------------------

const lastDrawn = {};
function unlessSame(name, data, draw) {
  const text = JSON.stringify(data);
  if (lastDrawn[name] === text) return;
  lastDrawn[name] = text;
  draw(data);
}

async function refresh() {
  try {
    const [sessions, metrics] = await Promise.all([
      api("GET", "/api/admin/sessions"),
      api("GET", "/api/admin/metrics"),
    ]);
    // Only what changed is drawn again, so a button is not replaced under the pointer.
    unlessSame("sessions", sessions.sessions || [], renderSessions);
    unlessSame("connections", [sessions.connections || [], sessions.recentlyClosed || []],
      ([open, closed]) => renderConnections(open, closed));
    unlessSame("errors", metrics.counters || [], renderErrors);
    $("status").textContent = "Updated " + new Date().toLocaleTimeString();
  } catch (err) {
    $("status").textContent = "Could not refresh: " + err.message;
  }
}

function renderSessions(sessions) {
  const body = $("sessions").querySelector("tbody");
  body.replaceChildren();
  $("session-count").textContent = `(${sessions.length})`;
  $("no-sessions").hidden = sessions.length > 0;
  for (const s of sessions) {
    const apps = el("div");
    for (const [pkg, state] of Object.entries(s.apps || {})) {
      const item = el("span", `${pkg}: ${state}`, `state state-${state}`);
      item.dataset.package = pkg;
      item.dataset.state = state;
      apps.append(item);
    }
    if (!apps.childElementCount) apps.textContent = "none";
    const watch = button("Watch", "watch", () => watchMirror(s.userId));
    const tr = row([s.userId, s.startTime, s.glassesConnected ? "connected" : "away", apps, watch]);
    tr.dataset.user = s.userId;
    body.append(tr);
  }
}

function renderConnections(open, closed) {
  const body = $("connections").querySelector("tbody");
  body.replaceChildren();
  const all = open.map((c) => [c, ""]).concat(closed.slice(-20).map((c) => [c, c.disconnectReason || "closed"]));
  for (const [c, reason] of all) {
    body.append(row([
      c.side, c.userId, c.packageName,
      `${c.messagesIn} / ${c.messagesOut}`, `${c.bytesIn} / ${c.bytesOut}`,
      (c.rttMs || []).join(", "), c.queuedMax, c.dropped, reason,
    ]));
  }
}

function renderErrors(counters) {
  const body = $("errors").querySelector("tbody");
  body.replaceChildren();
  const shown = counters.filter((c) => /error|drop|denial|kill|fail|reject|problem/i.test(c.name) && c.value > 0);
  $("no-errors").hidden = shown.length > 0;
  for (const c of shown) {
    const labels = Object.entries(c.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    body.append(row([c.name, labels, c.value]));
  }
}

// ---- App registry -----------------------------------------------------------------------

async function loadApps() {
  try {
    const data = await api("GET", "/api/dev/apps");
    renderApps(data.apps || []);
    $("apps-error").textContent = "";
  } catch (err) {
    $("apps-error").textContent = "Could not list Apps: " + err.message;
  }
}

function renderApps(apps) {
  const body = $("apps").querySelector("tbody");
  body.replaceChildren();
  for (const a of apps) {
    const actions = el("div");
    actions.append(
      button("Rotate key", "rotate", () => rotateKey(a.packageName)),
      button("Edit", "edit", () => editApp(a)),
      button("Delete", "delete", () => deleteApp(a.packageName)),
    );
    const perms = (a.permissions || []).map((p) => (typeof p === "string" ? p : p.type)).join(", ");
    const tr = row([a.packageName, a.name, a.appType, a.publicUrl, perms, "v" + a.keyVersion, actions]);
    tr.dataset.package = a.packageName;
    body.append(tr);
  }
}

function showKeyOnce(pkg, key) {
  $("key-package").textContent = pkg;
  $("new-key").textContent = key;
  $("key-once").hidden = false;
}

function hideKey() {
  $("new-key").textContent = "";
  $("key-package").textContent = "";
  $("key-once").hidden = true;
}

async function rotateKey(pkg) {
  if (!confirm(`Rotate the API key of ${pkg}? The old key and its App tokens stop working at once.`)) return;
  try {
    const data = await api("POST", `/api/dev/apps/${encodeURIComponent(pkg)}/api-key`);
    showKeyOnce(pkg, data.apiKey);
    await loadApps();
  } catch (err) {
    $("apps-error").textContent = "Rotation failed: " + err.message;
  }
}

async function deleteApp(pkg) {
  if (!confirm(`Delete ${pkg}? It is stopped for every user and its data is removed.`)) return;
  try {
    await api("DELETE", `/api/dev/apps/${encodeURIComponent(pkg)}`);
    await loadApps();
  } catch (err) {
    $("apps-error").textContent = "Delete failed: " + err.message;
  }
}

function editApp(a) {
  editing = a.packageName;
  $("app-package").value = a.packageName;
  $("app-package").disabled = true;
  $("app-name").value = a.name || "";
  $("app-url").value = a.publicUrl || "";
  $("app-type").value = a.appType || "background";
  $("app-permissions").value = (a.permissions || []).map((p) => (typeof p === "string" ? p : p.type)).join(", ");
  $("app-save").textContent = "Save";
  $("app-editor-title").textContent = "Edit " + a.packageName;
  $("app-editor-box").open = true;
}

function resetEditor() {
  editing = null;
  $("app-editor").reset();
  $("app-package").disabled = false;
  $("app-save").textContent = "Register";
  $("app-editor-title").textContent = "Register an App";
}

async function saveApp(event) {
  event.preventDefault();
  const body = {
    name: $("app-name").value.trim(),
    publicUrl: $("app-url").value.trim(),
    appType: $("app-type").value,
    permissions: $("app-permissions").value.split(",").map((p) => p.trim()).filter(Boolean),
  };
  try {
    if (editing) {
      await api("PATCH", `/api/dev/apps/${encodeURIComponent(editing)}`, body);
    } else {
      body.packageName = $("app-package").value.trim();
      const data = await api("POST", "/api/dev/apps", body);
      showKeyOnce(body.packageName, data.apiKey);
    }
    resetEditor();
    $("app-editor-box").open = false;
    await loadApps();
  } catch (err) {
    $("apps-error").textContent = "Saving failed: " + err.message;
  }
}

// ---- the mirror -------------------------------------------------------------------------

function renderLayout(target, frame) {
  target.replaceChildren();
  const from = $(target.id + "-from");
  if (!frame) {
    target.append(el("span", "(nothing yet)", "empty"));
    if (from) from.textContent = "";
    return;
  }
  const layout = frame.layout || {};
  target.dataset.layout = layout.layoutType || "";
  if (from) from.textContent = `from ${frame.packageName} (${layout.layoutType})`;
  switch (layout.layoutType) {
    case "text_wall":
      if (layout.text) target.append(el("div", layout.text, "text"));
      else target.append(el("span", "(cleared)", "empty"));
      break;
    case "double_text_wall":
      target.append(el("div", layout.topText, "text"), el("div", layout.bottomText, "text half"));
      break;
    case "reference_card":
      target.append(el("div", layout.title, "title"), el("div", layout.text, "text"));
      break;
    case "dashboard_card": {
      const r = el("div", null, "row");
      r.append(el("span", layout.leftText, "text"), el("span", layout.rightText, "text"));
      target.append(r);
      break;
    }
    case "bitmap_view":
      target.append(el("span", `[bitmap image, ${layout.bitmapBytes} bytes]`, "empty"));
      break;
    default:
      target.append(el("span", `[${layout.layoutType} layout]`, "empty"));
  }
}

function captionItem(c) {
  const li = el("li", c.text, c.isFinal ? "final" : "interim");
  li.title = `${new Date(c.at * 1000).toLocaleTimeString()} ${c.language}`;
  return li;
}

function applyUpdate(update) {
  const list = $("captions");
  switch (update.type) {
    case "session":
      $("mirror-state").textContent = update.live
        ? `Watching ${$("mirror-user").value} (session since ${update.startTime}, glasses ${update.glassesConnected ? "connected" : "away"}).`
        : `Watching ${$("mirror-user").value}: no live session now; waiting for one.`;
      break;
    case "snapshot":
      renderLayout($("mirror-main"), update.main);
      renderLayout($("mirror-dashboard"), update.dashboard);
      list.replaceChildren(...(update.captions || []).map(captionItem));
      break;
    case "main":
      renderLayout($("mirror-main"), update.frame);
      break;
    case "dashboard":
      renderLayout($("mirror-dashboard"), update.frame);
      break;
    case "caption":
      if (update.replace && list.lastElementChild) list.lastElementChild.remove();
      list.append(captionItem(update.caption));
      while (list.childElementCount > 50) list.firstElementChild.remove();
      list.scrollTop = list.scrollHeight;
      break;
  }
}

// Server-Sent Events read with fetch, so the token travels in the Authorization header
// (EventSource cannot set headers, and a token in a URL ends up in logs).
async function watchMirror(user) {
  stopMirror();
  user = (user || "").trim();
  if (!user) return;
  $("mirror-user").value = user;
  const abort = new AbortController();
  mirrorAbort = abort;
  $("mirror-stop").disabled = false;
  $("mirror-state").textContent = `Connecting to ${user}…`;
  renderLayout($("mirror-main"), null);
  renderLayout($("mirror-dashboard"), null);
  $("captions").replaceChildren();
  let retry = 1000;
  while (!abort.signal.aborted) {
    try {
      const response = await fetch(`/api/admin/mirror/${encodeURIComponent(user)}`, {
        headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" },
        signal: abort.signal,
        cache: "no-store",
      });
      if (response.status === 401 || response.status === 403) { signOut("The token was refused."); return; }
      if (!response.ok) {
        let message = `HTTP ${response.status}`;
        try { message = (await response.json()).error.message; } catch { /* keep */ }
        throw new Error(message);
      }
      retry = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) applyUpdate(JSON.parse(data));
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return;
      $("mirror-state").textContent = `Mirror interrupted (${err.message}); retrying…`;
    }
    await new Promise((resolve) => setTimeout(resolve, retry));
    retry = Math.min(retry * 2, 10000);
  }
}

function stopMirror() {
  if (mirrorAbort) mirrorAbort.abort();
  mirrorAbort = null;
  $("mirror-stop").disabled = true;
  $("mirror-state").textContent = "Not watching.";
}

// ---- wiring -----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value.trim());
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("mirror-form").addEventListener("submit", (event) => {
    event.preventDefault();
    watchMirror($("mirror-user").value);
  });
  $("mirror-stop").addEventListener("click", stopMirror);
  $("key-dismiss").addEventListener("click", hideKey);
  $("app-editor").addEventListener("submit", saveApp);
  $("app-cancel").addEventListener("click", () => { resetEditor(); $("app-editor-box").open = false; });
  if (token()) showSignedIn();
});
