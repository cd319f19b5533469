// The webmail's page: folders with their unread counts, the messages of the chosen folder by
// thread, and the reading view. Everything it shows comes from JMAP (jmap.js); no second API.

import { JmapClient, JmapError } from "./jmap.js";

const PAGE = 50; // messages listed at once

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const client = new JmapClient(csrf);
const state = { mailboxes: [], current: null, position: 0, total: 0 };

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
  document.getElementById("status").textContent = text;
}

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
  const list = document.getElementById("folder-list");
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
    list.append(element("li", {}, link));
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

function messageRow(email) {
  const unread = !email.keywords?.$seen;
  const row = element("li", { class: unread ? "message unread" : "message" });
  const link = element("a", { href: `#${state.current}/${email.id}`, "data-email": email.id });
  link.append(
    element("span", { class: "from", text: sender(email) }),
    element("span", { class: "subject", text: email.subject || "(no subject)" }),
    element("span", { class: "preview", text: email.preview ?? "" }),
    element("time", { datetime: email.receivedAt, text: dateFormat.format(new Date(email.receivedAt)) }),
  );
  if (unread) link.setAttribute("aria-label", `Unread: ${sender(email)}, ${email.subject || "(no subject)"}`);
  row.append(link);
  return row;
}

// One request: the folder's page of threads (newest first) and the Emails it names.
async function loadMessages() {
  const responses = await client.request([
    ["Email/query", {
      accountId: client.accountId,
      filter: { inMailbox: state.current },
      sort: [{ property: "receivedAt", isAscending: false }],
      collapseThreads: true,
      position: state.position,
      limit: PAGE,
      calculateTotal: true,
    }, "q"],
    ["Email/get", {
      accountId: client.accountId,
      "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
      properties: ["threadId", "keywords", "from", "subject", "receivedAt", "preview", "hasAttachment"],
    }, "g"],
  ]);
  state.total = responses.get("q").total ?? 0;
  const list = document.getElementById("message-list");
  list.replaceChildren(...responses.get("g").list.map(messageRow));
  const last = Math.min(state.position + PAGE, state.total);
  status(state.total ? `${state.position + 1}–${last} of ${state.total}` : "No messages");
  document.getElementById("newer").disabled = state.position === 0;
  document.getElementById("older").disabled = last >= state.total;
}

async function openMessage(emailId) {
  const answer = await client.call("Email/get", {
    ids: [emailId],
    properties: ["from", "to", "cc", "subject", "receivedAt", "textBody", "attachments", "bodyValues"],
    fetchTextBodyValues: true,
  });
  const [email] = answer.list;
  const reader = document.getElementById("reader");
  if (!email) {
    reader.replaceChildren(element("p", { text: "This message is gone." }));
    return;
  }
  const addresses = (list) => (list ?? []).map((a) => (a.name ? `${a.name} <${a.email}>` : a.email)).join(", ");
  const text = (email.textBody ?? []).map((part) => email.bodyValues[part.partId]?.value ?? "").join("\n");
  reader.replaceChildren(
    element("h3", { text: email.subject || "(no subject)" }),
    element("p", { class: "meta", text: `From ${addresses(email.from)} to ${addresses(email.to)}` }),
    element("pre", { class: "body", text }),
  );
  reader.hidden = false;
}

async function openFolder(mailboxId) {
  if (state.current !== mailboxId) state.position = 0;
  state.current = mailboxId;
  renderFolders();
  const box = state.mailboxes.find((b) => b.id === mailboxId);
  document.getElementById("folder-title").textContent = box ? box.name : "";
  document.getElementById("reader").hidden = true;
  await loadMessages();
}

// "#<mailbox id>" or "#<mailbox id>/<email id>".
async function route() {
  const [wanted, emailId] = location.hash.slice(1).split("/");
  const inbox = state.mailboxes.find((b) => b.role === "inbox");
  const target = state.mailboxes.find((b) => b.id === wanted) ?? inbox ?? state.mailboxes[0];
  if (!target) return;
  if (target.id !== state.current) await openFolder(target.id);
  if (emailId) await openMessage(emailId);
  else document.getElementById("reader").hidden = true;
}

function page(step) {
  state.position = Math.max(0, state.position + step * PAGE);
  loadMessages().catch((error) => status(`Could not load the messages: ${error.message}`));
}

async function start() {
  try {
    await client.connect();
    await loadFolders();
    document.getElementById("newer").addEventListener("click", () => page(-1));
    document.getElementById("older").addEventListener("click", () => page(1));
    await route();
    window.addEventListener("hashchange", () => {
      route().catch((error) => status(`Could not open it: ${error.message}`));
    });
  } catch (error) {
    if (error instanceof JmapError && error.type === "signedOut") {
      location.assign("/webmail/login");
      return;
    }
    status(`Could not load your mail: ${error.message}`);
  }
}

start();
