// The compose panel: a new message, a reply, a reply all, a forward, or a draft reopened; the
// From of the account's Identities (Identity/get) with the Identity's text signature, address
// chips, a plain-text body, attachments uploaded to /jmap/upload/ with their progress; drafts
// saved as the user types (one Email/set that creates the new draft and destroys the old, so
// Drafts never holds zero or two), and sending as one JMAP request (Email/set, EmailSubmission/set
// moving it to Sent, and for a reply the original's $answered). The panel's markup is in
// web/webmail_pages.py; app.js calls setupCompose once the page is connected.

import { CORE, MAIL } from "./jmap.js";
import {
  forwardSubject,
  forwardedText,
  parseAddress,
  quoted,
  refusalText,
  replyRecipients,
  replySubject,
  splitAddresses,
  threadingOf,
} from "./replying.js";

export const SUBMISSION = "urn:ietf:params:jmap:submission";
const USING = [CORE, MAIL, SUBMISSION];
const SAVE_AFTER = 2000; // ms after the last key: a draft is saved (Gmail saves about as often)
const FIELDS = ["to", "cc", "bcc"];
const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function size(octets) {
  if (octets < 1024) return `${octets} B`;
  if (octets < 1024 * 1024) return `${Math.round(octets / 1024)} KB`;
  return `${(octets / 1024 / 1024).toFixed(1)} MB`;
}

// The text of a message's body for quoting: its text parts, or its HTML parts' text.
function bodyText(email) {
  const parts = email.textBody ?? [];
  return parts
    .map((part) => {
      const value = email.bodyValues?.[part.partId]?.value ?? "";
      if (part.type !== "text/html") return value;
      return new DOMParser().parseFromString(value, "text/html").body.textContent ?? "";
    })
    .join("\n");
}

const ORIGINAL_PROPERTIES = [
  "messageId", "inReplyTo", "references", "from", "to", "cc", "bcc", "replyTo", "subject", "sentAt",
  "receivedAt", "keywords", "mailboxIds", "textBody", "bodyValues", "attachments",
];

