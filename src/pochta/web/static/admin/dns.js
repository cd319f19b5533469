// DNS records of a domain, as the server wants them published, with their live check; and the
// DKIM keys (rotate, activate once published, retire one that no longer signs).

import { button, element, field, form, status, table, when } from "./ui.js";

const VERDICTS = { ok: "published", differs: "differs", wrong: "wrong", missing: "missing" };

export function dnsTable(records) {
  return table(
    "DNS records",
    ["Name", "Type", "Value", "Why", "Check"],
    records.map((r) => [
      r.name,
      r.type,
      element("code", { text: r.value }),
      r.why,
      r.verdict === null || r.verdict === undefined
        ? "not checked"
        : element("span", { class: `verdict ${r.verdict}`, text: VERDICTS[r.verdict] ?? r.verdict }),
    ]),
  );
}

async function domainPicker(api, label, onPick) {
  const { list } = await api.call("Domain/get", { properties: ["name"] });
  const select = element("select", { id: "dns-domain", "aria-label": label });
  for (const domain of list.sort((a, b) => a.name.localeCompare(b.name))) {
    select.append(element("option", { value: domain.name, text: domain.name }));
  }
  return { select, first: list.length ? select.value : null, node: element("p", { class: "field" }, element("label", { for: "dns-domain", text: label }), select) };
}

export async function showDns(api, section) {
  const picker = await domainPicker(api, "Domain");
  const result = element("div", { id: "dns-result" });
  const show = async (check) => {
    const domain = picker.select.value;
    if (!domain) return;
    status(check ? `Looking ${domain}'s records up in DNS…` : `${domain}'s records.`);
    const answer = await api.call("DnsRecord/get", { domain, check });
    result.replaceChildren(dnsTable(answer.list));
    if (check) {
      const bad = answer.list.filter((r) => r.verdict !== "ok").length;
      status(bad ? `${domain}: ${bad} record${bad === 1 ? "" : "s"} not as wanted.` : `${domain}: every record is published.`);
    }
  };
  picker.select.addEventListener("change", () => show(false));
  section.replaceChildren(
    element("div", { class: "tools" }, picker.node, button("Check in DNS", () => show(true))),
    result,
  );
  if (picker.first) await show(false);
  else status("No domain yet.");
}

export async function showDkim(api, section) {
  const { list } = await api.call("DkimKey/get", {});
  list.sort((a, b) => a.domain.localeCompare(b.domain) || a.state.localeCompare(b.state));
  const rows = list.map((key) => [
    key.domain,
    key.selector,
    key.algorithm,
    key.state,
    when(key.createdAt),
    element("code", { class: "record", text: key.txtRecord }),
    key.state === "retiring"
      ? button("Retire", async () => {
          await api.setOne("DkimKey", "destroy", key.id);
          await showDkim(api, section);
          status(`Retired ${key.selector} of ${key.domain}.`);
        }, { "aria-label": `Retire ${key.selector} of ${key.domain}` })
      : "",
  ]);
  const domain = field("Domain", { name: "dkim-domain", required: true, autocapitalize: "none" });
  const rotate = form("New keys (rotate)", [domain], "Rotate", async () => {
    const made = await api.setOne("DkimKey", "create", "new", { domain: domain.input.value.trim() });
    await showDkim(api, section);
    status(`New pending keys for ${domain.input.value.trim()}: ${made.rotation.length}. Publish them, then activate.`);
  });
  const target = field("Domain", { name: "activate-domain", required: true, autocapitalize: "none" });
  const activate = form("Activate published keys", [target], "Activate", async () => {
    const answer = await api.call("DkimKey/activate", { domain: target.input.value.trim() });
    await showDkim(api, section);
    status(
      answer.missing.length
        ? `Not yet: ${answer.missing.length} key record${answer.missing.length === 1 ? " is" : "s are"} not in DNS.`
        : `Activated ${answer.activated.length} key${answer.activated.length === 1 ? "" : "s"}.`,
    );
  });
  section.replaceChildren(
    table("DKIM keys", ["Domain", "Selector", "Algorithm", "State", "Created", "DNS record", ""], rows),
    rotate,
    activate,
  );
  status(`${list.length} key${list.length === 1 ? "" : "s"}.`);
}
