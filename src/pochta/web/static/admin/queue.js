// The outbound queue: queued messages with their recipients' state, retried now or deleted.

import { button, bytes, element, status, table, when } from "./ui.js";

export async function showQueue(api, section) {
  const found = await api.call("QueueMessage/query", { sort: [{ property: "arrivedAt", isAscending: true }], limit: 200, calculateTotal: true });
  const { list } = found.ids.length ? await api.call("QueueMessage/get", { ids: found.ids }) : { list: [] };
  const rows = list.map((message) => [
    message.id.slice(1),
    message.sender || "<>",
    element(
      "ul",
      { class: "recipients" },
      ...message.recipients.map((r) =>
        element("li", { text: `${r.address}: ${r.status}, ${r.attempts} attempt${r.attempts === 1 ? "" : "s"}${r.lastReply ? ` (${r.lastReply})` : ""}` }),
      ),
    ),
    bytes(message.size),
    when(message.arrivedAt),
    when(message.nextAttemptAt),
    element(
      "span",
      { class: "row-actions" },
      button("Retry", async () => {
        await api.call("QueueMessage/retry", { ids: [message.id] });
        await showQueue(api, section);
        status(`${message.id.slice(1)} is due now.`);
      }, { "aria-label": `Retry ${message.id.slice(1)}` }),
      button("Delete", async () => {
        if (!confirm("Delete this message without delivering it?")) return;
        await api.setOne("QueueMessage", "destroy", message.id);
        await showQueue(api, section);
        status(`Deleted ${message.id.slice(1)}.`);
      }, { "aria-label": `Delete ${message.id.slice(1)}`, class: "danger" }),
    ),
  ]);
  section.replaceChildren(
    element(
      "div",
      { class: "tools" },
      button("Retry all now", async () => {
        const answer = await api.call("QueueMessage/retry", { ids: null });
        await showQueue(api, section);
        status(`${answer.retried.length} message${answer.retried.length === 1 ? " is" : "s are"} due now.`);
      }),
    ),
    table("Outbound queue", ["Queue id", "Sender", "Recipients", "Size", "Arrived", "Next attempt", ""], rows),
  );
  status(`${found.total ?? list.length} queued message${list.length === 1 ? "" : "s"}.`);
}
