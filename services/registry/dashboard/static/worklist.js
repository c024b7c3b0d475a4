// The worklist: read with the viewer's own key from GET /v1/worklist (its scopes and region binding
// apply), fetched again whenever the shared snapshot's worklist version moves (the open and overdue
// counts per kind), when a filter changes, after marking an item done, and once a minute. Most urgent first.
"use strict";
const KIND_LABEL = {
  DESIL_REVERIFICATION: "Verifikasi ulang desil", BIOMETRIC_RECORDING: "Rekam biometrik", SIKS_NG_ENTRY: "Entri ID Semesta (SIKS-NG)",
  EMERGENCY_HELD: "Darurat tertahan", SLA_BREACHED: "SLA darurat terlewati", APPEAL_REVIEW: "Tinjau banding",
};
const MAX_PAGES = 4; // 4 × 500 items; more than that is narrowed with the filters
const URGENT_KINDS = ["SLA_BREACHED", "EMERGENCY_HELD"];
const wl = { me: null, version: null, items: [], truncated: false, seq: 0, started: false };

function wlCan(scope) { return !!wl.me && wl.me.scopes.includes(scope); }
function wlNotice(text) { document.querySelector("#worklist-notice").textContent = text || ""; }
function wlAuth(extra) { return { headers: { Authorization: "Bearer " + key(), ...(extra || {}) } }; }

async function worklistStart() {
  if (wl.started) return;
  wl.started = true;
  const kind = document.querySelector("#wl-kind");
  for (const [value, label] of Object.entries(KIND_LABEL)) kind.append(new Option(label, value));
  for (const id of ["#wl-kind", "#wl-province", "#wl-regency"]) {
    document.querySelector(id).addEventListener("change", () => {
      if (id === "#wl-province") { document.querySelector("#wl-regency").value = ""; worklistRegions(); }
      worklistLoad();
    });
  }
  const r = await fetch("/dashboard/me", wlAuth());
  wl.me = r.ok ? await r.json() : { scopes: [], region: [null, null] };
  const [province, regency] = wl.me.region || [null, null];
  worklistRegions();
  // A key bound to a region sees only that region: its filter is fixed there.
  if (province) { setSelect("#wl-province", province); document.querySelector("#wl-province").disabled = true; worklistRegions(); }
  if (regency) { setSelect("#wl-regency", regency); document.querySelector("#wl-regency").disabled = true; }
  worklistLoad();
}

function setSelect(id, value) {
  const select = document.querySelector(id);
  if (![...select.options].some((o) => o.value === value)) select.append(new Option(value, value));
  select.value = value;
}

// Province and regency choices from the snapshot's regions, kept as chosen when the snapshot moves.
function worklistRegions() {
  const regions = (snapshot && snapshot.regions) || [];
  fillOptions("#wl-province", "Semua provinsi", [...new Set(regions.map((r) => r.province))]);
  const province = document.querySelector("#wl-province").value;
  fillOptions("#wl-regency", "Semua kab/kota", [...new Set(regions.filter((r) => r.province === province).map((r) => r.regency))]);
}

function fillOptions(id, all, values) {
  const select = document.querySelector(id);
  const chosen = select.value;
  const wanted = [...new Set([...values, ...(chosen ? [chosen] : [])])].sort((a, b) => a.localeCompare(b));
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join("\n") === wanted.join("\n")) return;
  select.replaceChildren(new Option(all, ""), ...wanted.map((v) => new Option(v, v)));
  select.value = chosen;
}

function worklistOnSnapshot() {
  const w = snapshot.worklist;
  if (!w) return;
  document.querySelector("#worklist-counts").textContent =
    `Seluruh wilayah: ${fmt.format(w.open)} terbuka · ${fmt.format(w.overdue)} lewat tenggat`;
  worklistRegions();
  if (wl.started && wl.me && w.version !== wl.version) { wl.version = w.version; worklistLoad(); }
}

async function worklistLoad() {
  if (!wl.me) return;
  if (!wlCan("worklist:read")) { wlNotice("Kunci ini tidak punya cakupan worklist:read: daftar kerja tidak ditampilkan."); return; }
  const seq = ++wl.seq; // a slower answer to an older filter never overwrites a newer one
  const params = new URLSearchParams({ state: "OPEN", limit: "500", order: "oldest_due" });
  for (const [name, id] of [["kind", "#wl-kind"], ["province", "#wl-province"], ["regency", "#wl-regency"]]) {
    const value = document.querySelector(id).value;
    if (value) params.set(name, value);
  }
  // Oldest due first: past MAX_PAGES the latest due are left out, never the overdue. The emergency kinds
  // (few) are also asked for on their own, so they show even behind 2,000 overdue follow-ups.
  const asks = [params, ...(params.has("kind") ? [] : URGENT_KINDS.map((k) => new URLSearchParams([...params, ["kind", k]])))];
  const lists = await Promise.all(asks.map((p) => worklistPages(p, seq)));
  if (seq !== wl.seq || lists.some((l) => l === null)) return;
  const byId = new Map(lists.flatMap((l) => l.items).map((i) => [i.item_id, i]));
  const due = (i) => (i.due_at ? new Date(i.due_at).getTime() : Infinity);
  wl.items = [...byId.values()].sort((a, b) => due(a) - due(b)); // people want the most urgent first
  wl.truncated = !!lists[0].next;
  wlNotice(wl.truncated ? `Hanya ${fmt.format(lists[0].items.length)} item ditampilkan (semua darurat tetap tampil); persempit dengan filter.` : "");
  worklistRender();
}

