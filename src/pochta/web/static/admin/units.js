// Units: the tree with each unit's POP3/IMAP switches (its settings `imap.enabled`,
// `pop3.enabled`: docs/units.md), its other settings, adding and removing one.

import { button, checkbox, element, field, form, status, table } from "./ui.js";

const SWITCHES = [
  ["imap.enabled", "IMAP"],
  ["pop3.enabled", "POP3"],
];
const OFF = new Set(["off", "no", "false", "0"]);

function unitSwitch(api, unit, section, key, label) {
  const own = unit.settings?.[key];
  const box = checkbox(label, own === undefined || own === null ? true : !OFF.has(String(own).toLowerCase()), {
    "aria-label": `${label} for unit ${unit.name}`,
  });
  box.input.addEventListener("change", async () => {
    try {
      await api.setOne("Unit", "update", unit.id, { [`settings/${key}`]: box.input.checked ? "on" : "off" });
      status(`Unit ${unit.name}: ${label} ${box.input.checked ? "on" : "off"}.`);
    } catch (error) {
      box.input.checked = !box.input.checked;
      status(error.message, true);
    }
  });
  return box.node;
}

export async function showUnits(api, section) {
  const { list } = await api.call("Unit/get", {});
  list.sort((a, b) => (a.parent === null ? -1 : b.parent === null ? 1 : a.name.localeCompare(b.name)));
  const rows = list.map((unit) => [
    unit.name,
    unit.parent ?? "—",
    String(unit.accounts),
    element("span", { class: "switches" }, ...SWITCHES.map(([key, label]) => unitSwitch(api, unit, section, key, label))),
    element(
      "code",
      {
        text: Object.entries(unit.settings ?? {})
          .map(([key, value]) => `${key}=${value}`)
          .join(" "),
      },
    ),
    unit.parent === null
      ? ""
      : button("Remove", async () => {
          await api.setOne("Unit", "destroy", unit.id);
          await showUnits(api, section);
          status(`Removed unit ${unit.name}.`);
        }, { "aria-label": `Remove unit ${unit.name}`, class: "danger" }),
  ]);
  const name = field("Name", { name: "unit", required: true });
  const parent = field("Parent unit (empty: the root)", { name: "parent" });
  const add = form("Add a unit", [name, parent], "Add unit", async () => {
    const record = { name: name.input.value.trim() };
    if (parent.input.value.trim()) record.parent = parent.input.value.trim();
    await api.setOne("Unit", "create", "new", record);
    await showUnits(api, section);
    status(`Added unit ${record.name}.`);
  });
  const key = field("Setting (as `pochta unit set`: key)", { name: "key", required: true });
  const value = field("Value (empty: remove the unit's own)", { name: "value" });
  const unit = field("Unit", { name: "setting-unit", required: true });
  const set = form("Set a unit's setting", [unit, key, value], "Set", async () => {
    const target = list.find((u) => u.name === unit.input.value.trim());
    if (!target) throw new Error(`No unit named ${unit.input.value.trim()}.`);
    const text = value.input.value.trim();
    await api.setOne("Unit", "update", target.id, { [`settings/${key.input.value.trim()}`]: text === "" ? null : text });
    await showUnits(api, section);
    status(`Unit ${target.name}: ${key.input.value.trim()} set.`);
  });
  section.replaceChildren(table("Units", ["Unit", "Parent", "Accounts", "Switches", "Own settings", ""], rows), add, set);
  status(`${list.length} unit${list.length === 1 ? "" : "s"}.`);
}
