// The webmail's settings page (web/webmail_settings.py writes its tabs): Filters, Vacation,
// Forwarding, POP/IMAP access, Accounts fetched from, Signature. Everything over JMAP (jmap.js):
// pochta's settings capability (MailFilter, Forwarding, ProtocolAccess, FetchAccount),
// VacationResponse and Identity; the rules stay the server's (its errors are shown as they come).

import { CORE, JmapClient, MAIL } from "./jmap.js";

const SETTINGS = "urn:pochta:params:jmap:settings";
const VACATION = "urn:ietf:params:jmap:vacationresponse";
const SUBMISSION = "urn:ietf:params:jmap:submission";
const USING = [CORE, MAIL, SETTINGS, VACATION, SUBMISSION];

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const client = new JmapClient(csrf);
const $ = (id) => document.getElementById(id);
const loaded = new Set();

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function say(text) {
  $("status").textContent = text;
}

async function call(name, args) {
  const responses = await client.request([[name, { accountId: client.accountId, ...args }, "0"]], USING);
  return responses.get("0");
}

// A /set's refusal of its one object, as the server words it; null when it was done.
function refusal(result, key) {
  const failed = result.notCreated?.[key] ?? result.notUpdated?.[key] ?? result.notDestroyed?.[key];
  return failed ? failed.description ?? failed.type : null;
}

async function saved(promise, key, done) {
  say("Saving…"); // a second save's answer is not the first one's still shown
  try {
    const problem = refusal(await promise, key);
    say(problem ? `Not saved: ${problem}` : done);
    return !problem;
  } catch (error) {
    say(`Not saved: ${error.message}`);
    return false;
  }
}

// Filters

function describe(rule) {
  const when = [["from", rule.from], ["to", rule.to], ["subject", rule.subject], ["has", rule.hasWords]]
    .filter(([, value]) => value)
    .map(([label, value]) => `${label}: ${value}`);
  const then = [
    rule.toFolder && `move to ${rule.toFolder}`,
    rule.markRead && "mark read",
    rule.star && "star",
    rule.delete && "delete",
    rule.forward && `forward to ${rule.forward}`,
  ].filter(Boolean);
  return `${when.join(", ")} → ${then.join(", ")}`;
}

async function loadFilters() {
  const [filters, boxes] = await Promise.all([
    call("MailFilter/get", { ids: null }),
    call("Mailbox/get", { ids: null, properties: ["name", "role"] }),
  ]);
  const list = $("filter-list");
  list.replaceChildren();
  for (const rule of filters.list) {
    const remove = element("button", "Delete", { type: "button", "aria-label": `Delete filter ${describe(rule)}` });
    remove.addEventListener("click", async () => {
      if (await saved(call("MailFilter/set", { destroy: [rule.id] }), rule.id, "Filter deleted.")) await loadFilters();
    });
    const item = element("li", undefined, { class: "rule" });
    item.append(element("span", describe(rule)), remove);
    list.append(item);
  }
  if (!filters.list.length) list.append(element("li", "No filters yet.", { class: "empty" }));
  const folder = $("f-folder");
  folder.replaceChildren(element("option", "(none)", { value: "" }));
  for (const box of boxes.list.filter((box) => box.role !== "inbox")) {
    folder.append(element("option", box.name, { value: box.name }));
  }
}

function filterRecord() {
  const text = (id) => $(id).value.trim() || null;
  const record = {
    from: text("f-from"),
    to: text("f-to"),
    subject: text("f-subject"),
    hasWords: text("f-words"),
    toFolder: text("f-folder"),
    forward: text("f-forward"),
    markRead: $("f-read").checked,
    star: $("f-star").checked,
    delete: $("f-delete").checked,
  };
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null && value !== false));
}

// Vacation: the dates are whole days here (the first day from its midnight, UTC, to the midnight after the last).

async function loadVacation() {
  const [vacation] = (await call("VacationResponse/get", { ids: null })).list;
  $("v-on").checked = vacation.isEnabled;
  $("v-from").value = vacation.fromDate ? vacation.fromDate.slice(0, 10) : "";
  $("v-to").value = vacation.toDate ? new Date(Date.parse(vacation.toDate) - 86400000).toISOString().slice(0, 10) : "";
  $("v-subject").value = vacation.subject ?? "";
  $("v-body").value = vacation.textBody ?? "";
}

function vacationPatch() {
  const from = $("v-from").value;
  const to = $("v-to").value;
  return {
    isEnabled: $("v-on").checked,
    fromDate: from ? `${from}T00:00:00Z` : null,
    toDate: to ? new Date(Date.parse(`${to}T00:00:00Z`) + 86400000).toISOString().replace(".000", "") : null,
    subject: $("v-subject").value.trim() || null,
    textBody: $("v-body").value || null,
  };
}

// Forwarding, POP/IMAP access

async function loadForwarding() {
  const [forward] = (await call("Forwarding/get", { ids: null })).list;
  $("w-address").value = forward.address ?? "";
  $("w-mode").value = forward.mode;
}

