// The webmail's page: folders with their unread counts, the messages of the chosen folder by
// thread, and the reading view. Everything it shows comes from JMAP (jmap.js); no second API.

import { JmapClient, JmapError } from "./jmap.js";

const PAGE = 50; // messages listed at once

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const client = new JmapClient(csrf);
const state = { mailboxes: [], current: null };

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

function openFolder(mailboxId) {
  state.current = mailboxId;
  renderFolders();
  const box = state.mailboxes.find((b) => b.id === mailboxId);
  document.getElementById("folder-title").textContent = box ? box.name : "";
  status(box ? `${box.totalEmails} messages` : "");
}

function route() {
  const wanted = location.hash.slice(1);
  const inbox = state.mailboxes.find((b) => b.role === "inbox");
  const target = state.mailboxes.find((b) => b.id === wanted) ?? inbox ?? state.mailboxes[0];
  if (target) openFolder(target.id);
}

async function start() {
  try {
    await client.connect();
    await loadFolders();
    route();
    window.addEventListener("hashchange", route);
  } catch (error) {
    if (error instanceof JmapError && error.type === "signedOut") {
      location.assign("/webmail/login");
      return;
    }
    status(`Could not load your mail: ${error.message}`);
  }
}

export const limits = { PAGE };
start();
