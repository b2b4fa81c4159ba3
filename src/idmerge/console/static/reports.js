// The reports page: a funnel, retention and segmentation on resolved users. Each
// panel has a form of its own, runs one documented API call and draws the answer;
// the date range above them is shared.
"use strict";

// In a function of its own: the page scripts share one global scope, and these names
// must not meet another page's.
(() => {
  const DAY_MS = 86_400_000;
  const LENGTH_UNITS = ["second", "minute", "hour", "day"];
  const MAX_STEPS = 20; // what /funnels takes
  const LINE_COLORS = ["#3056d3", "#e07b39", "#2e9d6a", "#9b51e0", "#c0392b"];

  const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
  const percent = (part, whole) => (whole ? `${Math.round((1000 * part) / whole) / 10}%` : "–");
  const clip = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);
  const empty = (text) => el("p", { class: "muted empty" }, text);

  // -- form controls ------------------------------------------------------------------

  // a <label> names one control; a group of them (the steps, the window) is a <div>
  function field(label, ...controls) {
    return el(controls.length > 1 ? "div" : "label", { class: "field" },
              el("span", {}, label), el("span", { class: "controls" }, controls));
  }

  // A text box that suggests the project's event names rather than a select: the names
  // call only knows the 31 days up to the newest event, and the range may reach further.
  function eventInput(name, value) {
    return el("input", { type: "text", name, value: value || "", list: "event-names",
                         placeholder: "event name", autocomplete: "off", required: true });
  }

  function choice(name, options, value) {
    return el("select", { name }, options.map((o) => el("option", { value: o, selected: o === value }, o)));
  }

  // A panel: its form and a result that each run replaces. data-ready is unset while a
  // run is under way and set (to the run's number) once its answer or error is drawn.
  function reportPanel(id, title, hint, controls, run) {
    const result = el("div", { class: "result", id: id + "-result" }, el("p", { class: "muted" }, hint));
    const section = el("section", { class: "report", id }, el("h2", {}, title));
    let runs = 0;
    const submit = async (event) => {
      event.preventDefault();
      const ticket = ++runs;
      delete section.dataset.ready;
      result.replaceChildren(el("p", { class: "muted" }, "Running…"));
      let drawn;
      try {
        drawn = await run();
      } catch (error) {
        if (!sessionStorage.getItem(SECRET_KEY)) return route(); // refused: ask again
        drawn = failure(error);
      }
      if (ticket !== runs) return; // a later run is under way: its answer wins
      result.replaceChildren(drawn);
      section.dataset.ready = String(ticket);
    };
    section.append(
      el("form", { id: id + "-form", class: "report-form", on: { submit } },
         controls, el("button", { type: "submit" }, "Run")),
      result);
    return section;
  }

  // -- the page -----------------------------------------------------------------------

  async function reportsPage() {
    const names = await api("/api/2.0/events/names", { type: "general", limit: 255 });
    const today = Date.now();
    const from = el("input", { type: "date", name: "from_date", value: isoDay(today - 29 * DAY_MS),
                               required: true });
    const to = el("input", { type: "date", name: "to_date", value: isoDay(today), required: true });
    const range = () => ({ from_date: from.value, to_date: to.value });
    main.replaceChildren(el("div", { id: "reports" },
      el("h2", {}, "Reports"),
      el("p", { class: "muted" }, "Counted on resolved users: an anonymous start and a later " +
         "login are one person. Dates are UTC days."),
      el("datalist", { id: "event-names" }, names.map((n) => el("option", { value: n }))),
      el("form", { class: "report-form", id: "report-range", on: { submit: (e) => e.preventDefault() } },
         field("from", from), field("to", to)),
      names.length ? null : el("p", { class: "muted", id: "no-names" },
         "No events in the last 31 days of data: type event names in full."),
      funnelPanel(names, range),
      retentionPanel(names, range),
      segmentationPanel(names, range)));
  }

  // -- funnel -------------------------------------------------------------------------

  function funnelPanel(names, range) {
    const steps = el("ol", { id: "funnel-steps", class: "steps" });
    const add = el("button", { type: "button", class: "secondary", id: "funnel-add",
                               on: { click: () => addStep("") } }, "+ step");
    // a funnel has 2 to 20 steps: the buttons that would leave that range are disabled
    const limit = () => {
      for (const button of steps.querySelectorAll(".remove")) button.disabled = steps.children.length <= 2;
      add.disabled = steps.children.length >= MAX_STEPS;
    };
    const addStep = (value) => {
      const row = el("li", {}, eventInput("step", value),
        el("button", { type: "button", class: "remove secondary", title: "remove this step",
                       on: { click: () => { row.remove(); limit(); } } }, "×"));
      steps.append(row);
      limit();
    };
    addStep(names[0]);
    addStep(names[1]);
    const length = el("input", { type: "number", name: "length", value: 7, min: 1, required: true });
    const unit = choice("length_unit", LENGTH_UNITS, "day");
    const run = async () => {
      const answer = await apiPost("/api/query/funnels", {
        steps: [...steps.querySelectorAll("input")].map((input) => ({ event: input.value.trim() })),
        ...range(), length: Number(length.value), length_unit: unit.value, unit: "day",
      });
      return funnelChart(summedSteps(answer));
    };
    return reportPanel("funnel", "Funnel", "Choose the steps and run.",
      [field("steps", steps, add), field("within", length, unit)], run);
  }

  // The answer has a funnel per entry date; the chart is of the whole range, so counts
  // are summed (a user entering on two dates counts twice, as in Mixpanel's total).
  function summedSteps(answer) {
    const dates = answer.meta.dates;
    if (!dates.length) return [];
    return answer.data[dates[0]].steps.map((step, k) => ({
      event: step.event,
      count: dates.reduce((sum, date) => sum + answer.data[date].steps[k].count, 0),
    }));
  }

  function funnelChart(steps) {
    const first = steps.length ? steps[0].count : 0;
    if (!first) return empty("No one did the first step in this range.");
    const rowHeight = 48, labelWidth = 250, barWidth = 480;
    const rows = steps.map((step, k) => {
      const y = k * rowHeight + 6;
      const rates = k ? `${percent(step.count, first)} of first · ` +
                        `${percent(step.count, steps[k - 1].count)} of previous` : "entered the funnel";
      return svg("g", { class: "step" },
        svg("text", { class: "label", x: labelWidth - 14, y: y + 21, "text-anchor": "end" },
            svg("title", {}, step.event), `${k + 1}. ${clip(step.event, 30)}`),
        svg("rect", { class: "track", x: labelWidth, y, width: barWidth, height: 24, rx: 3 }),
        svg("rect", { class: "bar", x: labelWidth, y, height: 24, rx: 3, "data-step": k + 1,
                      "data-count": step.count, "data-event": step.event,
                      width: Math.max(2, (barWidth * step.count) / first) },
            svg("title", {}, `${step.count} · ${rates}`)),
        svg("text", { class: "count", x: labelWidth + barWidth + 14, y: y + 12 },
            step.count.toLocaleString("en")),
        svg("text", { class: "rate", x: labelWidth + barWidth + 14, y: y + 28 }, rates));
    });
    return svg("svg", { id: "funnel-chart", class: "chart", role: "img", "aria-label": "funnel",
                        viewBox: `0 0 1000 ${steps.length * rowHeight}` }, rows);
  }

  // -- retention ----------------------------------------------------------------------

  function retentionPanel(names, range) {
    const born = eventInput("born_event", names[0]);
    const back = eventInput("event", names[0]);
    const unit = choice("unit", ["day", "week"], "day");
    const count = el("input", { type: "number", name: "interval_count", value: 7, min: 1, max: 366,
                                required: true });
    const run = async () => {
      const chosen = unit.value;
      const answer = await api("/api/2.0/retention", {
        ...range(), born_event: born.value.trim(), event: back.value.trim(), unit: chosen,
        interval_count: count.value, retention_type: "birth",
      });
      return retentionTable(answer, chosen);
    };
    return reportPanel("retention", "Retention", "Users by their first born event, and how many " +
      "came back with the return event in each bucket after it.",
      [field("born event", born), field("return event", back), field("unit", unit),
       field("buckets", count)], run);
  }

  // One row per cohort that has anyone in it (the API lists every cohort of the range).
  // A bucket that has not begun yet for anyone in its cohort is left blank: its 0% would
  // only mean "wait".
  function retentionTable(answer, unit) {
    const cohorts = Object.entries(answer).filter(([, cohort]) => cohort.first > 0);
    if (!cohorts.length) return empty("No one did the born event for the first time in this range.");
    const width = unit === "week" ? 7 * DAY_MS : DAY_MS;
    const buckets = cohorts[0][1].counts.length;
    const headings = ["cohort", "users", ...Array.from({ length: buckets }, (_, i) => `${unit} ${i}`)];
    const rows = cohorts.map(([label, { first, counts }]) => {
      const start = Date.parse(label + "T00:00:00Z");
      return el("tr", { "data-cohort": label, "data-first": first },
        el("th", {}, label), el("td", { class: "first" }, first.toLocaleString("en")),
        counts.map((n, i) => (start + i * width > Date.now()
          ? el("td", { class: "future", "data-bucket": i, "data-count": n, title: "not yet" })
          : heatCell(n, first, i))));
    });
    return el("table", { id: "retention-table", class: "heat" },
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
  }

  function heatCell(n, first, bucket) {
    const share = n / first;
    // the shade's opacity follows the share; on the darker half the text turns white
    return el("td", { "data-bucket": bucket, "data-count": n, "data-share": share.toFixed(4),
                      title: `${n} of ${first}`, class: share > 0.5 ? "dark" : null,
                      style: n ? `background: rgba(48, 86, 211, ${(0.1 + 0.85 * share).toFixed(3)})`
                               : null },
      percent(n, first), el("small", {}, n.toLocaleString("en")));
  }

  // -- segmentation -------------------------------------------------------------------

  function segmentationPanel(names, range) {
    const event = eventInput("event", names[0]);
    const type = choice("type", ["general", "unique"], "general");
    const unit = choice("unit", ["day", "week"], "day");
    const run = async () => {
      const answer = await api("/api/2.0/segmentation", {
        event: event.value.trim(), ...range(), type: type.value, unit: unit.value,
      });
      return lineChart(answer.data);
    };
    return reportPanel("segmentation", "Segmentation", "An event's count (general) or users " +
      "(unique) per day or week.", [field("event", event), field("count", type), field("unit", unit)], run);
  }

  const lineColor = (k) => LINE_COLORS[k % LINE_COLORS.length];

  function lineChart({ series, values }) {
    const keys = Object.keys(values);
    const top = Math.max(0, ...keys.flatMap((key) => series.map((label) => values[key][label] || 0)));
    if (!series.length || !top) return empty("No such event in this range.");
    const width = 1000, height = 260, left = 56, right = 24, above = 14, below = 40;
    const step = tickStep(top, 5), yMax = Math.ceil(top / step) * step;
    const x = (i) => left + (series.length > 1 ? (i * (width - left - right)) / (series.length - 1)
                                               : (width - left - right) / 2);
    const y = (v) => above + (height - above - below) * (1 - v / yMax);
    const every = Math.ceil(series.length / 8); // about eight dates fit under the axis
    const yTicks = Array.from({ length: yMax / step + 1 }, (_, i) => i * step).map((v) =>
      svg("g", { class: "tick" },
        svg("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }),
        svg("text", { x: left - 8, y: y(v) + 4, "text-anchor": "end" }, v.toLocaleString("en"))));
    const xTicks = series.map((label, i) => (i % every ? null : svg("g", { class: "tick" },
      svg("line", { x1: x(i), x2: x(i), y1: height - below, y2: height - below + 5 }),
      svg("text", { x: x(i), y: height - below + 20, "text-anchor": "middle" }, label))));
    const lines = keys.map((key, k) => {
      const color = lineColor(k);
      const at = series.map((label, i) => [x(i), y(values[key][label] || 0)]);
      return svg("g", { class: "series", "data-key": key },
        svg("polyline", { "data-key": key, stroke: color, points: at.map((p) => p.join(",")).join(" ") }),
        series.map((label, i) => svg("circle", {
          class: "point", cx: at[i][0], cy: at[i][1], r: series.length > 60 ? 2 : 3.5, fill: color,
          "data-key": key, "data-label": label, "data-value": values[key][label] || 0,
        }, svg("title", {}, `${label}: ${values[key][label] || 0}`))));
    });
    return el("div", {},
      svg("svg", { id: "segmentation-chart", class: "chart", role: "img", "aria-label": "segmentation",
                   viewBox: `0 0 ${width} ${height}` },
        yTicks,
        svg("line", { class: "axis", x1: left, x2: width - right, y1: height - below, y2: height - below }),
        xTicks, lines),
      el("ul", { class: "legend" }, keys.map((key, k) =>
        el("li", {}, el("span", { class: "swatch", style: `background: ${lineColor(k)}` }), key))));
  }

  PAGES.reports = reportsPage;
})();
