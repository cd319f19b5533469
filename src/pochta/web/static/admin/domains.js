// Domains: the list with each domain's protocol switches, adding one (then the DNS records to
// publish, its DKIM keys among them) and removing one (the API refuses one still in use).

import { $, button, element, field, form, protocolSwitches, status, table } from "./ui.js";
import { dnsTable } from "./dns.js";

export async function showDomains(api, section) {
  const { list } = await api.call("Domain/get", {});
  list.sort((a, b) => a.name.localeCompare(b.name));
  const name = field("Domain name", { name: "domain", required: true, autocapitalize: "none", spellcheck: "false" });
  const published = element("div", { id: "domain-records" });
  const add = form("Add a domain", [name], "Add domain", async () => {
    const created = await api.setOne("Domain", "create", "new", { name: name.input.value.trim() });
    const records = await api.call("DnsRecord/get", { domain: name.input.value.trim().toLowerCase(), check: false });
    await showDomains(api, section);
    status(`Added ${name.input.value.trim()}: publish these DNS records (its DKIM keys: ${created.dkimRecords.join(", ")}).`);
    $("domain-records").replaceChildren(element("h3", { text: "Records to publish" }), dnsTable(records.list));
  });
  const rows = list.map((domain) => [
    domain.name,
    String(domain.accounts),
    protocolSwitches(domain.protocols, async (protocol, on) => {
      await api.setOne("Domain", "update", domain.id, { [`protocols/${protocol}`]: on });
      status(`${domain.name}: ${protocol} ${on ? "on" : "off"}.`);
    }),
    button("Remove", async () => {
      if (!confirm(`Remove the domain ${domain.name}?`)) return;
      await api.setOne("Domain", "destroy", domain.id);
      await showDomains(api, section);
      status(`Removed ${domain.name}.`);
    }, { "aria-label": `Remove ${domain.name}`, class: "danger" }),
  ]);
  section.replaceChildren(table("Domains", ["Domain", "Accounts", "Protocols", ""], rows), add, published);
  status(`${list.length} domain${list.length === 1 ? "" : "s"}.`);
}
