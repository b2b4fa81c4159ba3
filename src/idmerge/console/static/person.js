// The person page: search by any id; the identity graph, history, profile, timeline.
"use strict";

/** The most events the timeline shows (the oldest first). */
const TIMELINE_LIMIT = 10000;

async function personPage(params) {
  const input = el("input", { type: "text", name: "id", value: params.get("id") || "",
                              placeholder: "any id: device, user, alias", required: true });
  const form = el("form", { class: "inline", id: "person-search", on: { submit: (event) => {
    event.preventDefault();
    location.hash = "#/person?id=" + encodeURIComponent(input.value.trim());
  } } }, input, el("button", { type: "submit" }, "Look up"));
  const body = el("div", { id: "person" });
  main.replaceChildren(form, body);
  const id = params.get("id");
  if (!id) {
    body.append(el("p", { class: "muted" }, "Search a person by any of their ids."));
    return;
  }
  const explained = await api("/api/identity", { distinct_id: id });
  const [profile, activity] = await Promise.all([
    api("/api/2.0/engage", { distinct_id: id }),
    api("/api/2.0/stream/query", { distinct_ids: JSON.stringify([id]), limit: TIMELINE_LIMIT }),
  ]);
  const cluster = explained.cluster;
  const lastSplit = sessionStorage.getItem("idmerge.lastSplit");
  sessionStorage.removeItem("idmerge.lastSplit");
  body.append(
    ...(lastSplit ? [el("p", { class: "notice", id: "split-done", role: "status" }, lastSplit)] : []),
    el("p", {}, "Resolved id ", el("code", { id: "resolved-id" }, explained.resolved_distinct_id),
       ` · ${cluster.length} id${cluster.length === 1 ? "" : "s"} in the cluster`),
    el("h2", {}, "Identity graph"),
    identityGraph(explained),
    el("h2", {}, "How it came to be"),
    explained.history.length
      ? historyTable(explained.history)
      : el("p", { class: "muted" }, "No identity event touched these ids: a person of one id."),
    el("div", { id: "split-panel" }),
    el("div", { class: "columns" },
      el("div", {}, el("h2", {}, "Profile"), profileTable(profile)),
      el("div", {}, el("h2", {}, "Timeline"), timeline(activity.results.events))),
  );
}

function historyTable(history) {
  const undone = new Set(history.flatMap((entry) => entry.undoes || []));
  return table(["seq", "time", "event", "outcome", "ids", ""], history.map((entry) => [
    String(entry.seq), when(entry.time), entry.event,
    entry.reason ? `${entry.outcome}: ${entry.reason}` : entry.outcome,
    el("span", {}, entry.ids.map((x, i) => [i ? ", " : "", personLink(x)])),
    ["linked", "merged"].includes(entry.outcome) && !undone.has(entry.seq)
      ? el("button", { type: "button", class: "split", "data-seq": entry.seq,
                       on: { click: () => previewSplit(entry) } }, "Split…")
      : "",
  ]));
}

// Split: a preview first (the API's dry run: which ids and how many events would
// change person), then the split itself, after which the page is drawn afresh.
async function previewSplit(entry) {
  const panel = document.getElementById("split-panel");
  panel.replaceChildren(el("p", { class: "muted" }, "Working out the split…"));
  try {
    const preview = await apiPost("/api/identity/split", { seq: entry.seq, dry_run: true });
    const clusters = Object.entries(preview.clusters);
    panel.replaceChildren(
      el("h2", {}, `Undo seq ${entry.seq} (${entry.event})?`),
      el("p", { id: "split-preview" },
         `${preview.moved_ids.length} id${preview.moved_ids.length === 1 ? "" : "s"} and ` +
         `${preview.moved_events} event${preview.moved_events === 1 ? "" : "s"} would change person: `,
         el("span", {}, preview.moved_ids.map((x, i) => [i ? ", " : "", el("code", {}, x)]))),
      table(["id", "resolved id after", "cluster after"], clusters.map(([id, found]) => [
        id, found.resolved_distinct_id, found.cluster.join(", "),
      ])),
      el("p", {},
        el("button", { type: "button", id: "split-confirm", on: { click: () => split(entry) } },
           "Split"), " ",
        el("button", { type: "button", class: "secondary",
                       on: { click: () => panel.replaceChildren() } }, "Cancel")),
    );
  } catch (error) {
    panel.replaceChildren(failure(error));
  }
  panel.dataset.ready = String(entry.seq);
}

async function split(entry) {
  const panel = document.getElementById("split-panel");
  try {
    const done = await apiPost("/api/identity/split", { seq: entry.seq });
    sessionStorage.setItem("idmerge.lastSplit",
      `Split done: seq ${done.split.seq} undid seq ${entry.seq}; ${done.moved_events} events re-attributed.`);
    await route();  // the graph, history and timeline as they are now
  } catch (error) {
    panel.replaceChildren(failure(error));
  }
}

