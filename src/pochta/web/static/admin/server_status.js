// The server's status and its metrics (the same counters as /metrics).

import { element, status, table, when } from "./ui.js";

export async function showStatus(api, section) {
  const { list } = await api.call("ServerStatus/get", { ids: ["singleton"] });
  const s = list[0];
  const facts = [
    ["Version", s.version],
    ["Running", s.running ? `yes (pid ${s.pid})` : "no"],
    ["Started", when(s.startedAt)],
    ["Uptime", s.uptimeSeconds === null ? "—" : `${Math.floor(s.uptimeSeconds / 3600)} h ${Math.floor((s.uptimeSeconds % 3600) / 60)} min`],
    ["Workers", s.workers === null ? "—" : String(s.workers)],
    ["Queued messages", String(s.queueMessages)],
    ["Recipients pending", String(s.queueRecipientsPending)],
    ["Metrics from", s.metricsSource],
  ];
  const metrics = s.metrics.map((m) => [
    m.name,
    Object.entries(m.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(" "),
    String(m.value),
  ]);
  section.replaceChildren(
    element("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [element("dt", { text: k }), element("dd", { text: v ?? "—" })])),
    table("Metrics", ["Metric", "Labels", "Value"], metrics),
  );
  status(`Server ${s.running ? "running" : "not running"}, ${metrics.length} metrics.`);
}
