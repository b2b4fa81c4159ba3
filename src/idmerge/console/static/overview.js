// The overview page: a project's events, people, merges and refused identity events per
// UTC day (GET /api/overview), and the refusals by reason, each linking to its warnings.
"use strict";

(() => {
  const COUNTS = [
    ["events", "Events"],
    ["stored_ids", "Stored ids"],
    ["people", "People"],
    ["merges", "Merges"],
    ["refused", "Refused"],
  ];
  const number = (n) => n.toLocaleString("en-US");

  async function overviewPage(params) {
    const asked = { from_date: params.get("from_date"), to_date: params.get("to_date") };
    const answer = await api("/api/overview", asked);
    main.replaceChildren(
      el("h2", {}, "Overview"),
      rangeForm(answer),
      totals(answer.totals),
      el("section", { class: "overview-panel" },
        el("h3", {}, "Events and people per day"),
        lineChart("overview-events", answer.days, [
          ["events", "events"],
          ["people", "people (resolved now)"],
        ])),
      el("section", { class: "overview-panel" },
        el("h3", {}, "Merges per day"),
        barChart("overview-merges", answer.days, "merges")),
      el("section", { class: "overview-panel" },
        el("h3", {}, "Refused identity events by reason"),
        reasons(answer.refused_by_reason)),
    );
  }

  function rangeForm(answer) {
    const from = el("input", { type: "date", name: "from_date", value: answer.from_date, required: true });
    const to = el("input", { type: "date", name: "to_date", value: answer.to_date, required: true });
    return el("form", { class: "inline", id: "overview-range", on: { submit: (event) => {
      event.preventDefault();
      location.hash = "#/overview?from_date=" + encodeURIComponent(from.value) +
                      "&to_date=" + encodeURIComponent(to.value);
    } } },
      el("label", {}, "From ", from), el("label", {}, "to ", to),
      el("button", { type: "submit" }, "Show"),
      el("span", { class: "muted" }, "UTC days; without dates, the 30 days up to the newest event"));
  }

  function totals(counts) {
    return el("div", { id: "overview-totals" }, COUNTS.map(([key, label]) =>
      el("div", { class: "stat " + key, "data-count": key, "data-value": counts[key] },
        el("strong", {}, number(counts[key])), el("span", {}, label))));
  }

  // -- charts -------------------------------------------------------------------------

  const WIDTH = 1000, LEFT = 64, RIGHT = 16, TOP = 14, BOTTOM = 28;

  const TICKS = 4; // grid lines above 0 on every chart

  /** The frame every chart shares: a band per day (``x`` is its middle), grid lines
   * with their values, and day labels. */
  function frame(days, height, most) {
    const step = tickStep(most, TICKS), top = step * TICKS;
    const inner = height - TOP - BOTTOM;
    const band = (WIDTH - LEFT - RIGHT) / Math.max(1, days.length);
    const x = (i) => LEFT + (i + 0.5) * band;
    const y = (v) => TOP + inner - (v / top) * inner;
    const grid = Array.from({ length: TICKS + 1 }, (_, k) => {
      const at = y(k * step);
      return svg("g", { class: "tick" },
        svg("line", { class: "grid", x1: LEFT, x2: WIDTH - RIGHT, y1: at, y2: at }),
        svg("text", { x: LEFT - 10, y: at + 4, "text-anchor": "end" }, number(k * step)));
    });
    const every = Math.max(1, Math.ceil(days.length / 12));
    const labels = days.map((d, i) => (i % every ? null
      : svg("text", { class: "day", x: x(i), y: height - 8, "text-anchor": "middle" }, d.day.slice(5))));
    return { x, y, band, decor: [grid, labels] };
  }

  function chart(id, height, label, ...children) {
    return svg("svg", { id, class: "overview-chart", viewBox: `0 0 ${WIDTH} ${height}`,
                        role: "img", "aria-label": label }, ...children);
  }

  /** One polyline per series, a point per day (``data-day``, ``data-value``). */
  function lineChart(id, days, series) {
    const height = 260;
    const most = Math.max(0, ...days.flatMap((d) => series.map(([key]) => d[key])));
    const { x, y, decor } = frame(days, height, most);
    const radius = days.length <= 62 ? 3 : 0;
    const lines = series.map(([key, label]) => svg("g", { class: "series " + key, "data-series": key },
      svg("polyline", { points: days.map((d, i) => `${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`).join(" ") }),
      days.map((d, i) => svg("circle", { cx: x(i), cy: y(d[key]), r: radius, "data-day": d.day,
                                         "data-value": d[key] },
        svg("title", {}, `${d.day}: ${number(d[key])} ${label}`)))));
    return el("figure", { class: "overview-figure" },
      chart(id, height, series.map(([, label]) => label).join(" and ") + " per day", decor, lines),
      el("figcaption", { class: "legend" }, series.map(([key, label]) =>
        el("span", { class: "key " + key }, el("i", {}), label))));
  }

  /** A bar per day (``data-day``, ``data-value``). */
  function barChart(id, days, key) {
    const height = 180;
    const { x, y, band, decor } = frame(days, height, Math.max(0, ...days.map((d) => d[key])));
    const width = Math.max(1, Math.min(36, band * 0.6));
    const bars = days.map((d, i) => svg("rect", {
      class: "bar", x: x(i) - width / 2, y: y(d[key]), width, height: y(0) - y(d[key]),
      "data-day": d.day, "data-value": d[key],
    }, svg("title", {}, `${d.day}: ${number(d[key])} ${key}`)));
    return el("figure", { class: "overview-figure" }, chart(id, height, `${key} per day`, decor, bars));
  }

  // -- refusals -----------------------------------------------------------------------

  function reasons(byReason) {
    const found = Object.entries(byReason);
    if (!found.length) {
      return el("p", { class: "muted", id: "no-refusals" }, "No identity event was refused in these days.");
    }
    const most = Math.max(...found.map(([, n]) => n));
    return el("table", { id: "refused-reasons" },
      el("thead", {}, el("tr", {}, el("th", {}, "reason"), el("th", { class: "n" }, "refused"), el("th", {}, ""))),
      el("tbody", {}, found.map(([reason, n]) => el("tr", { "data-reason": reason, "data-count": n },
        el("td", {}, el("a", { href: "#/warnings?reason=" + encodeURIComponent(reason) }, reason)),
        el("td", { class: "n" }, number(n)),
        el("td", { class: "share" }, el("span", { style: `width: ${((100 * n) / most).toFixed(1)}%` }))))));
  }

  PAGES.overview = overviewPage;
})();
