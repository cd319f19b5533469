"""When a vacation reply must not go out (RFC 5230 §4.5, §4.6; RFC 3834 §2), and what it says
when it does (§4.3, §5.3, §5.8). Pure: the once-per-period record (§4.2) is delivery's."""

from __future__ import annotations

from collections.abc import Iterable

from pochta.mime.address import Mailbox, parse_address_list
from pochta.mime.fields import message_id, message_ids
from pochta.sieve.message import Envelope, SieveMessage

__all__ = [
    "DEFAULT_SUBJECT",
    "SUBJECT_MAX",
    "addressed_to",
    "cut_subject",
    "reply_refusal",
    "reply_subject",
    "reply_to_field",
    "sender_ok",
    "threading",
]

DEFAULT_SUBJECT = "Automated reply"  # RFC 5230 §5.3: when the original has no Subject
SUBJECT_MAX = 256  # characters of a subject made from the original's
# RFC 5230 §4.6: addresses of automated systems that never get a reply (the local part, lower
# case), and list software's "owner-" and "-request" forms.
_NEVER_REPLY_TO = frozenset({"mailer-daemon", "listserv", "majordomo", "noreply", "no-reply", "nobody"})
_LIST_FIELDS = (
    "list-id",
    "list-help",
    "list-subscribe",
    "list-unsubscribe",
    "list-post",
    "list-owner",
    "list-archive",
)
_RECIPIENT_FIELDS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")


def reply_refusal(
    message: SieveMessage, envelope: Envelope, own_addresses: Iterable[str], *, check_recipient: bool = True
) -> str | None:
    """Why no reply may go to this message's sender, or None when one may. ``check_recipient``
    False (an administrator's choice) drops §4.5's test that the user is a recipient."""
    sender = envelope.sender
    if not sender:
        return "the sender is the null reverse-path (RFC 3834 §2)"
    local = sender.rpartition("@")[0].lower()
    if local in _NEVER_REPLY_TO or local.startswith("owner-") or local.endswith("-request"):
        return f"{sender} is an automated address (RFC 5230 §4.6)"
    mine = {address.lower() for address in own_addresses if address}
    if sender.lower() in mine:
        return "the sender is the user (RFC 3834 §2)"
    for name in _LIST_FIELDS:
        if message.has(name):
            return f"the message came from a mailing list ({name}, RFC 5230 §4.6)"
    for value in message.header_texts("auto-submitted"):
        if value.split(";")[0].strip().lower() != "no":
            return "the message was sent automatically (Auto-Submitted, RFC 3834 §2)"
    for value in message.header_texts("precedence"):
        if value.strip().lower() in ("bulk", "list", "junk"):
            return f"the message is Precedence: {value.strip().lower()} (RFC 3834 §2)"
    for value in message.header_texts("x-auto-response-suppress"):
        # Microsoft's [MS-OXCMAIL] §2.2.3.2.20: "OOF" (or "All") asks for no out-of-office reply;
        # Exchange sets it on its own automatic mail, which RFC 3834's fields do not mark.
        if {item.strip().lower() for item in value.split(",")} & {"oof", "all"}:
            return "the sender asked for no out-of-office reply (X-Auto-Response-Suppress)"
    if not check_recipient or addressed_to(message, mine) is not None:
        return None
    return "none of the user's addresses is in To, Cc or Bcc (RFC 5230 §4.5)"


def addressed_to(message: SieveMessage, own_addresses: Iterable[str]) -> str | None:
    """RFC 5230 §4.5: the first of the user's addresses the header names as a recipient (as
    the header writes it), None when it names none."""
    mine = {address.lower() for address in own_addresses}
    for name in _RECIPIENT_FIELDS:
        for address in message.addresses(name):
            if address.localpart is None:
                continue
            plain = f"{address.localpart}@{address.domain}"
            if address.all.lower() in mine or plain.lower() in mine:
                return plain
    return None


def reply_to_field(message: SieveMessage, recipient: str, *, ignore_envelope: bool = False) -> str:
    """RFC 5230 §5.5: the To of the reply, the envelope sender, with the display name the
    original's Sender or From gives that address (``ignore_envelope``: whatever address they
    name, for a sender rewritten by SRS)."""
    wanted = recipient.lower()
    for name in ("sender", "from"):
        for text in message.header_texts(name):
            for item in parse_address_list(text):
                if not isinstance(item, Mailbox) or not item.domain:
                    continue
                address = f"{item.local_part_text}@{item.domain}"
                if address.lower() == wanted or ignore_envelope:
                    return _name_addr(item.name, address)
    return _name_addr(None, recipient)


def _name_addr(name: str | None, address: str) -> str:
    if not name:
        return f"<{address}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def reply_subject(
    message: SieveMessage, template: str = "Auto: %{subject}", default: str = DEFAULT_SUBJECT
) -> str:
    """RFC 5230 §5.3: "Auto: " and the original subject (the administrator may word it otherwise
    with ``template``), or a fixed one without it; cut to ``SUBJECT_MAX`` characters, so that a
    reply to an endless subject stays a sensible line."""
    subjects = message.header_texts("subject")
    if not subjects or not subjects[0]:
        return default
    return cut_subject(template.replace("%{subject}", subjects[0]))


def cut_subject(subject: str) -> str:
    """A subject the server makes, at most ``SUBJECT_MAX`` characters: a longer one is cut and
    ends in an ellipsis that says so."""
    if len(subject) <= SUBJECT_MAX:
        return subject
    return subject[: SUBJECT_MAX - 1] + "\u2026"


def sender_ok(value: str) -> bool:
    """RFC 5230 §4.3: :from must be a valid mailbox-list (else it is ignored, not an error)."""
    items = parse_address_list(value)
    return bool(items) and all(isinstance(item, Mailbox) and item.domain for item in items)


def threading(message: SieveMessage) -> tuple[str | None, tuple[str, ...]]:
    """RFC 5230 §5.8 (RFC 5322 §3.6.4): In-Reply-To is the original's Message-ID, and References
    its References (or In-Reply-To) followed by that Message-ID."""
    ids = message.header_texts("message-id")
    original = message_id(ids[0]) if ids else None
    if original is None:
        return None, ()
    earlier = message.header_texts("references") or message.header_texts("in-reply-to")
    chain = message_ids(earlier[0]) if earlier else ()
    return original, (*chain, original)
