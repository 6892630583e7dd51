// harness console: the live journal (server-sent events) and the try-it form. Vanilla JS, no build step.
"use strict";

const MAX_ROWS = 500;

function liveJournal() {
  const rows = document.getElementById("rows");
  if (!rows || !rows.dataset.stream || !window.EventSource) return;
  const badge = document.getElementById("live");
  const sep = rows.dataset.stream.includes("?") ? "&" : "?";
  const url = rows.dataset.stream + sep + "after=" + encodeURIComponent(rows.dataset.newest || "0");
  const source = new EventSource(url);
  const state = (on, text) => { if (badge) { badge.className = "live " + (on ? "on" : "off"); badge.textContent = text; } };
  source.onopen = () => state(true, "live");
  source.onerror = () => state(false, "reconnecting…");
  source.addEventListener("exchange", (event) => {
    const item = JSON.parse(event.data);
    if (rows.querySelector(`tr[data-id="${item.id}"]`)) return;
    const holder = document.createElement("tbody");
    holder.innerHTML = item.html;
    const tr = holder.firstElementChild;
    if (!tr) return;
    tr.classList.add("fresh");
    rows.insertBefore(tr, rows.firstElementChild);
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
    while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
  });
}

function tryIt() {
  const form = document.getElementById("try");
  if (!form) return;
  const out = document.getElementById("try-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.textContent = "sending…";
    let body;
    try {
      body = JSON.parse(form.elements.body.value);
    } catch (err) {
      out.textContent = "the body is not JSON: " + err.message;
      return;
    }
    const reply = await fetch("/console/try", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Harness-Console": "1" },
      body: JSON.stringify({
        platform: form.dataset.platform,
        operation: form.dataset.operation,
        body: body,
        enterprise_id: form.elements.enterprise_id ? form.elements.enterprise_id.value : undefined,
        secret: form.elements.secret ? form.elements.secret.value : undefined,
      }),
    });
    const result = await reply.json();
    if (result.exchange && !result.error) {
      window.location.href = "/console/exchange/" + result.exchange;
    } else {
      out.textContent = result.error || JSON.stringify(result);
      if (result.exchange) {
        const link = document.createElement("a");
        link.href = "/console/exchange/" + result.exchange;
        link.textContent = " exchange #" + result.exchange;
        out.appendChild(link);
      }
    }
  });
}

document.addEventListener("DOMContentLoaded", () => { liveJournal(); tryIt(); });
