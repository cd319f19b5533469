// The administration pages' building blocks: elements, tables, forms, the status line, and one
// JMAP call with the admin capability (the API's answers are shown as they are: no rule here).

import { CORE, JmapError } from "/webmail/static/jmap.js";

export const ADMIN = "urn:pochta:params:jmap:admin";

export const $ = (id) => document.getElementById(id);

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function status(text, isError = false) {
  const line = $("status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

export function button(text, onClick, attributes = {}) {
  const node = element("button", { type: "button", ...attributes, text });
  node.addEventListener("click", () => run(onClick));
  return node;
}

// Runs an action, its failure shown in the status line (never swallowed).
export async function run(action) {
  try {
    await action();
  } catch (error) {
    status(error instanceof Error ? error.message : String(error), true);
  }
}

// A table: the column headers, the rows (arrays of cells: text or nodes), a caption for readers.
export function table(caption, headers, rows) {
  const head = element("tr", {}, ...headers.map((text) => element("th", { scope: "col", text })));
  // Each cell names its column (data-label): a phone's screen shows the rows as cards.
  const cellOf = (cell, index) => {
    const label = headers[index] || null;
    return cell instanceof Node ? element("td", { "data-label": label }, cell) : element("td", { "data-label": label, text: cell ?? "" });
  };
  const body = rows.map((cells) => element("tr", {}, ...cells.map(cellOf)));
  return element("div", { class: "table" }, element("table", {}, element("caption", { text: caption }), element("thead", {}, head), element("tbody", {}, ...body)));
}

let fieldCount = 0;
// A labelled input; its element is returned with the label around it.
export function field(label, attributes = {}) {
  const id = `field-${++fieldCount}`;
  const input = element("input", { id, type: "text", "aria-label": label, ...attributes });
  return { input, node: element("p", { class: "field" }, element("label", { for: id, text: label }), input) };
}

export function checkbox(label, checked, attributes = {}) {
  const id = `field-${++fieldCount}`;
  const input = element("input", { id, type: "checkbox", ...attributes });
  input.checked = Boolean(checked);
  return { input, node: element("span", { class: "check" }, input, element("label", { for: id, text: label })) };
}

// A form of fields whose submit runs ``onSubmit`` (the page never reloads).
export function form(title, fields, submitText, onSubmit) {
  const node = element(
    "form",
    { class: "admin-form", "aria-label": title },
    element("h3", { text: title }),
    ...fields.map((f) => f.node ?? f),
    element("button", { type: "submit", text: submitText }),
  );
  node.addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => onSubmit(node));
  });
  return node;
}

export function bytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit ? size.toFixed(1) : size} ${units[unit]}`;
}

export const when = (value) => (value ? new Date(value).toLocaleString() : "—");

// The admin API over the webmail's client: each call names the administrator's own account.
export class AdminApi {
  constructor(client) {
    this.client = client;
    this.accountId = client.session.primaryAccounts[ADMIN] ?? client.accountId;
  }

  async call(name, args = {}) {
    const responses = await this.client.request([[name, { accountId: this.accountId, ...args }, "0"]], [CORE, ADMIN]);
    return responses.get("0");
  }

  // A /set whose one record must succeed: its created/updated object, else the SetError raised.
  async setOne(type, kind, id, record) {
    const args = kind === "destroy" ? { destroy: [id] } : { [kind]: { [id]: record } };
    const answer = await this.call(`${type}/set`, args);
    const failed = { create: "notCreated", update: "notUpdated", destroy: "notDestroyed" }[kind];
    const error = answer[failed]?.[id];
    if (error) throw new JmapError(error.type, error.description);
    return kind === "create" ? answer.created[id] : answer;
  }
}

export function protocolSwitches(protocols, onChange) {
  return element(
    "span",
    { class: "switches" },
    ...Object.entries(protocols ?? {}).map(([name, on]) => {
      const box = checkbox(name.toUpperCase() === "SUBMISSION" ? "Submission" : name.toUpperCase(), on, {
        "data-protocol": name,
      });
      box.input.addEventListener("change", () => run(() => onChange(name, box.input.checked)));
      return box.node;
    }),
  );
}