function profileTable(profile) {
  const found = profile.results[0];
  if (!found) return el("p", { class: "muted" }, "No profile.");
  const rows = Object.entries(found.$properties).sort(([a], [b]) => a.localeCompare(b));
  return table(["property", "value"], rows.map(([k, v]) => [k, JSON.stringify(v)]));
}

function timeline(events) {
  if (!events.length) return el("p", { class: "muted" }, "No events.");
  const rows = events.map((e) => [
    when(e.properties.time * 1000), e.event,
    e.properties.$distinct_id_before_identity, e.properties.distinct_id,
  ]);
  return el("div", { id: "timeline" },
    el("p", { class: "muted" }, events.length < TIMELINE_LIMIT
      ? `${events.length} events (stored id → resolved id)`
      : `The first ${TIMELINE_LIMIT.toLocaleString("en")} events (stored id → resolved id)`),
    table(["time", "event", "stored id", "resolved id"], rows));
}

/** How an entry's edges are drawn: "" (a link that holds), "undone" (a link a split
 * undid), "split" (the split itself) or "refused" (refused or ignored attempts). */
function edgeKind(entry, undone) {
  if (entry.outcome === "split") return "split";
  if (!["linked", "merged"].includes(entry.outcome)) return "refused";
  return undone.has(entry.seq) ? "undone" : "";
}

// The graph: the resolved id in the middle, the cluster's other ids around it, one edge
// per id an identity event linked; ids outside the cluster (refused or ignored
// attempts, links a split undid) stand apart, on the right, their edges dashed and
// labelled with the outcome and reason.
function identityGraph(explained) {
  const width = 1000, height = 460, cx = 380, cy = height / 2;
  const inCluster = new Set(explained.cluster);
  const others = explained.cluster.filter((x) => x !== explained.resolved_distinct_id);
  const place = new Map([[explained.resolved_distinct_id, [cx, cy]]]);
  const radius = Math.min(190, 150 + others.length * 2);
  others.forEach((x, i) => {
    const angle = (2 * Math.PI * i) / others.length - Math.PI / 2;
    place.set(x, [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)]);
  });
  const apart = [];
  for (const entry of explained.history) {
    for (const x of entry.ids) if (!inCluster.has(x) && !apart.includes(x)) apart.push(x);
  }
  apart.forEach((x, i) => place.set(x, [width - 170, 40 + ((height - 80) * (i + 0.5)) / apart.length]));
  const labelled = place.size <= 40;
  const undone = new Set(explained.history.flatMap((entry) => entry.undoes || []));
  const refusedIds = new Set(explained.history.filter((entry) => edgeKind(entry, undone) === "refused")
    .flatMap((entry) => entry.ids));
  const edges = [];
  for (const entry of explained.history) {
    const kind = edgeKind(entry, undone);
    const label = `${entry.event} · ${entry.reason ? entry.outcome + ": " + entry.reason : entry.outcome}` +
                  ` · ${when(entry.time)}`;
    for (const other of entry.ids.slice(1)) {
      const [x1, y1] = place.get(entry.ids[0]), [x2, y2] = place.get(other);
      // the label runs along its edge, upright, so that labels of edges that meet at a
      // node do not overlap
      let angle = (Math.atan2(y2 - y1, x2 - x1) * 180) / Math.PI;
      if (angle > 90 || angle < -90) angle += 180;
      const [mx, my] = [(x1 + x2) / 2, (y1 + y2) / 2];
      edges.push(svg("g", { class: kind ? `edge ${kind}` : "edge", "data-seq": entry.seq,
                            "data-outcome": entry.outcome, "data-ids": JSON.stringify([entry.ids[0], other]) },
        svg("title", {}, label),
        svg("line", { x1, y1, x2, y2 }),
        labelled ? svg("text", { x: mx, y: my - 5, "text-anchor": "middle",
                                 transform: `rotate(${angle.toFixed(1)} ${mx} ${my})` }, label) : null));
    }
  }
  const nodes = [...place].map(([id, [x, y]]) => {
    const kind = id === explained.resolved_distinct_id ? "node resolved"
      : inCluster.has(id) ? "node"
      : refusedIds.has(id) ? "node apart refused" : "node apart";
    return svg("a", { href: "#/person?id=" + encodeURIComponent(id) },
      svg("g", { class: kind, "data-id": id },
        svg("title", {}, id),
        svg("circle", { cx: x, cy: y, r: id === explained.resolved_distinct_id ? 10 : 7 }),
        labelled || id === explained.resolved_distinct_id
          ? svg("text", { x: x + 12, y: y + 4 }, id.length > 28 ? id.slice(0, 27) + "…" : id) : null));
  });
  return svg("svg", { class: "graph", id: "graph", viewBox: `0 0 ${width} ${height}`, role: "img",
                      "aria-label": "identity graph" }, edges, nodes);
}

PAGES.person = personPage;
