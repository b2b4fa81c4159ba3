// idmerge console: the shared part (DOM and API helpers, the secret, the router).
// No build step and no third-party code; each page is a script of its own that
// registers a function in PAGES, and every page calls only the documented API with
// the project secret kept in this browser session.
"use strict";

/** page name -> async function(URLSearchParams) that renders it into #main */
const PAGES = {};

const SECRET_KEY = "idmerge.secret";
const main = document.getElementById("main");
const SVG_NS = "http://www.w3.org/2000/svg";

// -- plumbing -----------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

class ApiError extends Error {}

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return answered(await fetch(url, { headers: authorization() }));
}

/** POST a JSON body to the API (same auth and errors as ``api``). */
async function apiPost(path, body) {
  return answered(await fetch(new URL(path, location.origin), {
    method: "POST",
    headers: { ...authorization(), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }));
}

function authorization() {
  return { Authorization: "Basic " + btoa(sessionStorage.getItem(SECRET_KEY) + ":") };
}

/** The answer's JSON, or an ApiError with the API's message; a refused secret is
 * forgotten, so that the router asks for it again. */
async function answered(answer) {
  const body = await answer.json().catch(() => null);
  if (answer.status === 401) {
    sessionStorage.removeItem(SECRET_KEY);
    throw new ApiError("The secret was refused: " + (body ? body.error : answer.status));
  }
  if (!answer.ok) throw new ApiError(body && body.error ? body.error : `HTTP ${answer.status}`);
  return body;
}

function when(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function personLink(id) {
  return el("a", { href: "#/person?id=" + encodeURIComponent(id), class: "id" }, id);
}

function table(headings, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
  );
}

function failure(error) {
  return el("p", { class: "error", role: "alert" }, error.message);
}

/** A chart's y-axis step: the smallest 1, 2 or 5 times a power of ten with which
 * ``ticks`` steps reach ``most``; counts are whole, so never less than 1. */
function tickStep(most, ticks) {
  const rough = Math.max(1, most / ticks);
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough);
}

// -- the secret ---------------------------------------------------------------------

function askSecret(then, problem) {
  const input = el("input", { type: "password", name: "secret", placeholder: "project secret",
                              autocomplete: "off", required: true });
  main.replaceChildren(
    el("h2", {}, "Project secret"),
    el("p", { class: "muted" },
       "The console reads one project, as the API does: with its secret. It is kept in " +
       "this browser tab's session only."),
    problem ? el("p", { class: "error", role: "alert" }, problem) : null,
    el("form", { class: "inline", id: "secret-form", on: { submit: (event) => {
      event.preventDefault();
      sessionStorage.setItem(SECRET_KEY, input.value.trim());
      then();
    } } }, input, el("button", { type: "submit" }, "Open")),
  );
  input.focus();
}

// -- routing ------------------------------------------------------------------------

async function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const page = PAGES[path] ? path : "person";
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("current", link.dataset.page === page);
  }
  document.getElementById("forget").hidden = !sessionStorage.getItem(SECRET_KEY);
  if (!sessionStorage.getItem(SECRET_KEY)) return askSecret(route);
  main.replaceChildren(el("p", { class: "muted loading" }, "Loading…"));
  try {
    await PAGES[page](new URLSearchParams(query || ""));
  } catch (error) {
    if (!sessionStorage.getItem(SECRET_KEY)) return askSecret(route, error.message);
    main.querySelector(".loading")?.remove();
    main.append(failure(error));
  } finally {
    document.body.dataset.ready = location.hash;
  }
}

document.getElementById("forget").addEventListener("click", () => {
  sessionStorage.removeItem(SECRET_KEY);
  route();
});
window.addEventListener("hashchange", route);
// every page script has registered itself by the time the document is parsed
document.addEventListener("DOMContentLoaded", route);
