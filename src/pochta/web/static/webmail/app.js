// The webmail's page: folders with their unread counts, a folder's threads or a search's results,
// the reading view (HTML in a sandboxed frame, text, attachments), the actions on messages
// (read, star, archive, delete, move by menu or by dragging), Gmail's keyboard shortcuts, and
// push (the event source) keeping it all current. Everything comes from JMAP (jmap.js).

import { showAdminLink } from "./admin_link.js";
import { JmapClient, JmapError } from "./jmap.js";
import { searchFilter } from "./search.js";
import { setupCompose } from "./compose.js";

const PAGE = 50; // messages listed at once
const DRAG_TYPE = "application/x-pochta-emails";
// The message frame's sandbox (web/webmail_reader.py SANDBOX says why, never allow-scripts).
const SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox";
const PREVIEWED = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"]);

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const client = new JmapClient(csrf);
const state = {
  mailboxes: [],
  listKey: null, // "<mailbox id>" or "search/<query>"
  current: null, // the listed mailbox's id (null for a search)
  filter: null,
  position: 0,
  total: 0,
  rows: [], // the listed Emails
  cursor: 0,
  selected: new Set(),
  open: null, // the Email in the reading view
  showImages: false,
  composer: null, // compose.js: writing, replying, drafts
};

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function status(text) {
  $("status").textContent = text;
}

const byRole = (role) => state.mailboxes.find((box) => box.role === role);
const boxNamed = (id) => state.mailboxes.find((box) => box.id === id);

// Folders in tree order (parents before children), INBOX first as IMAP clients show it.
function ordered(mailboxes) {
  const children = new Map();
  for (const box of mailboxes) {
    const key = box.parentId ?? "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(box);
  }
  const rank = (box) => (box.role === "inbox" ? 0 : 1);
  const out = [];
  const walk = (parent, depth) => {
    const level = (children.get(parent) ?? []).sort(
      (a, b) => rank(a) - rank(b) || a.sortOrder - b.sortOrder || a.name.localeCompare(b.name),
    );
    for (const box of level) {
      out.push([box, depth]);
      walk(box.id, depth + 1);
    }
  };
  walk("", 0);
  return out;
}

function renderFolders() {
  const list = $("folder-list");
  list.replaceChildren();
  for (const [box, depth] of ordered(state.mailboxes)) {
    const link = element("a", { href: `#${box.id}`, "data-mailbox": box.id, class: "folder" });
    link.style.paddingLeft = `${0.75 + depth}rem`;
    link.append(element("span", { class: "name", text: box.name }));
    if (box.unreadEmails > 0) {
      link.append(element("span", { class: "unread", text: String(box.unreadEmails) }));
      link.setAttribute("aria-label", `${box.name}, ${box.unreadEmails} unread`);
    }
    if (state.current === box.id) link.setAttribute("aria-current", "page");
    // A folder takes messages dragged onto it.
    link.addEventListener("dragover", (event) => {
      if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      link.classList.add("drop-target");
    });
    link.addEventListener("dragleave", () => link.classList.remove("drop-target"));
    link.addEventListener("drop", (event) => {
      link.classList.remove("drop-target");
      const data = event.dataTransfer.getData(DRAG_TYPE);
      if (!data) return;
      event.preventDefault();
      act(() => moveTo(JSON.parse(data), box.id), `Moved to ${box.name}`);
    });
    list.append(element("li", {}, link));
  }
  for (const menu of document.querySelectorAll('select[data-action="move"]')) {
    menu.replaceChildren(element("option", { value: "", text: "Move to…" }));
    for (const [box, depth] of ordered(state.mailboxes)) {
      menu.append(element("option", { value: box.id, text: `${"  ".repeat(depth)}${box.name}` }));
    }
  }
}

