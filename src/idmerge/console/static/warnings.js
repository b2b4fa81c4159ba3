// The warnings page: rejected records and refused identity events, by reason.
"use strict";

async function warningsPage(params) {
  const reason = params.get("reason") || "";
  const answer = await api("/api/ingestion/warnings", { limit: 500, reason });
  const reasons = new Set(answer.results.map((w) => w.reason));
  if (reason) reasons.add(reason);
  const select = el("select", { name: "reason", on: { change: () => {
    location.hash = "#/warnings" + (select.value ? "?reason=" + encodeURIComponent(select.value) : "");
  } } }, el("option", { value: "" }, "every reason"),
    [...reasons].sort().map((r) => el("option", { value: r, selected: r === reason }, r)));
  const rows = answer.results.map((w) => [
    String(w.seq), when(w.received_at), w.reason, w.event || "", w.distinct_id ? personLink(w.distinct_id) : "",
    w.message,
  ]);
  main.replaceChildren(
    el("h2", {}, "Ingestion warnings"),
    el("p", { class: "muted" }, "Every rejected record and refused identity event, newest first."),
    el("form", { class: "inline" }, select),
    rows.length ? table(["seq", "received", "reason", "event", "id", "message"], rows)
                : el("p", { class: "muted", id: "no-warnings" }, "No warnings."),
  );
}

PAGES.warnings = warningsPage;