async function loadAccess() {
  const [access] = (await call("ProtocolAccess/get", { ids: null })).list;
  $("a-pop3").checked = access.pop3;
  $("a-imap").checked = access.imap;
  $("a-mode").value = access.pop3Mode;
  $("a-pop3").disabled = !access.pop3Allowed;
  $("a-imap").disabled = !access.imapAllowed;
  const off = [!access.pop3Allowed && "POP3", !access.imapAllowed && "IMAP"].filter(Boolean);
  $("access-note").textContent = off.length ? `Your administrator has switched off ${off.join(" and ")}.` : "";
}

// Accounts fetched from

async function loadAccounts() {
  const accounts = (await call("FetchAccount/get", { ids: null })).list;
  const list = $("fetch-list");
  list.replaceChildren();
  for (const account of accounts) {
    const status = account.lastRun
      ? `last checked ${new Date(account.lastRun * 1000).toLocaleString()}: ${account.lastError ?? account.lastResult}, ${account.totalFetched} fetched`
      : "not checked yet";
    const name = `${account.protocol}://${account.login}@${account.host}:${account.port}`;
    const check = element("button", "Check now", { type: "button", "aria-label": `Check ${name} now` });
    check.addEventListener("click", async () => {
      say("Checking…");
      try {
        const ran = await call("FetchAccount/run", { ids: [account.id] });
        say(ran.ran[account.id]?.summary ?? "Not found.");
      } catch (error) {
        say(`Not checked: ${error.message}`);
      }
      await loadAccounts();
    });
    const remove = element("button", "Remove", { type: "button", "aria-label": `Remove ${name}` });
    remove.addEventListener("click", async () => {
      if (await saved(call("FetchAccount/set", { destroy: [account.id] }), account.id, "Account removed.")) await loadAccounts();
    });
    const item = element("li", undefined, { class: "rule" });
    item.append(element("span", `${name} — ${status}`), check, remove);
    list.append(item);
  }
  if (!accounts.length) list.append(element("li", "No other accounts.", { class: "empty" }));
}

// Signature: the Identity's textSignature

let identities = [];

async function loadSignature() {
  identities = (await call("Identity/get", { ids: null })).list;
  const select = $("s-identity");
  select.replaceChildren(...identities.map((identity) => element("option", identity.email, { value: identity.id })));
  showSignature();
}

function showSignature() {
  const identity = identities.find((one) => one.id === $("s-identity").value);
  $("s-text").value = identity?.textSignature ?? "";
}

const LOADERS = {
  filters: loadFilters,
  vacation: loadVacation,
  forwarding: loadForwarding,
  access: loadAccess,
  accounts: loadAccounts,
  signature: loadSignature,
};

async function openTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const chosen = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(chosen));
    tab.tabIndex = chosen ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !chosen;
  }
  history.replaceState(null, "", `#${name}`);
  if (!loaded.has(name)) {
    try {
      await LOADERS[name]();
      loaded.add(name);
      say("");
    } catch (error) {
      say(`Could not load: ${error.message}`);
    }
  }
}

function wire() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => openTab(tab.id.slice(4)));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      openTab(next.id.slice(4));
    });
  });
  const onSubmit = (id, handler) =>
    $(id).addEventListener("submit", (event) => {
      event.preventDefault();
      handler();
    });
  onSubmit("filter-form", async () => {
    if (await saved(call("MailFilter/set", { create: { new: filterRecord() } }), "new", "Filter created.")) {
      $("filter-form").reset();
      await loadFilters();
    }
  });
  onSubmit("vacation-form", () =>
    saved(call("VacationResponse/set", { update: { singleton: vacationPatch() } }), "singleton", "Vacation saved."),
  );
  onSubmit("forward-form", () => {
    const address = $("w-address").value.trim() || null;
    const patch = { address, mode: $("w-mode").value };
    return saved(call("Forwarding/set", { update: { singleton: patch } }), "singleton", "Forwarding saved.");
  });
  onSubmit("access-form", async () => {
    const patch = { pop3: $("a-pop3").checked, imap: $("a-imap").checked, pop3Mode: $("a-mode").value };
    await saved(call("ProtocolAccess/set", { update: { singleton: patch } }), "singleton", "Access saved.");
    await loadAccess();
  });
  onSubmit("fetch-form", async () => {
    const port = $("x-port").value;
    const record = {
      protocol: $("x-protocol").value,
      host: $("x-host").value.trim(),
      tls: $("x-tls").value,
      login: $("x-login").value.trim(),
      password: $("x-password").value,
      keep: $("x-keep").checked,
      ...(port ? { port: Number(port) } : {}),
    };
    if (await saved(call("FetchAccount/set", { create: { new: record } }), "new", "Account added.")) {
      $("fetch-form").reset();
      await loadAccounts();
    }
  });
  $("s-identity").addEventListener("change", showSignature);
  onSubmit("signature-form", async () => {
    const id = $("s-identity").value;
    if (await saved(call("Identity/set", { update: { [id]: { textSignature: $("s-text").value } } }), id, "Signature saved.")) {
      identities = (await call("Identity/get", { ids: null })).list;
    }
  });
}

async function start() {
  await client.connect();
  wire();
  const wanted = location.hash.slice(1);
  await openTab(wanted in LOADERS ? wanted : "filters");
  document.body.dataset.ready = "true";
}

start().catch((error) => say(`Could not load the settings: ${error.message}`));