async function loadFolders() {
  const answer = await client.call("Mailbox/get", {
    properties: ["name", "parentId", "role", "sortOrder", "unreadEmails", "totalEmails"],
  });
  state.mailboxes = answer.list;
  renderFolders();
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function sender(email) {
  const [first] = email.from ?? [];
  return first ? first.name || first.email : "(no sender)";
}

function messageRow(email, index) {
  const unread = !email.keywords?.$seen;
  const starred = Boolean(email.keywords?.$flagged);
  const subject = email.subject || "(no subject)";
  const row = element("li", { class: unread ? "message unread" : "message", draggable: "true", "data-email": email.id });
  const check = element("input", { type: "checkbox", class: "select", "aria-label": `Select: ${subject}` });
  check.checked = state.selected.has(email.id);
  check.addEventListener("change", () => {
    if (check.checked) state.selected.add(email.id);
    else state.selected.delete(email.id);
    row.classList.toggle("selected", check.checked);
  });
  const star = element("button", {
    type: "button",
    class: "star",
    "aria-pressed": String(starred),
    "aria-label": `Star: ${subject}`,
    text: starred ? "★" : "☆",
  });
  star.addEventListener("click", () => act(() => setStar([email.id], !starred), starred ? "Unstarred" : "Starred"));
  const link = element("a", { href: `#${state.listKey}/${email.id}`, "data-email": email.id });
  const subjectText = element("span", { class: "subject", text: subject });
  if (email.hasAttachment) subjectText.prepend(element("span", { class: "clip", text: "📎 ", title: "Has attachments" }));
  link.append(
    element("span", { class: "from", text: sender(email) }),
    subjectText,
    element("span", { class: "preview", text: email.preview ?? "" }),
    element("time", { datetime: email.receivedAt, text: dateFormat.format(new Date(email.receivedAt)) }),
  );
  if (unread) link.setAttribute("aria-label", `Unread: ${sender(email)}, ${subject}`);
  link.addEventListener("focus", () => setCursor(index, false));
  row.addEventListener("dragstart", (event) => {
    const ids = state.selected.has(email.id) ? [...state.selected] : [email.id];
    event.dataTransfer.setData(DRAG_TYPE, JSON.stringify(ids));
    event.dataTransfer.effectAllowed = "move";
  });
  row.classList.toggle("selected", check.checked);
  row.append(check, star, link);
  return row;
}

function setCursor(index, focus = true) {
  const rows = $("message-list").children;
  if (rows.length === 0) return;
  state.cursor = Math.max(0, Math.min(index, rows.length - 1));
  for (const [i, row] of [...rows].entries()) row.classList.toggle("current", i === state.cursor);
  if (focus) rows[state.cursor].querySelector("a").focus();
}

// One request: the list's page of threads (newest first) and the Emails it names.
async function loadList() {
  const responses = await client.request([
    ["Email/query", {
      accountId: client.accountId,
      filter: state.filter,
      sort: [{ property: "receivedAt", isAscending: false }],
      collapseThreads: true,
      position: state.position,
      limit: PAGE,
      calculateTotal: true,
    }, "q"],
    ["Email/get", {
      accountId: client.accountId,
      "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
      properties: ["threadId", "mailboxIds", "keywords", "from", "subject", "receivedAt", "preview", "hasAttachment"],
    }, "g"],
  ]);
  state.total = responses.get("q").total ?? 0;
  state.rows = responses.get("g").list;
  const present = new Set(state.rows.map((email) => email.id));
  state.selected = new Set([...state.selected].filter((id) => present.has(id)));
  $("message-list").replaceChildren(...state.rows.map(messageRow));
  $("select-all").checked = state.rows.length > 0 && state.selected.size === state.rows.length;
  const last = Math.min(state.position + PAGE, state.total);
  const empty = state.current ? "No messages" : "No messages match your search";
  status(state.total ? `${state.position + 1}–${last} of ${state.total}` : empty);
  $("newer").disabled = state.position === 0;
  $("older").disabled = last >= state.total;
  setCursor(state.cursor, false);
}

// ----- the reading view

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'}]/g;

// Plain text with its web addresses as links (new tab, no referrer); the rest as text nodes.
function linkified(text) {
  const out = element("pre", { class: "body" });
  let at = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    out.append(text.slice(at, match.index));
    out.append(element("a", { href: match[0], target: "_blank", rel: "noopener noreferrer", text: match[0] }));
    at = match.index + match[0].length;
  }
  out.append(text.slice(at));
  return out;
}

