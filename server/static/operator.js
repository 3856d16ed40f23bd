// What the operator pages share: calling the API (with the operator key kept for this browser
// session), building elements safely (text is always set as textContent, never as HTML), messages
// (errors in the page's role=alert region, results in its role=status region) and formats.
"use strict";

const Operator = (() => {
  const KEY_STORAGE = "promotion-agent.operator-key";
  const DEFAULT_PAGE_SIZE = 20;
  const PAGE_SIZES = [10, 20, 50];

  class ApiError extends Error {
    constructor(message, status, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  // -- elements ---------------------------------------------------------------------------
  // el("a", {href: url, class: "x"}, "text", child): attributes are set with setAttribute and
  // strings become text nodes, so a value from the API can never become markup.
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === false || value === null || value === undefined) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function alertBox() {
    return document.getElementById("alert");
  }

  function showError(error) {
    const box = alertBox();
    box.textContent = error instanceof Error ? error.message : String(error);
    box.hidden = false;
  }

  function clearError() {
    const box = alertBox();
    box.textContent = "";
    box.hidden = true;
  }

  function say(message) {
    document.getElementById("status").textContent = message;
  }

  // -- formats ----------------------------------------------------------------------------
  function time(iso) {
    if (!iso) return "–";
    return String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$|Z$/, " UTC");
  }

  function credits(value) {
    return Number(value).toLocaleString("en-US", {maximumFractionDigits: 3});
  }

  // -- the page's address -----------------------------------------------------------------
  function params() {
    return new URLSearchParams(window.location.search);
  }

  function pageSize(query) {
    const size = Number(query.get("pageSize"));
    return PAGE_SIZES.includes(size) ? size : DEFAULT_PAGE_SIZE;
  }

  function pageNumber(query) {
    const page = Number(query.get("page"));
    return Number.isInteger(page) && page >= 1 ? page : 1;
  }

  function link(path, values) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(values)) {
      if (value !== "" && value !== null && value !== undefined) query.set(name, String(value));
    }
    const text = query.toString();
    return text ? `${path}?${text}` : path;
  }

  function auditLink(traceId) {
    return link("/audit.html", {traceId, page: 1, pageSize: DEFAULT_PAGE_SIZE});
  }

  // Fill a GET filter form from the address, so that it shows the filters in force.
  function fillForm(form, query) {
    for (const field of form.elements) {
      if (field.name && query.has(field.name) && field.type !== "hidden") field.value = query.get(field.name);
    }
    if (form.elements.pageSize) form.elements.pageSize.value = String(pageSize(query));
  }

  // "Page 2 of 5 (47 entries)" and Previous / Next links that keep the filters; nouns: ["entry", "entries"].
  function pager(nav, result, path, filters, nouns) {
    const noun = result.total === 1 ? nouns[0] : nouns[1];
    const pages = Math.max(1, Math.ceil(result.total / result.pageSize));
    const step = (page, text, rel) => el("a", {href: link(path, {...filters, page, pageSize: result.pageSize}), rel}, text);
    nav.replaceChildren(
      result.hasPreviousPage ? step(result.page - 1, "Previous page", "prev") : el("span", {"aria-disabled": "true"}, "Previous page"),
      el("span", {class: "page-of"}, `Page ${result.page} of ${pages} (${result.total.toLocaleString("en-US")} ${noun})`),
      result.hasNextPage ? step(result.page + 1, "Next page", "next") : el("span", {"aria-disabled": "true"}, "Next page"),
    );
  }

  // -- the operator key -------------------------------------------------------------------
  function storedKey() {
    return window.sessionStorage.getItem(KEY_STORAGE) || "";
  }

  let pendingKey = null; // one question at a time, whatever number of requests wait for it

  // Show the key form and wait for the operator's key (null when they cancel).
  function askForKey(reason) {
    if (pendingKey) return pendingKey;
    pendingKey = new Promise((resolve) => {
      const input = el("input", {id: "operator-key", name: "operatorKey", type: "password", autocomplete: "off", required: true});
      const cancel = el("button", {type: "button"}, "Cancel");
      const form = el("form", {id: "key-form", class: "key-form", "aria-labelledby": "key-form-title"},
        el("h2", {id: "key-form-title"}, "Operator API key"),
        el("p", {}, reason),
        el("p", {}, "The key is kept in this browser tab's session storage until the tab is closed."),
        el("label", {for: "operator-key"}, "Operator key"), input,
        el("button", {type: "submit"}, "Use this key"), cancel,
      );
      const done = (key) => {
        form.remove();
        pendingKey = null;
        showKeyState();
        resolve(key);
      };
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        window.sessionStorage.setItem(KEY_STORAGE, key);
        done(key);
      });
      cancel.addEventListener("click", () => done(null));
      document.querySelector("main").prepend(form);
      input.focus();
    });
    return pendingKey;
  }

  function showKeyState() {
    const holder = document.getElementById("key-state");
    if (!holder) return;
    if (!storedKey()) {
      holder.replaceChildren();
      return;
    }
    const forget = el("button", {type: "button"}, "Forget the key");
    forget.addEventListener("click", () => {
      window.sessionStorage.removeItem(KEY_STORAGE);
      showKeyState();
      say("The operator key is forgotten.");
    });
    holder.replaceChildren(el("span", {}, "Operator key kept for this tab. "), forget);
  }

  // -- the API ----------------------------------------------------------------------------
  // api("POST", "/path", {query: {...}, body: {...}}) → the decoded JSON answer. A 401 or 403 asks for
  // the operator key (once: it is kept) and sends the request again; any other error is an ApiError
  // carrying the server's message.
  async function api(method, path, {query = {}, body} = {}) {
    const url = link(path, query);
    for (;;) {
      const headers = {accept: "application/json"};
      if (body !== undefined) headers["content-type"] = "application/json";
      const key = storedKey();
      if (key) headers.authorization = `Bearer ${key}`;
      let response;
      try {
        response = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
      } catch (error) {
        throw new ApiError(`The server cannot be reached (${method} ${path}): ${error.message}`, 0, null);
      }
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (response.ok) return data;
      const message = (data && data.message) || `HTTP ${response.status}`;
      if (response.status === 401 || response.status === 403) {
        if (key) { // refused: forget it and ask for another one
          window.sessionStorage.removeItem(KEY_STORAGE);
          showKeyState();
        }
        const given = await askForKey(`The server refused ${method} ${path}: ${message}`);
        if (given) continue;
        throw new ApiError(`${method} ${path} needs an operator key; nothing was done.`, response.status, data);
      }
      throw new ApiError(`${method} ${path} → ${response.status}: ${message}`, response.status, data);
    }
  }

  document.addEventListener("DOMContentLoaded", showKeyState);

  return {ApiError, api, el, say, showError, clearError, time, credits, params, pageSize, pageNumber, link,
          auditLink, fillForm, pager, storedKey, PAGE_SIZES};
})();
