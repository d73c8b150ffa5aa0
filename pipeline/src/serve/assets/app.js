// ddcolor's pages: uploads with progress (drag and drop, folders), live job progress over
// server-sent events, the before/after slider and the keyboard shortcuts. Plain JavaScript,
// no build step; loaded from /static/app.js because the Content-Security-Policy allows no
// inline script. Every change sends the page's CSRF token in the X-CSRF-Token header.
"use strict";

const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";
const $ = (sel, root) => (root || document).querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

function humanBytes(b) {
  const u = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return i === 0 ? `${b} bytes` : `${b.toFixed(1)} ${u[i]}`;
}

function humanDuration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.ceil(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function localTimes() {
  for (const t of document.querySelectorAll("time[data-ts]")) {
    const d = new Date(t.dataset.ts);
    if (!isNaN(d)) t.textContent = d.toLocaleString();
  }
}

// ---- uploads ----------------------------------------------------------------------------

// Files dropped as folders are walked (webkitGetAsEntry), keeping their relative paths.
async function filesFromDrop(dt) {
  const out = [];
  const entries = [];
  for (const item of dt.items || []) {
    const e = item.webkitGetAsEntry && item.webkitGetAsEntry();
    if (e) entries.push(e);
  }
  if (!entries.length) {
    for (const f of dt.files || []) out.push({ file: f, path: f.name });
    return out;
  }
  const readAll = (reader) => new Promise((resolve) => {
    const all = [];
    const next = () => reader.readEntries((batch) => {
      if (!batch.length) resolve(all); else { all.push(...batch); next(); }
    }, () => resolve(all));
    next();
  });
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      for (const child of await readAll(entry.createReader())) await walk(child, prefix + entry.name + "/");
    }
  };
  for (const e of entries) await walk(e, "");
  return out;
}

function setupUpload() {
  const form = $("#upload");
  if (!form) return;
  const drop = $("#drop"), chosenText = $("#chosen"), start = $("#start");
  const errorBox = $("#upload-error"), progress = $("#upload-progress");
  const preset = $("#preset"), workflowLabel = $("#workflow-label");
  let chosen = [];
  // The limits, to say at once that an upload is too large instead of after sending it.
  let me = null;
  fetch("/api/me").then((r) => (r.ok ? r.json() : null)).then((m) => { me = m; }).catch(() => {});

  const show = () => {
    const bytes = chosen.reduce((n, c) => n + c.file.size, 0);
    chosenText.textContent = chosen.length
      ? `${chosen.length} file(s) chosen, ${humanBytes(bytes)}: ${chosen.slice(0, 5).map((c) => c.path).join(", ")}${chosen.length > 5 ? ", …" : ""}`
      : "";
    start.disabled = chosen.length === 0;
  };
  const pick = (input) => input.addEventListener("change", () => {
    chosen = Array.from(input.files).map((f) => ({ file: f, path: f.webkitRelativePath || f.name }));
    show();
  });
  pick($("#pick-files"));
  pick($("#pick-folder"));
  preset.addEventListener("change", () => workflowLabel.classList.toggle("hidden", preset.value !== "custom"));
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#pick-files").click(); } });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    chosen = await filesFromDrop(e.dataTransfer);
    show();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!chosen.length) return;
    errorBox.classList.add("hidden");
    const total = chosen.reduce((n, c) => n + c.file.size, 0);
    if (me) {
      const left = Math.max(0, me.storage_quota - me.storage_used);
      let why = "";
      if (total > me.max_upload) why = `These files are ${humanBytes(total)}, more than the ${humanBytes(me.max_upload)} allowed per upload: upload the album in parts.`;
      else if (total > left) why = `These files are ${humanBytes(total)}, but only ${humanBytes(left)} of your storage quota is left: delete finished jobs you have downloaded, then try again.`;
      if (why) { errorBox.textContent = why; errorBox.classList.remove("hidden"); return; }
    }
    const data = new FormData();
    for (const el of form.querySelectorAll("select, input[name=name]")) if (el.name) data.append(el.name, el.value);
    const wf = $("#workflow");
    if (preset.value === "custom" && wf.files.length) data.append("workflow", wf.files[0]);
    for (const c of chosen) data.append("files", c.file, c.path);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    progress.classList.remove("hidden");
    start.disabled = true;
    const bar = $("progress", progress), label = $("span", progress);
    const t0 = Date.now();
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      bar.value = (100 * ev.loaded) / ev.total;
      const rate = ev.loaded / Math.max(0.001, (Date.now() - t0) / 1000);
      label.textContent = `Uploading: ${humanBytes(ev.loaded)} of ${humanBytes(ev.total)}, ${humanBytes(rate)}/s, about ${humanDuration((ev.total - ev.loaded) / Math.max(rate, 1))} left`;
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 202 && body.id) { window.location = `/jobs/${body.id}`; return; }
      progress.classList.add("hidden");
      start.disabled = false;
      errorBox.textContent = body.error || `The upload failed (${xhr.status}).`;
      errorBox.classList.remove("hidden");
    };
    xhr.onerror = () => {
      progress.classList.add("hidden");
      start.disabled = false;
      errorBox.textContent = "The connection to the server was lost during the upload. Try again.";
      errorBox.classList.remove("hidden");
    };
    xhr.send(data);
  });
}

