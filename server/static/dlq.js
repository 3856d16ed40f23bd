// /dlq.html: the dead-letter queue, filtered and paged from the address (?status=&traceId=&page=&pageSize=);
// Replay, Resolve and Ignore act on one entry with the row's note and update that row in place.
"use strict";

(() => {
  const {api, el, say, showError, clearError, time} = Operator;
  const ACTIONS = [
    {name: "replay", label: "Replay", done: "replayed", allowed: (s) => s === "open"},
    {name: "resolved", label: "Resolve", done: "resolved", allowed: (s) => s === "open" || s === "replayed"},
    {name: "ignored", label: "Ignore", done: "ignored", allowed: (s) => s === "open" || s === "replayed"},
  ];

  function row(entry) {
    const id = entry.dlqEntryId;
    const note = el("input", {type: "text", name: "note", "aria-label": `Note for ${id}`, placeholder: "note (optional)"});
    const buttons = ACTIONS.map((action) => {
      const button = el("button", {type: "button", "data-action": action.name, "aria-label": `${action.label} ${id}`,
                                   disabled: !action.allowed(entry.status)}, action.label);
      button.addEventListener("click", () => act(entry, action, note.value.trim()));
      return button;
    });
    return el("tr", {id: `row-${id}`, "data-entry-id": id, "data-status": entry.status},
      el("th", {scope: "row", tabindex: "-1"}, el("code", {}, id)),
      el("td", {}, el("code", {}, entry.settlementId)),
      el("td", {}, el("a", {href: Operator.auditLink(entry.traceId)}, entry.traceId)),
      el("td", {class: "status-cell"}, el("span", {class: `badge ${entry.status}`}, entry.status)),
      el("td", {}, entry.reason, el("br"), el("small", {}, entry.lastError)),
      el("td", {class: "time"}, time(entry.updatedAt)),
      el("td", {class: "note-cell"}, entry.resolutionNote || ""),
      el("td", {class: "actions"}, note, buttons),
    );
  }

  async function act(entry, action, note) {
    clearError();
    const id = entry.dlqEntryId;
    const path = `/settlements/dlq/${encodeURIComponent(id)}/${action.name === "replay" ? "replay" : "resolve"}`;
    const body = action.name === "replay" ? {} : {status: action.name};
    if (note) body.resolutionNote = note;
    try {
      const answer = await api("POST", path, {body});
      const updated = action.name === "replay" ? answer.dlqEntry : answer;
      const current = document.getElementById(`row-${id}`);
      const fresh = row(updated);
      current.replaceWith(fresh);
      fresh.querySelector("th").focus();
      const more = action.name === "replay"
        ? ` Settlement ${answer.settlement.settlementId} is ${answer.settlement.status}; its retry job is ${answer.retryJob.status}.`
        : "";
      say(`${id} ${action.done}.${more}`);
    } catch (error) {
      showError(error);
    }
  }

  async function load() {
    const query = Operator.params();
    const form = document.getElementById("filters");
    Operator.fillForm(form, query);
    const filters = {status: query.get("status") || "", traceId: query.get("traceId") || ""};
    const wanted = {...filters, page: Operator.pageNumber(query), pageSize: Operator.pageSize(query)};
    try {
      const result = await api("GET", "/settlements/dlq", {query: wanted});
      const rows = document.getElementById("dlq-rows");
      if (result.items.length) {
        rows.replaceChildren(...result.items.map(row));
      } else {
        rows.replaceChildren(el("tr", {}, el("td", {colspan: "8", class: "empty"}, "No dead letters match these filters.")));
      }
      Operator.pager(document.getElementById("pager"), result, "/dlq.html", filters, ["entry", "entries"]);
    } catch (error) {
      showError(error);
    }
  }

  document.addEventListener("DOMContentLoaded", load);
})();
