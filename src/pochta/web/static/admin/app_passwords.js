// App passwords of one account: listed, added (the password shown once), revoked.

import { button, element, field, form, status, table, when } from "./ui.js";

export async function showAppPasswords(api, section, address = "") {
  const who = field("Account address", { name: "account", required: true, value: address, autocapitalize: "none" });
  const pick = form("Whose app passwords", [who], "Show", async () => {
    location.hash = `#app-passwords/${encodeURIComponent(who.input.value.trim())}`;
  });
  if (!address) {
    section.replaceChildren(pick);
    status("Name an account.");
    return;
  }
  const { list } = await api.call("AppPassword/get", {});
  const mine = list.filter((p) => p.address === address);
  const rows = mine.map((p) => [
    p.name,
    when(p.createdAt),
    when(p.lastUsedAt),
    p.needsReissue ? "reissue" : "",
    button("Revoke", async () => {
      await api.setOne("AppPassword", "destroy", p.id);
      await showAppPasswords(api, section, address);
      status(`Revoked ${p.name}.`);
    }, { "aria-label": `Revoke ${p.name}`, class: "danger" }),
  ]);
  const name = field("Name (the program or device)", { name: "name", required: true });
  const add = form("Add an app password", [name], "Add", async () => {
    const created = await api.setOne("AppPassword", "create", "new", { address, name: name.input.value.trim() });
    await showAppPasswords(api, section, address);
    section.append(element("p", { class: "once", role: "note" }, "The new password (shown once): ", element("code", { id: "new-app-password", text: created.password })));
    status(`Added ${name.input.value.trim()}.`);
  });
  section.replaceChildren(pick, table(`App passwords of ${address}`, ["Name", "Created", "Last used", "", ""], rows), add);
  status(`${mine.length} app password${mine.length === 1 ? "" : "s"} of ${address}.`);
}
