// The operations dashboard: reads server-sent snapshots (fetch stream, so the API key travels in a
// header, never in the URL) and re-renders; the SLA countdowns tick every second locally.
"use strict";
const KEY_STORE = "pbi-dashboard-key";
const $ = (sel) => document.querySelector(sel);
const fmt = new Intl.NumberFormat("id-ID");
const STATE_LABEL = { OK: "Berjalan", WARNING: "Peringatan", BREACHED: "Terlewati", MET: "Terpenuhi", CLOSED: "Ditutup" };
const REASON_LABEL = {
  NIK_INVALID: "NIK tidak valid", NOT_DEACTIVATED: "Tidak dalam daftar nonaktif", ALREADY_ACTIVE: "Sudah aktif",
  DECEASED: "Meninggal", NIK_CONFLICT: "NIK ganda", WINDOW_EXPIRED: "Lewat 6 bulan", DESIL_ABOVE_5: "Desil di atas 5",
  DESIL_UNKNOWN: "Desil belum ada", BIOMETRIC_MISSING: "Belum rekam biometrik", DOCUMENT_MISSING: "Dokumen kurang",
  FACILITY_UNKNOWN: "Faskes tidak dikenal",
};
let snapshot = null;
let sort = { key: "deactivated", asc: false };

function key() { return sessionStorage.getItem(KEY_STORE); }

function showLogin(message) {
  $("#app").hidden = true; $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

async function connect() {
  const k = key();
  if (!k) return showLogin();
  let response;
  try {
    response = await fetch("/dashboard/events", { headers: { Authorization: "Bearer " + k } });
  } catch (e) { return retry(); }
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(KEY_STORE);
    return showLogin(response.status === 401 ? "Kunci tidak dikenal atau dicabut." : "Kunci ini tidak punya cakupan dashboard:read.");
  }
  if (!response.ok) return retry();
  $("#login").hidden = true; $("#app").hidden = false; setLive(true);
  worklistStart(); // worklist.js: what this key may do there, then the list itself
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let chunk;
    try { chunk = await reader.read(); } catch (e) { break; }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
      if (data) { snapshot = JSON.parse(data); render(); }
    }
  }
  retry();
}

function retry() { setLive(false); setTimeout(connect, 1000); }
function setLive(on) { $("#live").className = "live " + (on ? "on" : "off"); $("#live span").textContent = on ? "langsung" : "terputus"; }

function countdown(deadline, state) {
  if (state === "MET" || state === "CLOSED") return "—";
  const ms = new Date(deadline) - Date.now();
  const sign = ms < 0 ? "−" : "";
  const s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return `${sign}${h}j ${String(m).padStart(2, "0")}m ${String(sec).padStart(2, "0")}d`;
}

function localTime(iso) { return iso ? new Date(iso).toLocaleString("id-ID", { dateStyle: "short", timeStyle: "short" }) : "–"; }

function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }

function render() {
  if (!snapshot) return;
  const h = snapshot.headline || {};
  $("#c-inactive").textContent = fmt.format(h.inactive || 0);
  $("#c-pending").textContent = fmt.format(h.pending || 0);
  $("#c-reactivated").textContent = fmt.format(h.reactivated || 0);
  $("#c-expired").textContent = fmt.format(h.expired || 0);
  $("#c-today").textContent = fmt.format(h.decisions_today || 0);
  const sc = snapshot.sla_counts || {};
  $("#sla-counts").textContent = `Terbuka ${sc.open || 0} · Peringatan ${sc.warning || 0} · Terlewati ${sc.breached || 0} · Terpenuhi ${sc.met || 0} · Ditutup ${sc.closed || 0}`;
  renderSla(); renderReasons(); renderNotifications(); renderOps(); renderRegions(); renderCharts(); worklistOnSnapshot();
  $("#updated").textContent = localTime(snapshot.generated_at);
}

// Approved after the breach stays BREACHED (met late): said so, never shown as met.
function slaLabel(r) {
  const label = STATE_LABEL[r.sla_state] || r.sla_state;
  return r.sla_state === "BREACHED" && r.status === "APPROVED" ? `${label} (disetujui terlambat)` : label;
}

function renderSla() {
  const order = { BREACHED: 0, WARNING: 1, OK: 2, MET: 3 };
  const rows = [...(snapshot.sla_board || [])].sort((a, b) => order[a.sla_state] - order[b.sla_state] || new Date(a.sla_deadline) - new Date(b.sla_deadline));
  const body = $("#sla tbody"); body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr"); tr.className = r.sla_state; tr.dataset.requestId = r.request_id;
    tr.append(cell(r.request_id.slice(0, 8)), cell(r.nik_masked), cell(r.facility_code || "–"), cell(localTime(r.received_at)),
      cell(localTime(r.sla_deadline)), cell(countdown(r.sla_deadline, r.sla_state), "countdown"), cell(slaLabel(r), "state"));
    body.append(tr);
  }
  if (!rows.length) { const tr = document.createElement("tr"); tr.append(cell("Tidak ada permintaan darurat terbuka.")); body.append(tr); }
}

