// The administration page: a section per hash (#domains, #accounts, ...), each filled by its
// module over the JMAP admin API with the webmail's session (docs/admin.md "The pages").

import { JmapClient, JmapError } from "/webmail/static/jmap.js";
import { showAccounts } from "./accounts.js";
import { showAliases } from "./aliases.js";
import { showAppPasswords } from "./app_passwords.js";
import { showDkim, showDns } from "./dns.js";
import { showDomains } from "./domains.js";
import { showQueue } from "./queue.js";
import { showStatus } from "./server_status.js";
import { showUnits } from "./units.js";
import { $, ADMIN, AdminApi, status } from "./ui.js";

const SECTIONS = {
  domains: ["Domains", showDomains],
  accounts: ["Accounts", showAccounts],
  aliases: ["Aliases", showAliases],
  units: ["Units", showUnits],
  "app-passwords": ["App passwords", showAppPasswords],
  queue: ["Queue", showQueue],
  dns: ["DNS records", showDns],
  dkim: ["DKIM keys", showDkim],
  status: ["Server status", showStatus],
};

let api = null;

async function route() {
  const [key, argument] = location.hash.slice(1).split("/");
  const name = SECTIONS[key] ? key : "domains";
  const [title, show] = SECTIONS[name];
  $("section-title").textContent = title;
  for (const link of document.querySelectorAll("#sections a")) {
    if (link.dataset.section === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const section = $("section");
  section.replaceChildren();
  status("Loading…");
  document.body.dataset.ready = "false";
  try {
    await show(api, section, argument ? decodeURIComponent(argument) : undefined);
  } catch (error) {
    status(error instanceof Error ? error.message : String(error), true);
  }
  document.body.dataset.section = name;
  document.body.dataset.ready = "true"; // for the browser tests: the section is drawn
}

async function start() {
  const client = new JmapClient(document.querySelector('meta[name="csrf-token"]').content);
  try {
    await client.connect();
  } catch (error) {
    if (error instanceof JmapError && error.type === "signedOut") location.assign("/webmail/login");
    else status(error.message, true);
    return;
  }
  const mine = client.session.accounts[client.accountId]?.accountCapabilities ?? {};
  if (!(ADMIN in mine)) {
    status("This account may not administer the server.", true);
    return;
  }
  api = new AdminApi(client);
  window.addEventListener("hashchange", route);
  await route();
}

start();