function downloadUrl(part, inline = false) {
  const url = client.session.downloadUrl
    .replace("{accountId}", encodeURIComponent(client.accountId))
    .replace("{blobId}", encodeURIComponent(part.blobId))
    .replace("{name}", encodeURIComponent(part.name || "attachment"))
    .replace("{type}", encodeURIComponent(part.type || "application/octet-stream"));
  return inline ? `${url}&inline=1` : url;
}

function size(octets) {
  if (octets < 1024) return `${octets} B`;
  if (octets < 1024 * 1024) return `${Math.round(octets / 1024)} KB`;
  return `${(octets / 1024 / 1024).toFixed(1)} MB`;
}

function preview(part) {
  const box = $("preview");
  const url = downloadUrl(part, true);
  if (part.type === "application/pdf") {
    // The browser's own PDF viewer: a frame, not sandboxed (a sandbox shows no PDF); the
    // download's headers let only our pages frame it (web/jmap_download.py).
    box.replaceChildren(element("iframe", { src: url, title: `Preview of ${part.name || "the PDF"}`, class: "pdf" }));
  } else {
    box.replaceChildren(element("img", { src: url, alt: `Preview of ${part.name || "the image"}` }));
  }
}

function renderAttachments(email) {
  const parts = email.attachments ?? [];
  const list = $("attachment-list");
  list.replaceChildren();
  $("preview").replaceChildren();
  for (const part of parts) {
    const name = part.name || "(unnamed)";
    const link = element("a", { href: downloadUrl(part), download: name, class: "download", text: name });
    const item = element(
      "li",
      { class: "attachment" },
      link,
      element("span", { class: "type", text: part.type }),
      element("span", { class: "size", text: size(part.size) }),
    );
    if (PREVIEWED.has((part.type ?? "").toLowerCase())) {
      const button = element("button", { type: "button", class: "preview", text: "Preview", "aria-label": `Preview ${name}` });
      button.addEventListener("click", () => preview(part));
      item.append(button);
    }
    list.append(item);
  }
  $("attachments").hidden = parts.length === 0;
}

function showHtml(email) {
  const frame = element("iframe", {
    sandbox: SANDBOX,
    title: "Message body",
    class: "message-frame",
    src: `/webmail/message/${encodeURIComponent(email.id)}${state.showImages ? "?images=show" : ""}`,
  });
  frame.addEventListener("load", () => {
    const document = frame.contentDocument;
    if (!document) return;
    const held = Number(document.querySelector('meta[name="remote-images"]')?.content ?? 0);
    $("images-count").textContent = `${held} remote image${held === 1 ? "" : "s"} hidden —`;
    $("images-bar").hidden = held === 0;
    frame.style.height = `${document.documentElement.scrollHeight + 16}px`;
  });
  $("reader-body").replaceChildren(frame);
}

// The other messages of the open one's conversation, oldest first, each a link to read it (as
// Gmail lists a conversation); hidden for a conversation of one.
async function renderConversation(email) {
  const responses = await client.request([
    ["Thread/get", { accountId: client.accountId, ids: [email.threadId] }, "t"],
    ["Email/get", {
      accountId: client.accountId,
      "#ids": { resultOf: "t", name: "Thread/get", path: "/list/*/emailIds" },
      properties: ["from", "receivedAt", "preview", "keywords"],
    }, "g"],
  ]);
  const members = responses.get("g").list.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  const list = $("conversation-list");
  list.replaceChildren();
  for (const member of members) {
    const text = `${sender(member)} · ${dateFormat.format(new Date(member.receivedAt))} · ${member.preview ?? ""}`;
    const link = element("a", { href: `#${state.listKey}/${member.id}`, text });
    if (member.id === email.id) link.setAttribute("aria-current", "true");
    if (!member.keywords?.$seen && member.id !== email.id) link.classList.add("unread");
    list.append(element("li", {}, link));
  }
  $("conversation").hidden = members.length < 2;
}

