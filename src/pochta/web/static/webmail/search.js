// The search box's language, as Gmail's: operators mapped onto JMAP Email/query FilterConditions
// (RFC 8621 section 4.4.1); plain words are each a "text" condition, all of them ANDed.

const CONTENT = new Set(["from", "to", "cc", "bcc", "subject"]);
const TOKEN = /(?:([A-Za-z]+):)?(?:"([^"]*)"|(\S+))/g;

// "2026/12/07" or "2026-12-07" as the UTCDate of that day's start; null if it is not a date.
function day(text) {
  const match = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$/.exec(text);
  if (!match) return null;
  const [, year, month, date] = match.map(Number);
  const value = new Date(Date.UTC(year, month - 1, date));
  return Number.isNaN(value.getTime()) ? null : value.toISOString().replace(".000Z", "Z");
}

function folderNamed(mailboxes, name) {
  const wanted = name.toLowerCase();
  return (
    mailboxes.find((box) => box.name.toLowerCase() === wanted) ??
    mailboxes.find((box) => (box.role ?? "") === wanted)
  );
}

// The query as a JMAP filter: { filter } or { error } saying what was not understood.
export function searchFilter(query, mailboxes) {
  const conditions = [];
  let folder = null;
  for (const [, operator, quoted, bare] of query.matchAll(TOKEN)) {
    const value = quoted ?? bare;
    const name = operator?.toLowerCase();
    if (!name) {
      if (value) conditions.push({ text: value });
    } else if (CONTENT.has(name)) {
      conditions.push({ [name]: value });
    } else if (name === "has" && value.toLowerCase() === "attachment") {
      conditions.push({ hasAttachment: true });
    } else if (name === "is" && ["unread", "read", "starred", "unstarred"].includes(value.toLowerCase())) {
      const which = value.toLowerCase();
      const keyword = which.endsWith("read") ? "$seen" : "$flagged";
      const wanted = which === "read" || which === "starred";
      conditions.push(wanted ? { hasKeyword: keyword } : { notKeyword: keyword });
    } else if (name === "before" || name === "after") {
      const date = day(value);
      if (!date) return { error: `${name}: wants a date as 2026/12/31` };
      conditions.push({ [name]: date });
    } else if (name === "in") {
      folder = folderNamed(mailboxes, value);
      if (!folder) return { error: `There is no folder named ${value}` };
      conditions.push({ inMailbox: folder.id });
    } else {
      conditions.push({ text: `${operator}:${value}` }); // not ours: the words as typed
    }
  }
  if (!folder) {
    // As Gmail: a search looks everywhere but the bin and the spam folder, unless in: says so.
    const away = mailboxes.filter((box) => box.role === "trash" || box.role === "junk").map((box) => box.id);
    if (away.length) conditions.push({ inMailboxOtherThan: away });
  }
  if (conditions.length === 0) return { error: "Type something to search for" };
  return { filter: conditions.length === 1 ? conditions[0] : { operator: "AND", conditions } };
}
