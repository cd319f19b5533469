"""When a vacation reply must not go out (RFC 5230 §4.5, §4.6; RFC 3834 §2), and what it says
when it does (§4.3, §5.3, §5.8). Pure: the once-per-period record (§4.2) is delivery's."""

from __future__ import annotations

from collections.abc import Iterable

from pochta.mime.address import Mailbox, parse_address_list
from pochta.mime.fields import message_id, message_ids
from pochta.sieve.message import Envelope, SieveMessage

__all__ = ["DEFAULT_SUBJECT", "reply_refusal", "reply_subject", "sender_ok", "threading"]

DEFAULT_SUBJECT = "Automated reply"  # RFC 5230 §5.3: when the original has no Subject
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


def reply_refusal(message: SieveMessage, envelope: Envelope, own_addresses: Iterable[str]) -> str | None:
    """Why no reply may go to this message's sender, or None when one may."""
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
    # RFC 5230 §4.5: only when one of the user's addresses is a recipient in the header.
    for name in _RECIPIENT_FIELDS:
        for address in message.addresses(name):
            if address.localpart is not None and address.all.lower() in mine:
                return None
            if address.localpart is not None and f"{address.localpart}@{address.domain}".lower() in mine:
                return None
    return "none of the user's addresses is in To, Cc or Bcc (RFC 5230 §4.5)"


def reply_subject(message: SieveMessage) -> str:
    """RFC 5230 §5.3: "Auto: " and the original subject, or a fixed one without it."""
    subjects = message.header_texts("subject")
    return f"Auto: {subjects[0]}" if subjects and subjects[0] else DEFAULT_SUBJECT


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