async function openMessage(emailId) {
  const answer = await client.call("Email/get", {
    ids: [emailId],
    properties: [
      "threadId", "mailboxIds", "keywords", "from", "to", "cc", "subject", "receivedAt",
      "textBody", "htmlBody", "attachments", "bodyValues",
    ],
    bodyProperties: ["partId", "blobId", "type", "name", "size", "cid", "disposition"],
    fetchTextBodyValues: true,
  });
  const [email] = answer.list;
  if (email?.keywords?.$draft && state.composer) {
    // A draft opens in the compose panel to be edited, as in Gmail.
    location.hash = `#${state.listKey}`;
    await state.composer.editDraft(email.id);
    return;
  }
  $("list-view").hidden = true;
  $("reader").hidden = false;
  $("images-bar").hidden = true;
  if (!email) {
    state.open = null;
    $("reader-subject").textContent = "This message is gone.";
    $("reader-meta").textContent = "";
    $("reader-body").replaceChildren();
    $("attachments").hidden = true;
    $("conversation").hidden = true;
    return;
  }
  if (state.open?.id !== email.id) state.showImages = false;
  state.open = email;
  const addresses = (list) => (list ?? []).map((a) => (a.name ? `${a.name} <${a.email}>` : a.email)).join(", ");
  $("reader-subject").textContent = email.subject || "(no subject)";
  $("reader-meta").textContent =
    `From ${addresses(email.from)} to ${addresses(email.to)}` +
    (email.cc?.length ? `, cc ${addresses(email.cc)}` : "") +
    ` · ${dateFormat.format(new Date(email.receivedAt))}`;
  if ((email.htmlBody ?? []).some((part) => part.type === "text/html")) showHtml(email);
  else {
    const text = (email.textBody ?? []).map((part) => email.bodyValues[part.partId]?.value ?? "").join("\n");
    $("reader-body").replaceChildren(linkified(text));
  }
  renderAttachments(email);
  await renderConversation(email);
  const index = state.rows.findIndex((row) => row.id === email.id);
  if (index >= 0) state.cursor = index;
  $("reader-subject").focus();
  if (!email.keywords?.$seen) {
    // As every mail program: opening a message marks it read.
    await client.call("Email/set", { update: { [email.id]: { "keywords/$seen": true } } });
    email.keywords = { ...email.keywords, $seen: true };
    await loadFolders();
  }
}

function showList() {
  state.open = null;
  $("reader").hidden = true;
  $("list-view").hidden = false;
}

// ----- actions on messages

// The Emails an action works on: the open one, else the checked ones, else the one at the cursor.
function targets() {
  if (state.open) return [state.open.id];
  if (state.selected.size) return [...state.selected];
  const row = state.rows[state.cursor];
  return row ? [row.id] : [];
}

// The listed Emails' whole conversations, restricted to the listed folder, as a conversation
// list shows them; {id: mailboxIds} of each.
async function conversations(emailIds) {
  const known = [...state.rows, ...(state.open ? [state.open] : [])];
  const threadIds = [...new Set(emailIds.map((id) => known.find((e) => e.id === id)?.threadId).filter(Boolean))];
  if (threadIds.length === 0) return new Map();
  const responses = await client.request([
    ["Thread/get", { accountId: client.accountId, ids: threadIds }, "t"],
    ["Email/get", {
      accountId: client.accountId,
      "#ids": { resultOf: "t", name: "Thread/get", path: "/list/*/emailIds" },
      properties: ["mailboxIds"],
    }, "g"],
  ]);
  const out = new Map();
  for (const email of responses.get("g").list) {
    const picked = emailIds.includes(email.id);
    if (picked || (state.current && email.mailboxIds[state.current])) out.set(email.id, email.mailboxIds);
  }
  return out;
}

async function update(patches) {
  if (Object.keys(patches).length === 0) return;
  const answer = await client.call("Email/set", { update: patches });
  const refused = Object.values(answer.notUpdated ?? {});
  if (refused.length) throw new Error(refused[0].description ?? refused[0].type);
}

async function moveTo(emailIds, target) {
  const patches = {};
  for (const [id, mailboxIds] of await conversations(emailIds)) {
    if (state.current) {
      if (state.current === target) continue;
      patches[id] = { [`mailboxIds/${state.current}`]: null, [`mailboxIds/${target}`]: true };
    } else {
      patches[id] = { mailboxIds: { [target]: true } }; // a search's result: wherever it was
    }
    if (mailboxIds[target] && state.current) delete patches[id][`mailboxIds/${target}`];
  }
  await update(patches);
}

