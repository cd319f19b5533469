// What a reply or a forward takes from the original, as plain functions (no page, no JMAP): the
// subject without stacked prefixes, In-Reply-To and References, the quoted text, the recipients of
// a reply all, and the parsing of typed addresses. compose.js uses them; the browser tests run them
// as the page loads them.

// "Re:", "Fwd:", "Fw:", "AW:", "SV:", "TR:" and their bracketed counts ("Re[2]:"), repeated: what
// mail programs put before a subject. A new prefix replaces them all, so they never stack.
const PREFIXES = /^\s*((re|fwd?|aw|sv|tr|wg)(\[\d+\])?\s*:\s*)+/i;

export function baseSubject(subject) {
  return (subject ?? "").replace(PREFIXES, "").trim();
}

export function replySubject(subject) {
  // A reply keeps "Re: " once; a reply to a forward is still a reply.
  return `Re: ${baseSubject(subject)}`;
}

export function forwardSubject(subject) {
  return `Fwd: ${baseSubject(subject)}`;
}

// RFC 5322 section 3.6.4: In-Reply-To is the parent's Message-ID; References is the parent's
// References (or else its In-Reply-To, when it names exactly one) followed by the parent's
// Message-ID. JMAP gives the ids without angle brackets, as lists.
export function threadingOf(original) {
  const messageIds = original.messageId ?? [];
  if (messageIds.length === 0) return { inReplyTo: null, references: null };
  let parents = original.references ?? null;
  if (!parents?.length && original.inReplyTo?.length === 1) parents = original.inReplyTo;
  return { inReplyTo: [messageIds[0]], references: [...(parents ?? []), messageIds[0]] };
}

const mailbox = (address) => (address.name ? `${address.name} <${address.email}>` : address.email);

export function formatAddresses(list) {
  return (list ?? []).map(mailbox).join(", ");
}

// "On 7 Dec 2026, 09:00, Alice wrote:" then every line of the original's text after "> ".
export function quoted(text, sentAt, sender, locale = undefined) {
  const when = sentAt
    ? new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(sentAt))
    : "an earlier date";
  const lines = (text ?? "").replace(/\r\n/g, "\n").replace(/\n+$/, "").split("\n");
  const body = lines.map((line) => (line.startsWith(">") ? `>${line}` : `> ${line}`)).join("\n");
  return `On ${when}, ${sender} wrote:\n${body}\n`;
}

export function forwardedText(original, text) {
  const date = original.sentAt ?? original.receivedAt;
  return [
    "---------- Forwarded message ----------",
    `From: ${formatAddresses(original.from)}`,
    `Date: ${date ? new Date(date).toUTCString() : ""}`,
    `Subject: ${original.subject ?? ""}`,
    `To: ${formatAddresses(original.to)}`,
    ...(original.cc?.length ? [`Cc: ${formatAddresses(original.cc)}`] : []),
    "",
    (text ?? "").replace(/\r\n/g, "\n"),
  ].join("\n");
}

const lower = (address) => address.email.toLowerCase();

function unique(list, skip) {
  const seen = new Set(skip);
  const out = [];
  for (const address of list) {
    const key = lower(address);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(address);
  }
  return out;
}

// RFC 5322 section 3.6.3: a reply goes to Reply-To when the original has one, else to From. A
// reply all adds the original's other To and Cc recipients; none of the user's own addresses
// (`own`, lower case) is kept, and nobody twice.
export function replyRecipients(original, all, own) {
  const mine = new Set([...own].map((a) => a.toLowerCase()));
  const author = original.replyTo?.length ? original.replyTo : original.from ?? [];
  const sentByMe = (original.from ?? []).some((a) => mine.has(lower(a)));
  // Replying to one's own sent message goes to its recipients, as Gmail does.
  const primary = sentByMe && !original.replyTo?.length ? original.to ?? [] : author;
  const to = unique(primary, mine);
  if (!all) return { to: to.length ? to : unique(author, []), cc: [] };
  const taken = new Set([...mine, ...to.map(lower)]);
  const cc = unique([...(original.to ?? []), ...(original.cc ?? [])], taken);
  return { to, cc };
}

// An address as a person types or pastes it: "Name <a@b>", "<a@b>" or "a@b". Null when it is
// not an address (RFC 5322 section 3.4.1's addr-spec, simplified to what a form can check: one
// @, a local part and a domain with a dot or a single label, no spaces).
const ADDR_SPEC = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+$/;

export function parseAddress(text) {
  const typed = text.trim();
  if (!typed) return null;
  const angled = typed.match(/^(.*)<([^<>]+)>$/);
  const email = (angled ? angled[2] : typed).trim();
  if (!ADDR_SPEC.test(email) || email.startsWith(".") || email.endsWith(".")) return null;
  const name = angled ? angled[1].trim().replace(/^"(.*)"$/, "$1") : "";
  return name ? { name, email } : { email };
}

// A pasted list: separated by commas, semicolons or new lines (commas inside quotes are a name's).
export function splitAddresses(text) {
  const out = [];
  let current = "";
  let inQuotes = false;
  for (const character of text) {
    if (character === '"') inQuotes = !inQuotes;
    if (!inQuotes && (character === "," || character === ";" || character === "\n")) {
      if (current.trim()) out.push(current.trim());
      current = "";
    } else current += character;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

// The words a user reads for a refusal (RFC 8620 section 5.3, RFC 8621 section 7.5).
const REFUSALS = {
  forbiddenFrom: "You may not send from that address.",
  forbiddenMailFrom: "You may not send from that address.",
  forbiddenToSend: "Your account may not send mail.",
  tooManyRecipients: "Too many recipients for one message.",
  noRecipients: "Add at least one recipient.",
  invalidRecipients: "A recipient's address is not valid.",
  overQuota: "Your mailbox is full: delete some mail, then try again.",
  tooLarge: "The message is too large to send.",
  rateLimit: "You have sent too many messages recently: try again later.",
  invalidEmail: "The message could not be made from what you wrote.",
  blobNotFound: "An attachment is gone: remove it and attach it again.",
  invalidProperties: "The message could not be made from what you wrote.",
};

export function refusalText(error) {
  const words = REFUSALS[error?.type] ?? "The server refused the message.";
  return error?.description ? `${words} (${error.description})` : words;
}
