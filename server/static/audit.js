// /audit.html?traceId=&entityId=&page=1&pageSize=20: the audit trail, paged; a trace id links to every
// event of that trace, an entity id to every event about that entity.
"use strict";

(() => {
  const {api, el, showError, time, link} = Operator;

  function row(event) {
    const entityLink = link("/audit.html", {entityId: event.entityId, page: 1, pageSize: Operator.pageSize(Operator.params())});
    return el("tr", {"data-event-id": event.auditEventId},
      el("td", {class: "time"}, time(event.occurredAt)),
      el("td", {}, el("a", {href: Operator.auditLink(event.traceId), class: "trace"}, event.traceId)),
      el("td", {}, `${event.entityType} `, el("a", {href: entityLink, class: "entity"}, event.entityId)),
      el("td", {class: "action"}, event.action),
      el("td", {}, event.status),
      el("td", {}, `${event.actorType}: ${event.actorId}`),
      el("td", {class: "details"}, el("code", {}, JSON.stringify(event.details))),
    );
  }

  function caption(filters, total) {
    const count = `${total.toLocaleString("en-US")} event${total === 1 ? "" : "s"}`;
    if (filters.traceId) return `Trace ${filters.traceId}: ${count}, newest first.`;
    if (filters.entityId) return `Entity ${filters.entityId}: ${count}, newest first.`;
    return `Audit trail: ${count}, newest first.`;
  }

  async function load() {
    const query = Operator.params();
    Operator.fillForm(document.getElementById("filters"), query);
    const filters = {traceId: query.get("traceId") || "", entityId: query.get("entityId") || ""};
    const wanted = {...filters, page: Operator.pageNumber(query), pageSize: Operator.pageSize(query)};
    try {
      const result = await api("GET", "/audit-trail", {query: wanted});
      const rows = document.getElementById("audit-rows");
      if (result.items.length) {
        rows.replaceChildren(...result.items.map(row));
      } else {
        rows.replaceChildren(el("tr", {}, el("td", {colspan: "7", class: "empty"}, "No audit events match these filters.")));
      }
      document.getElementById("audit-caption").textContent = caption(filters, result.total);
      Operator.pager(document.getElementById("pager"), result, "/audit.html", filters, ["event", "events"]);
    } catch (error) {
      showError(error);
    }
  }

  document.addEventListener("DOMContentLoaded", load);
})();