async function setKeyword(emailIds, keyword, on, wholeConversation = true) {
  const ids = wholeConversation ? [...(await conversations(emailIds)).keys()] : emailIds;
  await update(Object.fromEntries(ids.map((id) => [id, { [`keywords/${keyword}`]: on ? true : null }])));
}

const setStar = (emailIds, on) => setKeyword(emailIds, "$flagged", on, false);

async function remove(emailIds) {
  const trash = byRole("trash");
  if (trash && state.current !== trash.id) return moveTo(emailIds, trash.id);
  // In the bin (or with none): gone for good, as Gmail's "Delete forever".
  const ids = [...(await conversations(emailIds)).keys()];
  const answer = await client.call("Email/set", { destroy: ids });
  const refused = Object.values(answer.notDestroyed ?? {});
  if (refused.length) throw new Error(refused[0].description ?? refused[0].type);
}

// Runs an action, then brings the folders and the list up to date and says what happened.
async function act(action, done) {
  try {
    await action();
    state.selected.clear();
    await refresh();
    status(done);
  } catch (error) {
    status(`That did not work: ${error.message}`);
  }
}

async function leaving(action, done) {
  // Archive, delete and move take the open message away: back to the list, as Gmail does.
  const wasOpen = Boolean(state.open);
  await act(action, done);
  if (wasOpen) location.hash = `#${state.listKey}`;
}

const ACTIONS = {
  back: () => {
    location.hash = `#${state.listKey}`;
  },
  archive: () => {
    const archive = byRole("archive");
    if (!archive) return status("There is no archive folder");
    if (state.current === archive.id) return status("Already in the archive");
    return leaving(() => moveTo(targets(), archive.id), "Archived");
  },
  delete: () => {
    const trash = byRole("trash");
    const forever = !trash || state.current === trash.id;
    return leaving(() => remove(targets()), forever ? "Deleted for good" : "Moved to the bin");
  },
  read: () => act(() => setKeyword(targets(), "$seen", true), "Marked read"),
  unread: () => {
    const ids = targets();
    return leaving(() => setKeyword(ids, "$seen", false), "Marked unread");
  },
  star: () => {
    const ids = targets();
    const known = [...state.rows, ...(state.open ? [state.open] : [])];
    const on = !ids.every((id) => known.find((e) => e.id === id)?.keywords?.$flagged);
    return act(async () => {
      await setStar(ids, on);
      if (state.open) await openMessage(state.open.id);
    }, on ? "Starred" : "Unstarred");
  },
};

// ----- lists, routing and push

async function openList(key) {
  if (key === state.listKey) return;
  state.listKey = key;
  state.position = 0;
  state.cursor = 0;
  state.selected.clear();
  if (key.startsWith("search/")) {
    const query = decodeURIComponent(key.slice("search/".length));
    $("search").value = query;
    const { filter, error } = searchFilter(query, state.mailboxes);
    state.current = null;
    state.filter = filter ?? null;
    $("folder-title").textContent = `Search: ${query}`;
    renderFolders();
    if (error) {
      state.rows = [];
      $("message-list").replaceChildren();
      status(error);
      return;
    }
  } else {
    state.current = key;
    state.filter = { inMailbox: key };
    $("search").value = "";
    $("folder-title").textContent = boxNamed(key)?.name ?? "";
    renderFolders();
  }
  await loadList();
}

// "#<mailbox id>", "#search/<query>", each optionally followed by "/<email id>".
async function route() {
  const hash = location.hash.slice(1);
  const parts = hash.split("/");
  let key;
  let emailId;
  if (parts[0] === "search" && parts.length >= 2) {
    key = `search/${parts[1]}`;
    emailId = parts[2];
  } else {
    const inbox = byRole("inbox");
    const target = boxNamed(parts[0]) ?? inbox ?? state.mailboxes[0];
    if (!target) return;
    key = target.id;
    emailId = parts[0] === target.id ? parts[1] : undefined;
  }
  await openList(key);
  if (emailId) await openMessage(emailId);
  else {
    showList();
    setCursor(state.cursor);
  }
}

async function refresh() {
  await loadFolders();
  if (state.filter) await loadList();
}

