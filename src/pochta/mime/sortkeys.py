"""What SORT and THREAD (RFC 5256, RFC 5957) compare, derived once from a message's parse record.

``SortKeys`` holds, per message, every string a sort criterion or a threading algorithm compares,
already in its comparison form (``casemap``: i;unicode-casemap, which RFC 5256 §7 asks for, so
that comparing keys is comparing code points), the sent date, and the normalised Message-ID and
references. The store keeps them (``pochta.store.sqlite.sortkeys``) so that sorting a mailbox
never reads parse records again.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from pochta.mime.encoded_words import decode_encoded_words
from pochta.mime.envelope import Address, Addresses
from pochta.mime.fields import subject_base
from pochta.mime.model import ParsedMessage
from pochta.mime.text import scrub

# Bump when what ``sort_keys`` derives changes: stored keys of another version are derived again.
SORT_KEYS_VERSION = 1
MAX_KEY_CHARS = 1024  # of one string key: enough to order by, bounded per message
MAX_REFERENCES = 200  # of one message's ancestry (RFC 5256 §3 REFERENCES step 1)

_MSG_ID = re.compile(r"<([^<>@]*)@([^<>]*)>")


def casemap(text: str) -> str:
    """i;unicode-casemap (RFC 5256 §7 asks SORT and THREAD for this collation): each character's
    simple titlecase mapping, then canonical decomposition; US-ASCII is upper case."""
    if text.isascii():
        return text.upper()
    mapped = []
    for char in text:
        title = char.title()
        mapped.append(title if len(title) == 1 else char)  # simple, one-to-one mappings only
    return unicodedata.normalize("NFD", "".join(mapped))


def normalize_msgid(value: str) -> str | None:
    """RFC 5256 §3 REFERENCES: a msg-id in a normal form (quotes around the local part and white
    space dropped, so that ``<"a"@b>`` is ``<a@b>``), or None when it is not ``<local@domain>``."""
    found = _MSG_ID.fullmatch("".join(value.split()))
    if found is None:
        return None
    local, domain = found.groups()
    if len(local) >= 2 and local[0] == local[-1] == '"':
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    if not local or not domain:
        return None
    return f"<{local}@{domain}>"


class SortKeys(NamedTuple):
    """One message's keys. Strings are casemapped ("" when the field is absent: RFC 5256 §3 "treated
    as the empty string"); ``sent`` is the Date: field in UTC seconds, None when there is no usable one
    (the caller falls back to the internal date, RFC 5256 §2.2). A named tuple: a SORT builds one
    per message (20,000 of a big mailbox), several times cheaper than a frozen dataclass."""

    subject: str = ""  # RFC 5256 §2.1 base subject
    reply: bool = False  # the extraction removed a subj-refwd, "(fwd)" or "[fwd: ]" (RFC 5256 §3)
    from_: str = ""  # RFC 5256 §3: addr-mailbox of the first From address
    to: str = ""
    cc: str = ""
    display_from: str = ""  # RFC 5957 §4 DISPLAYFROM
    display_to: str = ""
    sent: int | None = None
    message_id: str | None = None  # normalised; None: none or not valid
    references: tuple[str, ...] = ()  # normalised ancestry, oldest first (RFC 5256 §3 REFERENCES)


def _clip(text: str) -> str:
    return casemap(text[:MAX_KEY_CHARS])


def _decoded(text: str) -> str:
    # Encoded words can decode to lone surrogates, which a key cannot hold (nor SQLite store).
    return scrub(decode_encoded_words(text)) if "=?" in text else text


def _mailbox(addresses: Addresses) -> str:
    # RFC 5256 §3: "[IMAP] addr-mailbox of the first ... address"; a group's start (the first item
    # of "To: group: a@b;") has the group's name there, as Dovecot compares it.
    if not addresses or addresses[0].mailbox is None:
        return ""
    return _clip(_decoded(addresses[0].mailbox))


def _display(addresses: Addresses) -> str:
    """RFC 5957 §3: the first address's display name, decoded, else its addr-spec; a group's name."""
    if not addresses:
        return ""
    first: Address = addresses[0]
    name = _decoded(first.name).strip() if first.name else ""
    if name:
        return _clip(name)
    if first.mailbox is None:
        return ""
    if first.host is None:  # the start of a group: its name
        return _clip(_decoded(first.mailbox))
    return _clip(f"{first.mailbox}@{first.host}")


def _references(parsed: ParsedMessage) -> tuple[str, ...]:
    # RFC 5256 §3 REFERENCES: the valid Message IDs of References; without any, the first valid one
    # of In-Reply-To as the only reference.
    refs = tuple(r for r in map(normalize_msgid, parsed.references) if r is not None)
    if refs:
        return refs[-MAX_REFERENCES:]
    reply_to = normalize_msgid(parsed.in_reply_to) if parsed.in_reply_to else None
    return (reply_to,) if reply_to is not None else ()


def sort_keys(parsed: ParsedMessage) -> SortKeys:
    """The keys of one parsed message."""
    envelope = parsed.envelope
    base, reply = subject_base(parsed.subject or "")
    return SortKeys(
        subject=_clip(base),
        reply=reply,
        from_=_mailbox(envelope.from_),
        to=_mailbox(envelope.to),
        cc=_mailbox(envelope.cc),
        display_from=_display(envelope.from_),
        display_to=_display(envelope.to),
        sent=parsed.date,
        message_id=normalize_msgid(parsed.message_id) if parsed.message_id else None,
        references=_references(parsed),
    )