// The jobs table refreshes itself while something is waiting or running.
function setupJobList() {
  const table = $("table.jobs");
  if (!table) return;
  const busy = () => Array.from(table.querySelectorAll(".badge")).some((b) => /queued|running/.test(b.className));
  const tick = async () => {
    if (!busy()) return;
    try {
      const all = new URLSearchParams(location.search).get("all") ? "?all=1" : "";
      const res = await fetch(`/api/jobs${all}`);
      if (res.ok) {
        const { jobs } = await res.json();
        for (const j of jobs) {
          const row = table.querySelector(`tr[data-job="${j.id}"]`);
          if (!row) continue;
          $(".js-state", row).innerHTML = `<span class="badge ${esc(j.state)}">${esc(j.state)}</span>`;
          $(".js-count", row).textContent = j.kind === "film" && j.frames_total ? `${j.frames_done || 0} / ${j.frames_total} frames` : `${j.done} / ${j.total}`;
          $(".js-failed", row).innerHTML = j.failed > 0 ? `<span class="bad">${j.failed} failed</span>` : "";
        }
      }
    } catch (_) { /* try again later */ }
    setTimeout(tick, 3000);
  };
  setTimeout(tick, 3000);
}

// ---- one job: live progress ---------------------------------------------------------------

function tileHtml(item) {
  const name = esc(item.name);
  let img = `<div class="placeholder">…</div>`;
  if (item.state === "done") img = `<img loading="lazy" alt="${name} in colour" src="/api/items/${item.id}/preview/after?w=480">`;
  else if (item.state === "failed") img = `<div class="placeholder failed">✕</div>`;
  const err = item.error ? `<span class="error">${esc(item.error)}</span>` : "";
  return `<a href="/items/${item.id}">${img}<span class="name">${name}</span> <span class="js-item-state"><span class="badge ${esc(item.state)}">${esc(item.state)}</span></span>${err}</a>`;
}