function listenForChanges() {
  const template = client.session.eventSourceUrl;
  if (!template || typeof EventSource === "undefined") return;
  const url = template.replace("{types}", "*").replace("{closeafter}", "no").replace("{ping}", "300");
  const source = new EventSource(url);
  let pending = null;
  source.addEventListener("state", () => {
    // Several changes in a moment (a move is a copy and an expunge): one refresh.
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch(() => {}), 250);
  });
}

function openAt(index) {
  const row = state.rows[index];
  if (row) location.hash = `#${state.listKey}/${row.id}`;
}

// Gmail's keys; none while typing in a field, none with a modifier but shift.
function onKey(event) {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  // A checked box keeps the focus: the keys still work there, as in Gmail; not in a text field.
  if (target.closest?.('input:not([type="checkbox"]), textarea, select, [contenteditable]')) {
    if (event.key === "Escape") target.blur();
    return;
  }
  if ($("shortcuts").open) return;
  if (state.composer?.isOpen() && target.closest?.("#compose")) return; // the panel's own keys
  const reading = !$("reader").hidden;
  const keys = {
    j: () => (reading ? openAt(state.cursor + 1) : setCursor(state.cursor + 1)),
    k: () => (reading ? openAt(state.cursor - 1) : setCursor(state.cursor - 1)),
    o: () => !reading && openAt(state.cursor),
    Enter: () => !reading && target.tagName !== "A" && target.tagName !== "BUTTON" && openAt(state.cursor),
    u: () => reading && ACTIONS.back(),
    e: ACTIONS.archive,
    "#": ACTIONS.delete,
    s: ACTIONS.star,
    U: ACTIONS.unread,
    x: () => {
      const box = $("message-list").children[state.cursor]?.querySelector("input.select");
      if (box && !reading) box.click();
    },
    "/": () => $("search").focus(),
    "?": () => $("shortcuts").showModal(),
  };
  const handler = keys[event.key];
  if (!handler) return;
  if (event.key === "Enter" && (target.tagName === "A" || target.tagName === "BUTTON")) return;
  event.preventDefault();
  handler();
}

function wire() {
  $("newer").addEventListener("click", () => page(-1));
  $("older").addEventListener("click", () => page(1));
  for (const toolbar of [$("list-tools"), $("reader-tools")]) {
    toolbar.addEventListener("click", (event) => {
      const action = event.target.closest("button[data-action]")?.dataset.action;
      if (action) ACTIONS[action]();
    });
    toolbar.querySelector('select[data-action="move"]').addEventListener("change", (event) => {
      const target = event.target.value;
      event.target.value = "";
      if (target) leaving(() => moveTo(targets(), target), `Moved to ${boxNamed(target)?.name ?? "the folder"}`);
    });
  }
  $("select-all").addEventListener("change", (event) => {
    state.selected = event.target.checked ? new Set(state.rows.map((email) => email.id)) : new Set();
    for (const box of $("message-list").querySelectorAll("input.select")) box.checked = event.target.checked;
    for (const row of $("message-list").children) row.classList.toggle("selected", event.target.checked);
  });
  $("show-images").addEventListener("click", () => {
    state.showImages = true;
    $("images-bar").hidden = true;
    if (state.open) showHtml(state.open);
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = $("search").value.trim();
    if (!query) return;
    state.listKey = null; // the same words again search again
    const hash = `#search/${encodeURIComponent(query)}`;
    if (location.hash === hash) route().catch((error) => status(`Could not search: ${error.message}`));
    else location.hash = hash;
    $("search").blur();
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => {
    route().catch((error) => status(`Could not open it: ${error.message}`));
  });
}

function page(step) {
  state.position = Math.max(0, state.position + step * PAGE);
  state.cursor = 0;
  loadList().catch((error) => status(`Could not load the messages: ${error.message}`));
}

async function start() {
  try {
    await client.connect();
    showAdminLink(client.session);
    await loadFolders();
    wire();
    state.composer = setupCompose({
      client,
      status,
      refresh,
      mailboxes: () => state.mailboxes,
      openEmail: () => state.open,
    });
    await route();
    listenForChanges();
    document.body.dataset.ready = "true"; // for the browser tests: the page is wired
  } catch (error) {
    if (error instanceof JmapError && error.type === "signedOut") {
      location.assign("/webmail/login");
      return;
    }
    status(`Could not load your mail: ${error.message}`);
  }
}

start();