// The charts come drawn (server-rendered SVG, escaped there): parsed as SVG, never as HTML, and
// replaced only when they changed.
const drawn = {};
function renderCharts() {
  for (const [name, svg] of Object.entries(snapshot.charts || {})) {
    const box = document.getElementById("chart-" + name);
    if (!box || drawn[name] === svg) continue;
    const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
    if (doc.querySelector("parsererror")) continue;
    box.replaceChildren(document.importNode(doc.documentElement, true));
    drawn[name] = svg;
  }
}

function renderReasons() {
  const entries = Object.entries(snapshot.decisions_by_reason || {}).sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map((e) => e[1]));
  const box = $("#reasons"); box.replaceChildren();
  for (const [reason, n] of entries) {
    const row = document.createElement("div"); row.className = "bar";
    const label = document.createElement("span"); label.textContent = REASON_LABEL[reason] || reason;
    const track = document.createElement("div"); const fill = document.createElement("div"); fill.className = "fill";
    fill.style.width = (100 * n / max) + "%"; track.append(fill);
    const count = document.createElement("span"); count.textContent = fmt.format(n);
    row.append(label, track, count); box.append(row);
  }
  if (!entries.length) box.textContent = "Belum ada keputusan dengan alasan.";
}

function renderNotifications() {
  const body = $("#notifications tbody"); body.replaceChildren();
  for (const [channel, s] of Object.entries(snapshot.notifications || {})) {
    const tr = document.createElement("tr");
    tr.append(cell(channel), cell(fmt.format(s.SENT || 0), "num"), cell(fmt.format(s.DELIVERED || 0), "num"),
      cell(fmt.format(s.READ || 0), "num"), cell(fmt.format(s.FAILED || 0), "num"));
    body.append(tr);
  }
}

function renderOps() {
  const body = $("#ops tbody"); body.replaceChildren();
  for (const [topic, n] of Object.entries(snapshot.dead_letters || {})) { const tr = document.createElement("tr"); tr.append(cell("DLQ " + topic), cell(fmt.format(n), "num")); body.append(tr); }
  for (const [group, n] of Object.entries(snapshot.consumer_lag || {})) { const tr = document.createElement("tr"); tr.append(cell("lag " + group), cell(fmt.format(n), "num")); body.append(tr); }
}

function renderRegions() {
  const rows = (snapshot.regions || []).map((r) => ({ ...r, closing_share: r.deactivated ? r.inactive_closing_30d / r.deactivated : 0 }));
  rows.sort((a, b) => { const x = a[sort.key], y = b[sort.key]; const c = typeof x === "string" ? x.localeCompare(y) : x - y; return sort.asc ? c : -c; });
  const body = $("#regions tbody"); body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.append(cell(r.province), cell(r.regency), cell(r.district), cell(fmt.format(r.deactivated), "num"), cell(fmt.format(r.requests), "num"),
      cell(fmt.format(r.approved), "num"), cell(`${(100 * r.closing_share).toFixed(1)}% (${fmt.format(r.inactive_closing_30d)})`, "num"));
    body.append(tr);
  }
  document.querySelectorAll("#regions th").forEach((th) => { th.classList.toggle("sorted", th.dataset.key === sort.key); th.classList.toggle("asc", th.dataset.key === sort.key && sort.asc); });
}

async function lookup(nik) {
  const out = $("#lookup-result");
  const masked = nik.length === 16 ? nik.slice(0, 4) + "********" + nik.slice(12) : "";
  history.replaceState(null, "", "#peserta=" + masked);  // never the whole NIK in the URL or history
  const r = await fetch("/v1/participants/" + encodeURIComponent(nik), { headers: { Authorization: "Bearer " + key() } });
  out.replaceChildren();
  if (r.status === 404) { out.textContent = "NIK tidak ditemukan."; return; }
  if (r.status === 422) { out.textContent = "NIK tidak valid."; return; }
  if (!r.ok) { out.textContent = "Gagal (" + r.status + ")."; return; }
  const p = await r.json();
  const head = document.createElement("p");
  head.innerHTML = "";
  head.textContent = `${masked} — status ${p.status}; alasan ${p.deactivation_reason || "–"}; jendela tutup ${localTime(p.window_closes_at)}`;
  const table = document.createElement("table"); table.className = "grid";
  table.innerHTML = "<thead><tr><th>Waktu</th><th>Peristiwa</th><th>Status</th><th>Alasan</th></tr></thead>";
  const body = document.createElement("tbody");
  for (const h of p.history || []) {
    const tr = document.createElement("tr");
    tr.append(cell(localTime(h.occurred_at || h.at)), cell(h.event_type || h.type), cell(h.status || "–"), cell((h.reasons || []).join(", ")));
    body.append(tr);
  }
  table.append(body); out.append(head, table);
}

$("#login-form").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem(KEY_STORE, $("#api-key").value.trim()); connect(); });
$("#lookup-form").addEventListener("submit", (e) => { e.preventDefault(); lookup($("#lookup-nik").value.trim()); });
document.querySelectorAll("#regions th").forEach((th) => th.addEventListener("click", () => {
  sort = { key: th.dataset.key, asc: sort.key === th.dataset.key ? !sort.asc : false }; renderRegions();
}));
setInterval(() => { if (snapshot) document.querySelectorAll("#sla tbody tr").forEach((tr) => {
  const r = (snapshot.sla_board || []).find((x) => x.request_id === tr.dataset.requestId);
  if (r) tr.querySelector(".countdown").textContent = countdown(r.sla_deadline, r.sla_state);
}); }, 1000);
connect();