function setupJob() {
  const box = $("#job");
  if (!box) return;
  const id = box.dataset.job;
  let state = box.dataset.state;
  const setCounts = (j) => {
    $("#state").innerHTML = `<span class="badge ${esc(j.state)}">${esc(j.state)}</span>`;
    $("#counts").textContent = j.kind === "film" && j.frames_total
      ? `${j.frames_done || 0} of ${j.frames_total} frames`
      : `${j.done} of ${j.total} done`;
    $("#failed").textContent = j.failed > 0 ? ` · ${j.failed} failed` : "";
    const total = j.kind === "film" && j.frames_total ? j.frames_total : j.total;
    const done = j.kind === "film" && j.frames_total ? (j.frames_done || 0) : j.done + j.failed;
    if (total > 0) $("#bar").value = (100 * done) / total;
    $("#current").textContent = j.current ? `Now: ${j.current}` : "";
    $("#rate").textContent = j.rate ? `· ${j.rate.toFixed(2)} per second` : "";
    $("#eta").textContent = j.eta_seconds != null && j.state === "running" ? `· about ${humanDuration(j.eta_seconds)} left` : "";
    if (j.error !== undefined) $("#error").textContent = j.error || "";
    if (j.notes) $("#notes").innerHTML = j.notes.map((n) => `<li>${esc(n)}</li>`).join("");
    $("#cancel").classList.toggle("hidden", !/queued|running/.test(j.state));
  };
  const finished = (s) => /done|failed|cancelled/.test(s);
  if (finished(state)) return setupJobButtons(id);
  const source = new EventSource(`/api/jobs/${id}/events`);
  const reload = async () => {
    const res = await fetch(`/api/jobs/${id}`);
    if (!res.ok) return;
    const j = await res.json();
    setCounts(j);
    for (const item of j.items || []) updateItem(item);
  };
  const updateItem = (item) => {
    const tile = document.querySelector(`[data-item="${item.id}"]`);
    if (!tile) return;
    if (tile.classList.contains("tile")) {
      tile.className = `tile ${item.state}`;
      tile.innerHTML = tileHtml(item);
    } else {
      const s = $(".js-item-state", tile);
      if (s) s.innerHTML = `<span class="badge ${esc(item.state)}">${esc(item.state)}</span>`;
    }
  };
  source.addEventListener("job", (e) => {
    const j = JSON.parse(e.data);
    setCounts(j);
    if (finished(j.state) && !finished(state)) {
      source.close();
      // The finished page shows the results (and, for a film, its player).
      setTimeout(() => window.location.reload(), 300);
    }
    state = j.state;
  });
  source.addEventListener("progress", (e) => setCounts(JSON.parse(e.data)));
  source.addEventListener("item", (e) => updateItem(JSON.parse(e.data)));
  source.addEventListener("note", (e) => {
    const n = JSON.parse(e.data);
    const li = document.createElement("li");
    li.textContent = n.text;
    $("#notes").appendChild(li);
  });
  source.addEventListener("resync", reload);
  source.onerror = () => { /* EventSource reconnects by itself */ };
  setupJobButtons(id);
}

function setupJobButtons(id) {
  const call = async (method, url, confirmText) => {
    if (confirmText && !window.confirm(confirmText)) return null;
    const res = await fetch(url, { method, headers: { "X-CSRF-Token": csrf() } });
    if (!res.ok) {
      let msg = `failed (${res.status})`;
      try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON */ }
      $("#error").textContent = msg;
      return null;
    }
    return res;
  };
  const cancel = $("#cancel"), del = $("#delete");
  if (cancel) cancel.addEventListener("click", async () => {
    if (await call("POST", `/api/jobs/${id}/cancel`, "Cancel this job? Photos already done are kept.")) window.location.reload();
  });
  if (del) del.addEventListener("click", async () => {
    if (await call("DELETE", `/api/jobs/${id}`, "Delete this job with its originals and results? This cannot be undone.")) window.location = "/";
  });
}

// ---- one photo: the before/after slider ---------------------------------------------------

function setupCompare() {
  const slider = $("#slider"), clip = $("#after-clip"), divider = $("#divider"), box = $("#compare");
  if (!slider || !clip) return;
  const set = (v) => {
    clip.style.clipPath = `inset(0 0 0 ${v}%)`;
    divider.style.left = `${v}%`;
  };
  slider.addEventListener("input", () => set(slider.value));
  set(slider.value);
  // Dragging on the picture itself moves the split too.
  let dragging = false;
  const fromPointer = (e) => {
    const r = box.getBoundingClientRect();
    const v = Math.min(100, Math.max(0, (100 * (e.clientX - r.left)) / r.width));
    slider.value = v;
    set(v);
  };
  box.addEventListener("pointerdown", (e) => { dragging = true; box.setPointerCapture(e.pointerId); fromPointer(e); });
  box.addEventListener("pointermove", (e) => { if (dragging) fromPointer(e); });
  box.addEventListener("pointerup", () => { dragging = false; });
}

function setupKeys() {
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") && e.target.id !== "slider") return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const go = (sel) => { const a = $(sel); if (a) window.location = a.href; };
    if (e.key === "j") go("#prev");
    else if (e.key === "k") go("#next");
    else if (e.key === "?") window.location = "/help#keys";
    else if (e.key === "b" && $("#slider")) { $("#slider").value = 100; $("#slider").dispatchEvent(new Event("input")); }
    else if (e.key === "a" && $("#slider")) { $("#slider").value = 0; $("#slider").dispatchEvent(new Event("input")); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  setupUpload();
  setupJobList();
  setupJob();
  setupCompare();
  setupKeys();
});