export function setupCompose(app) {
  const { client } = app;
  const panel = $("compose");
  const form = $("compose-form");
  const body = $("compose-body");
  const subject = $("compose-subject");
  const fromMenu = $("compose-from");
  let identities = [];
  const draft = {
    id: null, // the saved draft's Email id
    answering: null, // the Email a reply answers: $answered once sent
    answeredBefore: false,
    inReplyTo: null,
    references: null,
    recipients: { to: [], cc: [], bcc: [] },
    attachments: [], // {key, blobId, name, type, size, progress}
    dirty: false,
    timer: null,
    saving: Promise.resolve(),
    signature: "",
  };

  const say = (text) => {
    $("compose-status").textContent = text;
  };
  const byRole = (role) => app.mailboxes().find((box) => box.role === role);

  async function request(calls) {
    return client.request(calls, USING);
  }

  async function loadIdentities() {
    const answer = (await request([["Identity/get", { accountId: client.accountId, ids: null }, "i"]])).get("i");
    identities = answer.list.sort((a, b) => Number(a.mayDelete) - Number(b.mayDelete) || a.email.localeCompare(b.email));
    fromMenu.replaceChildren(
      ...identities.map((identity) =>
        element("option", {
          value: identity.id,
          text: identity.name ? `${identity.name} <${identity.email}>` : identity.email,
        }),
      ),
    );
  }

  const identity = () => identities.find((one) => one.id === fromMenu.value) ?? identities[0];
  const ownAddresses = () => [client.session.username, ...identities.map((one) => one.email)].filter(Boolean);

  function signatureOf(chosen) {
    const text = chosen?.textSignature ?? "";
    return text ? `\n\n-- \n${text}` : ""; // "-- " (with its space): the usual signature separator
  }

  // Drafts (role drafts): made when missing, as Gmail always has one.
  async function draftsMailbox() {
    const found = byRole("drafts");
    if (found) return found.id;
    const answer = (await request([["Mailbox/set", {
      accountId: client.accountId,
      create: { d: { name: "Drafts", role: "drafts" } },
    }, "m"]])).get("m");
    const made = answer.created?.d;
    if (!made) throw new Error(refusalText(answer.notCreated?.d));
    await app.refresh();
    return made.id;
  }

  // ----- address chips

  function renderChips(field) {
    const list = $(`compose-${field}-chips`);
    list.replaceChildren(
      ...draft.recipients[field].map((address, index) => {
        const text = address.name ? `${address.name} <${address.email}>` : address.email;
        const remove = element("button", { type: "button", class: "remove", "aria-label": `Remove ${address.email}`, text: "×" });
        remove.addEventListener("click", () => {
          draft.recipients[field].splice(index, 1);
          renderChips(field);
          changed();
        });
        return element("li", { class: "chip", title: address.email }, element("span", { text }), remove);
      }),
    );
  }

  // The typed text made into chips; what is not an address stays in the field, marked invalid.
  function commitAddresses(field) {
    const input = $(`compose-${field}`);
    const rejected = [];
    let added = false;
    for (const piece of splitAddresses(input.value)) {
      const address = parseAddress(piece);
      if (!address) {
        rejected.push(piece);
        continue;
      }
      const known = draft.recipients[field].some((one) => one.email.toLowerCase() === address.email.toLowerCase());
      if (!known) draft.recipients[field].push(address);
      added = true;
    }
    input.value = rejected.join(", ");
    input.setAttribute("aria-invalid", String(rejected.length > 0));
    if (rejected.length) say(`Not an address: ${rejected.join(", ")}`);
    else if ($("compose-status").textContent.startsWith("Not an address")) say("");
    if (added) {
      renderChips(field);
      changed();
    }
    return rejected.length === 0;
  }

  for (const field of FIELDS) {
    const input = $(`compose-${field}`);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === "," || event.key === ";") {
        if (event.ctrlKey || event.metaKey) return; // Ctrl+Enter sends
        event.preventDefault();
        commitAddresses(field);
      } else if (event.key === "Backspace" && input.value === "" && draft.recipients[field].length) {
        draft.recipients[field].pop();
        renderChips(field);
        changed();
      }
    });
    input.addEventListener("paste", (event) => {
      const text = event.clipboardData?.getData("text") ?? "";
      if (!/[,;\n]/.test(text)) return;
      event.preventDefault();
      input.value = `${input.value}${text}`;
      commitAddresses(field);
    });
    input.addEventListener("blur", () => commitAddresses(field));
  }

  // ----- attachments

  function renderAttachments() {
    $("compose-attachments").replaceChildren(
      ...draft.attachments.map((item) => {
        const remove = element("button", { type: "button", class: "remove", "aria-label": `Remove ${item.name}`, text: "Remove" });
        remove.addEventListener("click", () => {
          item.cancel?.();
          draft.attachments = draft.attachments.filter((one) => one !== item);
          renderAttachments();
          changed();
        });
        const row = element("li", { class: "attachment" }, element("span", { class: "name", text: item.name }));
        if (item.blobId) row.append(element("span", { class: "size", text: size(item.size) }));
        else {
          row.append(element("progress", { max: "100", value: String(item.progress), "aria-label": `Uploading ${item.name}` }));
        }
        row.append(remove);
        return row;
      }),
    );
  }

  // RFC 8620 section 6.1: the file's octets POSTed to the upload URL; an XMLHttpRequest, as
  // fetch reports no upload progress.
  function upload(file) {
    const item = { key: crypto.randomUUID(), blobId: null, name: file.name, type: file.type || "application/octet-stream", size: file.size, progress: 0 };
    draft.attachments.push(item);
    renderAttachments();
    const xhr = new XMLHttpRequest();
    item.cancel = () => xhr.abort();
    xhr.open("POST", client.session.uploadUrl.replace("{accountId}", encodeURIComponent(client.accountId)));
    xhr.setRequestHeader("Content-Type", item.type);
    xhr.setRequestHeader("X-CSRF-Token", client.csrfToken);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      item.progress = Math.round((100 * event.loaded) / event.total);
      renderAttachments();
    });
    xhr.addEventListener("load", () => {
      if (xhr.status !== 200 && xhr.status !== 201) {
        draft.attachments = draft.attachments.filter((one) => one !== item);
        renderAttachments();
        say(xhr.status === 413 ? `${file.name} is too large to attach.` : `Could not attach ${file.name} (HTTP ${xhr.status}).`);
        return;
      }
      const answer = JSON.parse(xhr.responseText);
      item.blobId = answer.blobId;
      item.size = answer.size;
      delete item.cancel;
      renderAttachments();
      changed();
    });
    xhr.addEventListener("error", () => {
      draft.attachments = draft.attachments.filter((one) => one !== item);
      renderAttachments();
      say(`Could not attach ${file.name}.`);
    });
    xhr.send(file);
  }

  $("compose-files").addEventListener("change", (event) => {
    for (const file of event.target.files) upload(file);
    event.target.value = "";
  });
  panel.addEventListener("dragover", (event) => {
    if (!event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    panel.classList.add("drop-target");
  });
  panel.addEventListener("dragleave", () => panel.classList.remove("drop-target"));
  panel.addEventListener("drop", (event) => {
    panel.classList.remove("drop-target");
    if (!event.dataTransfer.files.length) return;
    event.preventDefault();
    for (const file of event.dataTransfer.files) upload(file);
  });

  // ----- drafts

  function emailObject(draftsId) {
    const chosen = identity();
    const email = {
      mailboxIds: { [draftsId]: true },
      keywords: { $draft: true, $seen: true },
      from: [chosen.name ? { name: chosen.name, email: chosen.email } : { email: chosen.email }],
      subject: subject.value,
      textBody: [{ partId: "text", type: "text/plain" }],
      bodyValues: { text: { value: body.value } },
      attachments: draft.attachments
        .filter((item) => item.blobId)
        .map((item) => ({ blobId: item.blobId, type: item.type, name: item.name, disposition: "attachment" })),
    };
    for (const field of FIELDS) if (draft.recipients[field].length) email[field] = draft.recipients[field];
    if (draft.inReplyTo) email.inReplyTo = draft.inReplyTo;
    if (draft.references) email.references = draft.references;
    return email;
  }

  function changed() {
    if (panel.hidden) return;
    draft.dirty = true;
    clearTimeout(draft.timer);
    draft.timer = setTimeout(() => save(), SAVE_AFTER);
  }

  // Saves run one after another: two at once would both destroy the same old draft and leave two.
  function save() {
    clearTimeout(draft.timer);
    draft.saving = draft.saving.then(saveNow).catch((error) => say(`The draft was not saved: ${error.message}`));
    return draft.saving;
  }

  async function saveNow() {
    if (!draft.dirty || identities.length === 0) return;
    draft.dirty = false;
    const draftsId = await draftsMailbox();
    const old = draft.id;
    const answer = (await request([["Email/set", {
      accountId: client.accountId,
      create: { draft: emailObject(draftsId) },
      destroy: old ? [old] : [],
    }, "s"]])).get("s");
    const made = answer.created?.draft;
    if (!made) {
      draft.dirty = true;
      throw new Error(refusalText(answer.notCreated?.draft));
    }
    draft.id = made.id;
    say(`Draft saved at ${new Date().toLocaleTimeString()}`);
    panel.dataset.draftId = made.id; // for the browser tests: the draft on the server
  }

  // ----- opening and closing

  function fill({ to = [], cc = [], bcc = [], subjectText = "", text = "", attachments = [], from = null }) {
    draft.recipients = { to: [...to], cc: [...cc], bcc: [...bcc] };
    for (const field of FIELDS) {
      $(`compose-${field}`).value = "";
      $(`compose-${field}`).setAttribute("aria-invalid", "false");
      renderChips(field);
    }
    const chosen = identities.find((one) => one.email.toLowerCase() === (from ?? "").toLowerCase()) ?? identities[0];
    if (chosen) fromMenu.value = chosen.id;
    draft.signature = signatureOf(chosen);
    subject.value = subjectText;
    body.value = text;
    draft.attachments = attachments;
    renderAttachments();
    $("compose-cc-row").hidden = cc.length === 0;
    $("compose-bcc-row").hidden = bcc.length === 0;
    say("");
  }

  async function open(setup, title) {
    if (!panel.hidden) await close();
    await loadIdentities(); // each time: a signature or Identity changed elsewhere shows at once
    Object.assign(draft, { id: null, answering: null, answeredBefore: false, inReplyTo: null, references: null, dirty: false });
    delete panel.dataset.draftId;
    delete panel.dataset.sent;
    await setup();
    $("compose-title").textContent = title;
    panel.hidden = false;
    document.body.classList.add("composing");
    const first = draft.recipients.to.length ? body : $("compose-to");
    first.focus();
    if (first === body) body.setSelectionRange(0, 0);
  }

  async function close() {
    clearTimeout(draft.timer);
    for (const field of FIELDS) commitAddresses(field);
    await save();
    panel.hidden = true;
    document.body.classList.remove("composing");
    if (draft.id) app.status("Draft saved");
  }

  async function discard() {
    clearTimeout(draft.timer);
    draft.dirty = false;
    await draft.saving;
    for (const item of draft.attachments) item.cancel?.();
    if (draft.id) await request([["Email/set", { accountId: client.accountId, destroy: [draft.id] }, "d"]]);
    draft.id = null;
    panel.hidden = true;
    document.body.classList.remove("composing");
    app.status("Draft discarded");
  }

  async function original(emailId) {
    const answer = (await request([["Email/get", {
      accountId: client.accountId,
      ids: [emailId],
      properties: ORIGINAL_PROPERTIES,
      bodyProperties: ["partId", "blobId", "type", "name", "size", "disposition"],
      fetchTextBodyValues: true,
    }, "g"]])).get("g");
    const [email] = answer.list;
    if (!email) throw new Error("that message is gone");
    return email;
  }

  // A reply's draft reopened: the message it answers, found by its Message-ID (the draft's
  // In-Reply-To), so that sending it still marks that message $answered.
  async function findAnswered(reply) {
    const responses = await request([
      ["Email/query", {
        accountId: client.accountId,
        filter: { header: ["Message-ID", reply.inReplyTo[0]] },
        limit: 5,
      }, "q"],
      ["Email/get", {
        accountId: client.accountId,
        "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
        properties: ["messageId", "keywords"],
      }, "g"],
    ]);
    const found = responses.get("g").list.find((one) => one.id !== reply.id && one.messageId?.[0] === reply.inReplyTo[0]);
    if (!found) return;
    draft.answering = found.id;
    draft.answeredBefore = Boolean(found.keywords?.$answered);
  }

  const senderName = (email) => {
    const [first] = email.from ?? [];
    return first ? first.name || first.email : "someone";
  };

  const composer = {
    compose: () => open(async () => fill({ text: signatureOf(identity() ?? identities[0]) }), "New message"),

    reply: (emailId, all = false) =>
      open(async () => {
        const email = await original(emailId);
        const { to, cc } = replyRecipients(email, all, ownAddresses());
        const mine = new Set(ownAddresses().map((a) => a.toLowerCase()));
        const from = [...(email.to ?? []), ...(email.cc ?? [])].find((a) => mine.has(a.email.toLowerCase()));
        const chosen = identities.find((one) => one.email.toLowerCase() === from?.email.toLowerCase()) ?? identities[0];
        const text = `${signatureOf(chosen)}\n\n${quoted(bodyText(email), email.sentAt ?? email.receivedAt, senderName(email))}`;
        fill({ to, cc, subjectText: replySubject(email.subject), text: `\n${text}`, from: chosen?.email });
        Object.assign(draft, threadingOf(email));
        draft.answering = email.id;
        draft.answeredBefore = Boolean(email.keywords?.$answered);
      }, all ? "Reply all" : "Reply"),

    forward: (emailId) =>
      open(async () => {
        const email = await original(emailId);
        // The original's attachments travel by their blobIds: Email/set create takes them as they are.
        const attachments = (email.attachments ?? []).map((part) => ({
          key: part.blobId, blobId: part.blobId, name: part.name || "attachment", type: part.type, size: part.size,
        }));
        const text = `${signatureOf(identity())}\n\n${forwardedText(email, bodyText(email))}`;
        fill({ subjectText: forwardSubject(email.subject), text: `\n${text}`, attachments });
        // RFC 5322 section 3.6.4 leaves a forward's threading open; keeping References joins the
        // conversation in the sender's own mail program, as Gmail does.
        draft.references = threadingOf(email).references;
      }, "Forward"),

    editDraft: (emailId) =>
      open(async () => {
        const email = await original(emailId);
        const attachments = (email.attachments ?? []).map((part) => ({
          key: part.blobId, blobId: part.blobId, name: part.name || "attachment", type: part.type, size: part.size,
        }));
        fill({
          to: email.to ?? [], cc: email.cc ?? [], bcc: email.bcc ?? [], subjectText: email.subject ?? "",
          text: bodyText(email), attachments, from: email.from?.[0]?.email,
        });
        draft.id = email.id;
        draft.inReplyTo = email.inReplyTo;
        draft.references = email.references;
        panel.dataset.draftId = email.id;
        if (email.inReplyTo?.length) await findAnswered(email);
      }, "Draft"),

    isOpen: () => !panel.hidden,
  };

  // ----- sending

  async function send() {
    for (const field of FIELDS) if (!commitAddresses(field)) return;
    const everyone = FIELDS.flatMap((field) => draft.recipients[field]);
    if (everyone.length === 0) return say("Add at least one recipient.");
    if (draft.attachments.some((item) => !item.blobId)) return say("Wait until the attachments are uploaded.");
    clearTimeout(draft.timer);
    await draft.saving;
    const sent = byRole("sent");
    const draftsId = await draftsMailbox();
    const calls = [];
    let emailRef = draft.id;
    if (draft.dirty || !draft.id) {
      // The message as it is now, made in Drafts; the previous draft goes in the same Email/set.
      calls.push(["Email/set", {
        accountId: client.accountId,
        create: { send: emailObject(draftsId) },
        destroy: draft.id ? [draft.id] : [],
      }, "e"]);
      emailRef = "#send";
    }
    // RFC 8621 section 7.5: once sent, the Email leaves Drafts for Sent and loses $draft.
    const moved = { [`mailboxIds/${draftsId}`]: null, "keywords/$draft": null };
    if (sent) moved[`mailboxIds/${sent.id}`] = true;
    calls.push(["EmailSubmission/set", {
      accountId: client.accountId,
      create: { s: { identityId: identity().id, emailId: emailRef } },
      onSuccessUpdateEmail: { "#s": moved },
    }, "s"]);
    if (draft.answering) {
      calls.push(["Email/set", { accountId: client.accountId, update: { [draft.answering]: { "keywords/$answered": true } } }, "a"]);
    }
    say("Sending…");
    $("compose-send").disabled = true;
    try {
      const responses = await request(calls);
      const created = responses.get("e");
      if (created) {
        const made = created.created?.send;
        if (!made) return say(refusalText(created.notCreated?.send));
        draft.id = made.id;
        draft.dirty = false;
      }
      const submission = responses.get("s");
      if (!submission.created?.s) {
        // Not sent: the original is not answered after all (JMAP has no conditional call).
        if (draft.answering && !draft.answeredBefore) {
          await request([["Email/set", { accountId: client.accountId, update: { [draft.answering]: { "keywords/$answered": null } } }, "u"]]);
        }
        return say(refusalText(submission.notCreated?.s));
      }
      panel.dataset.sent = draft.id;
      draft.id = null;
      panel.hidden = true;
      document.body.classList.remove("composing");
      await app.refresh();
      app.status("Message sent");
    } catch (error) {
      say(`Not sent: ${error.message}`);
    } finally {
      $("compose-send").disabled = false;
    }
  }

  // ----- wiring

  for (const input of [subject, body]) input.addEventListener("input", changed);
  fromMenu.addEventListener("change", () => {
    const next = signatureOf(identity());
    if (draft.signature && body.value.includes(draft.signature)) body.value = body.value.replace(draft.signature, next);
    draft.signature = next;
    changed();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("compose-close").addEventListener("click", () => close());
  $("compose-discard").addEventListener("click", () => discard());
  $("compose-show-cc").addEventListener("click", () => {
    $("compose-cc-row").hidden = false;
    $("compose-bcc-row").hidden = false;
    $("compose-cc").focus();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      event.stopPropagation();
      send();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });
  $("compose-new").addEventListener("click", () => composer.compose());
  const withOpen = (action) => () => {
    const email = app.openEmail();
    if (email) action(email.id).catch((error) => app.status(`Could not start it: ${error.message}`));
  };
  const handlers = {
    c: () => composer.compose().catch((error) => app.status(`Could not start it: ${error.message}`)),
    r: withOpen((id) => composer.reply(id, false)),
    a: withOpen((id) => composer.reply(id, true)),
    f: withOpen((id) => composer.forward(id)),
  };
  $("reply").addEventListener("click", handlers.r);
  $("reply-all").addEventListener("click", handlers.a);
  $("forward").addEventListener("click", handlers.f);
  // Gmail's keys: c compose, r reply, a reply all, f forward; not while typing, not with a modifier.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !panel.hidden) return;
    if (event.target.closest?.('input:not([type="checkbox"]), textarea, select, [contenteditable]')) return;
    if ($("shortcuts").open) return;
    const handler = handlers[event.key];
    if (!handler) return;
    event.preventDefault();
    handler();
  });
  // Esc on a phone's back gesture is not a key: closing the page saves what is being typed.
  window.addEventListener("pagehide", () => {
    if (!panel.hidden && draft.dirty) save();
  });
  return composer;
}
