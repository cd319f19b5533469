// Aliases: their targets, adding one (forced when a target receives no mail here), changing the
// targets, removing one.

import { button, checkbox, element, field, form, status, table } from "./ui.js";

const targetsOf = (text) => text.split(/[\s,]+/).filter(Boolean);

export async function showAliases(api, section) {
  const { list } = await api.call("Alias/get", {});
  list.sort((a, b) => a.source.localeCompare(b.source));
  const rows = list.map((alias) => {
    const edit = { input: element("input", { type: "text", class: "targets", "aria-label": `Targets of ${alias.source}`, value: alias.targets.join(", ") }) };
    return [
      alias.source,
      edit.input,
      button("Save", async () => {
        await api.setOne("Alias", "update", alias.id, { targets: targetsOf(edit.input.value) });
        await showAliases(api, section);
        status(`${alias.source}: targets saved.`);
      }, { "aria-label": `Save the targets of ${alias.source}` }),
      button("Remove", async () => {
        await api.setOne("Alias", "destroy", alias.id);
        await showAliases(api, section);
        status(`Removed ${alias.source}.`);
      }, { "aria-label": `Remove ${alias.source}`, class: "danger" }),
    ];
  });
  const source = field("Alias (local@domain, or @domain for every address)", { name: "source", required: true, autocapitalize: "none" });
  const targets = field("Targets (comma separated)", { name: "targets", required: true, autocapitalize: "none" });
  const force = checkbox("Even if a target receives no mail here", false);
  const add = form("Add an alias", [source, targets, force], "Add alias", async () => {
    const record = { source: source.input.value.trim(), targets: targetsOf(targets.input.value) };
    if (force.input.checked) record.force = true;
    await api.setOne("Alias", "create", "new", record);
    await showAliases(api, section);
    status(`Added ${record.source}.`);
  });
  section.replaceChildren(table("Aliases", ["Alias", "Targets", "", ""], rows), add);
  status(`${list.length} alias${list.length === 1 ? "" : "es"}.`);
}