// Up to MAX_PAGES pages of one query, or null when it failed or a newer load began (the notice says why).
async function worklistPages(params, seq) {
  const items = [];
  let next = null, pages = 0;
  do {
    if (next) params.set("cursor", next);
    let r;
    try { r = await fetch("/v1/worklist?" + params, wlAuth()); } catch (e) { return null; }
    if (seq !== wl.seq) return null;
    if (!r.ok) { wlNotice(r.status === 403 ? "Kunci ini tidak boleh membaca daftar kerja wilayah ini." : `Gagal memuat daftar kerja (${r.status}).`); return null; }
    const body = await r.json();
    items.push(...body.items);
    next = body.next; pages += 1;
  } while (next && pages < MAX_PAGES);
  return { items, next };
}

function overdue(i) { return !!i.due_at && new Date(i.due_at) < Date.now(); }

function remaining(i) {
  if (!i.due_at) return "–";
  const ms = new Date(i.due_at) - Date.now();
  const m = Math.floor(Math.abs(ms) / 60000), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60);
  const text = d ? `${d}h ${h}j` : `${h}j ${String(m % 60).padStart(2, "0")}m`;
  return ms < 0 ? "lewat " + text : text;
}

function worklistRender() {
  const body = document.querySelector("#worklist-table tbody");
  body.replaceChildren();
  const write = wlCan("worklist:write");
  for (const i of wl.items) {
    const tr = document.createElement("tr");
    tr.dataset.itemId = i.item_id; tr.dataset.kind = i.kind;
    tr.className = overdue(i) ? "overdue" : "";
    const r = i.region || {};
    const where = cell(`${r.regency || "–"}, ${r.district || "–"}`); where.title = r.province || "";
    tr.append(cell(KIND_LABEL[i.kind] || i.kind, "kind"), cell(i.nik), where, cell(localTime(i.opened_at)),
      cell(localTime(i.due_at), "due"), cell(remaining(i), "remaining"));
    const action = cell("", "action");
    if (write) { // a key without worklist:write gets no button (the API would answer 403 anyway)
      const button = document.createElement("button");
      button.type = "button"; button.textContent = "Tandai selesai";
      button.addEventListener("click", () => markDone(i, button));
      action.append(button);
    }
    tr.append(action); body.append(tr);
  }
  if (!wl.items.length) { const tr = document.createElement("tr"); tr.append(cell("Tidak ada pekerjaan terbuka.")); body.append(tr); }
}

async function markDone(item, button) {
  button.disabled = true;
  let r;
  try { r = await fetch(`/v1/worklist/${encodeURIComponent(item.item_id)}/done`, { method: "POST", body: "{}", ...wlAuth({ "Content-Type": "application/json" }) }); }
  catch (e) { button.disabled = false; wlNotice("Gagal menghubungi server."); return; }
  if (r.ok) {
    wl.items = wl.items.filter((i) => i.item_id !== item.item_id);
    wlNotice(`${KIND_LABEL[item.kind] || item.kind} untuk ${item.nik} ditandai selesai.`);
    worklistRender();
    return;
  }
  button.disabled = false;
  if (r.status === 403) { wl.me.scopes = wl.me.scopes.filter((s) => s !== "worklist:write"); worklistRender(); }
  wlNotice(r.status === 403 ? "Kunci ini tidak punya cakupan worklist:write." : `Gagal menandai selesai (${r.status}).`);
}

// A safety net for what the version cannot see (an item opened as another of its kind closed).
setInterval(() => { if (wl.started && wl.me && !document.hidden) worklistLoad(); }, 60_000);

// Overdue and time left move with the clock, between snapshots.
setInterval(() => {
  const byId = new Map(wl.items.map((i) => [i.item_id, i])); // a long list: one look-up per row, not a scan
  document.querySelectorAll("#worklist-table tbody tr[data-item-id]").forEach((tr) => {
    const i = byId.get(tr.dataset.itemId);
    if (!i) return;
    tr.className = overdue(i) ? "overdue" : "";
    tr.querySelector(".remaining").textContent = remaining(i);
  });
}, 1000);
