// Accounts: searched and paged through Account/query, added with a typed or a generated password
// (shown once), each with its quota, protocol switches, admin flag, disabled flag, removal.

import { $, bytes, button, checkbox, element, field, form, protocolSwitches, status, table } from "./ui.js";

const PAGE = 25;
const view = { search: "", position: 0 };

function quotaEditor(api, account, section) {
  const id = `quota-${account.id}`;
  const input = element("input", {
    id,
    type: "number",
    min: "0",
    class: "quota",
    value: account.quotaBytes === null ? "" : String(Math.round(account.quotaBytes / 1048576)),
    placeholder: "none",
    "aria-label": `Quota of ${account.address} in MiB`,
  });
  const save = button("Set", async () => {
    const text = input.value.trim();
    const quotaBytes = text === "" ? null : Math.round(Number(text) * 1048576);
    await api.setOne("Account", "update", account.id, { quotaBytes });
    await showAccounts(api, section);
    status(`${account.address}: quota ${quotaBytes === null ? "none" : bytes(quotaBytes)}.`);
  }, { "aria-label": `Set the quota of ${account.address}` });
  return element("span", { class: "quota-edit" }, input, element("span", { text: " MiB " }), save);
}

function unitPicker(api, account, units) {
  const select = element("select", { "aria-label": `Unit of ${account.address}`, class: "unit" });
  for (const name of units) select.append(element("option", { value: name, text: name }));
  select.value = account.unit;
  select.addEventListener("change", async () => {
    try {
      await api.setOne("Account", "update", account.id, { unit: select.value });
      status(`${account.address}: unit ${select.value}.`);
    } catch (error) {
      select.value = account.unit;
      status(error.message, true);
    }
  });
  return select;
}

function flag(api, account, section, property, label) {
  const box = checkbox(label, account[property], { "aria-label": `${label}: ${account.address}` });
  box.input.addEventListener("change", async () => {
    try {
      await api.setOne("Account", "update", account.id, { [property]: box.input.checked });
      status(`${account.address}: ${label.toLowerCase()} ${box.input.checked ? "on" : "off"}.`);
    } catch (error) {
      box.input.checked = !box.input.checked;
      status(error.message, true);
    }
  });
  return box.node;
}

export async function showAccounts(api, section) {
  const filter = view.search ? { address: view.search } : null;
  const found = await api.call("Account/query", {
    filter,
    sort: [{ property: "address", isAscending: true }],
    position: view.position,
    limit: PAGE,
    calculateTotal: true,
  });
  const { list } = found.ids.length ? await api.call("Account/get", { ids: found.ids }) : { list: [] };
  const byId = new Map(list.map((a) => [a.id, a]));
  const units = (await api.call("Unit/get", { properties: ["name"] })).list.map((u) => u.name).sort();
  const rows = found.ids.filter((id) => byId.has(id)).map((id) => {
    const account = byId.get(id);
    return [
      account.address,
      `${bytes(account.usedBytes)} / ${account.usedMessages} msgs`,
      quotaEditor(api, account, section),
      protocolSwitches(account.protocols, async (protocol, on) => {
        await api.setOne("Account", "update", account.id, { [`protocols/${protocol}`]: on });
        status(`${account.address}: ${protocol} ${on ? "on" : "off"}.`);
      }),
      unitPicker(api, account, units),
      element("span", { class: "switches" }, flag(api, account, section, "isAdmin", "Admin"), flag(api, account, section, "isDisabled", "Disabled")),
      element(
        "span",
        { class: "row-actions" },
        element("a", { href: `#app-passwords/${encodeURIComponent(account.address)}`, text: "App passwords" }),
        button("Remove", async () => {
          if (!confirm(`Remove the account ${account.address} and all its mail?`)) return;
          await api.setOne("Account", "destroy", account.id);
          await showAccounts(api, section);
          status(`Removed ${account.address}.`);
        }, { "aria-label": `Remove ${account.address}`, class: "danger" }),
      ),
    ];
  });

  const search = element("input", { id: "account-search", type: "search", value: view.search, placeholder: "Search addresses", "aria-label": "Search accounts" });
  const searchForm = element(
    "form",
    { role: "search", class: "tools", "aria-label": "Search accounts" },
    search,
    element("button", { type: "submit", text: "Search" }),
  );
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    view.search = search.value.trim();
    view.position = 0;
    showAccounts(api, section).catch((error) => status(error.message, true));
  });
  const total = found.total ?? rows.length;
  const pages = element(
    "nav",
    { class: "pages", "aria-label": "Pages" },
    button("Previous", async () => {
      view.position = Math.max(0, view.position - PAGE);
      await showAccounts(api, section);
    }, { id: "accounts-previous", disabled: view.position === 0 }),
    button("Next", async () => {
      view.position += PAGE;
      await showAccounts(api, section);
    }, { id: "accounts-next", disabled: view.position + PAGE >= total }),
  );

  const address = field("Address", { name: "address", required: true, autocapitalize: "none", spellcheck: "false", inputmode: "email" });
  const password = field("Password (empty: a generated one)", { name: "password", type: "password", autocomplete: "new-password" });
  const add = form("Add an account", [address, password], "Add account", async () => {
    const record = { address: address.input.value.trim() };
    if (password.input.value) record.password = password.input.value;
    const created = await api.setOne("Account", "create", "new", record);
    await showAccounts(api, section);
    const shown = created.password
      ? element("p", { class: "once", role: "note" }, `${record.address}'s password (shown once): `, element("code", { id: "generated-password", text: created.password }))
      : null;
    if (shown) $("section").append(shown);
    status(`Added ${record.address}.`);
  });
  const whose = field("Address", { name: "passwd-address", required: true, autocapitalize: "none", spellcheck: "false" });
  const secret = field("New password", { name: "new-password", type: "password", required: true, autocomplete: "new-password" });
  const passwd = form("Change a password", [whose, secret], "Change password", async () => {
    const target = whose.input.value.trim().toLowerCase();
    const hit = await api.call("Account/query", { filter: { address: target }, limit: 50 });
    const { list: candidates } = hit.ids.length ? await api.call("Account/get", { ids: hit.ids, properties: ["address"] }) : { list: [] };
    const account = candidates.find((a) => a.address.toLowerCase() === target);
    if (!account) throw new Error(`No account ${target}.`);
    await api.setOne("Account", "update", account.id, { password: secret.input.value });
    secret.input.value = "";
    status(`${account.address}: password changed.`);
  });
  section.replaceChildren(
    searchForm,
    table("Accounts", ["Address", "Used", "Quota", "Protocols", "Unit", "Role", ""], rows),
    pages,
    add,
    passwd,
  );
  const first = total ? view.position + 1 : 0;
  status(`Accounts ${first}–${view.position + rows.length} of ${total}.`);
}
