// The person page: search by any id; the identity graph, history, profile, timeline.
"use strict";

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
    api("/api/2.0/stream/query", { distinct_ids: JSON.stringify([id]), limit: 1000 }),
  ]);
  const cluster = explained.cluster;
  body.append(
    el("p", {}, "Resolved id ", el("code", { id: "resolved-id" }, explained.resolved_distinct_id),
       ` · ${cluster.length} id${cluster.length === 1 ? "" : "s"} in the cluster`),
    el("h2", {}, "Identity graph"),
    identityGraph(explained),
    el("h2", {}, "How it came to be"),
    explained.history.length
      ? table(["seq", "time", "event", "outcome", "ids"], explained.history.map((entry) => [
          String(entry.seq), when(entry.time), entry.event,
          entry.reason ? `${entry.outcome}: ${entry.reason}` : entry.outcome,
          el("span", {}, entry.ids.map((x, i) => [i ? ", " : "", personLink(x)])),
        ]))
      : el("p", { class: "muted" }, "No identity event touched these ids: a person of one id."),
    el("div", { class: "columns" },
      el("div", {}, el("h2", {}, "Profile"), profileTable(profile)),
      el("div", {}, el("h2", {}, "Timeline"), timeline(activity.results.events))),
  );
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
    el("p", { class: "muted" }, `${events.length} events (stored id → resolved id)`),
    table(["time", "event", "stored id", "resolved id"], rows));
}

// The graph: the resolved id in the middle, the cluster's other ids around it, one edge
// per id an identity event linked; ids of refused or ignored attempts stand apart, on
// the right, with a dashed edge labelled with the reason.
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
  const edges = [];
  for (const entry of explained.history) {
    const refused = !["linked", "merged"].includes(entry.outcome);
    const label = `${entry.event} · ${entry.reason ? entry.outcome + ": " + entry.reason : entry.outcome}` +
                  ` · ${when(entry.time)}`;
    for (const other of entry.ids.slice(1)) {
      const [x1, y1] = place.get(entry.ids[0]), [x2, y2] = place.get(other);
      // the label runs along its edge, upright, so that labels of edges that meet at a
      // node do not overlap
      let angle = (Math.atan2(y2 - y1, x2 - x1) * 180) / Math.PI;
      if (angle > 90 || angle < -90) angle += 180;
      const [mx, my] = [(x1 + x2) / 2, (y1 + y2) / 2];
      edges.push(svg("g", { class: refused ? "edge refused" : "edge", "data-seq": entry.seq,
                            "data-outcome": entry.outcome, "data-ids": JSON.stringify([entry.ids[0], other]) },
        svg("title", {}, label),
        svg("line", { x1, y1, x2, y2 }),
        labelled ? svg("text", { x: mx, y: my - 5, "text-anchor": "middle",
                                 transform: `rotate(${angle.toFixed(1)} ${mx} ${my})` }, label) : null));
    }
  }
  const nodes = [...place].map(([id, [x, y]]) => {
    const kind = id === explained.resolved_distinct_id ? "node resolved" : inCluster.has(id) ? "node" : "node refused";
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
