"""MIME parsing at delivery: run once per message, cached as JSON, served by IMAP and POP3.

``parse_message(data, settings)`` never raises, whatever the bytes (RFC 7103 tolerance); it
records byte offsets for every part so that BODY[section] is a slice of the stored blob, the
ENVELOPE and BODYSTRUCTURE data, decoded header values for SEARCH/SORT, and the text for
full-text search and the preview. See :mod:`pochta.mime.imapform` for the IMAP wire forms.
"""

from __future__ import annotations

from pochta.config import MimeSettings
from pochta.mime.address import (
    AddressItem,
    Group,
    InvalidAddress,
    Mailbox,
    SmtpPath,
    SmtpPathError,
    mailboxes,
    parse_address_list,
    parse_mailbox,
    parse_smtp_path,
)
from pochta.mime.encoded_words import decode_encoded_words
from pochta.mime.envelope import EMPTY_ENVELOPE, MAX_ADDRESS_FIELD, Address, Envelope
from pochta.mime.fields import base_subject, message_id, message_ids, parse_date
from pochta.mime.header import field_text
from pochta.mime.model import ParsedMessage, Part, envelope_from_json, root_offsets_from_json
from pochta.mime.source import Source
from pochta.mime.structure import build_tree, count_lines
from pochta.mime.text import extract_text, scrub

__all__ = [
    "Address",
    "AddressItem",
    "Envelope",
    "Group",
    "InvalidAddress",
    "Mailbox",
    "ParsedMessage",
    "Part",
    "SmtpPath",
    "SmtpPathError",
    "decode_encoded_words",
    "envelope_from_json",
    "parse_address_list",
    "parse_mailbox",
    "parse_message",
    "parse_smtp_path",
    "root_offsets_from_json",
]

_ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc"})

# Decoded header values are kept for SEARCH HEADER up to this many characters each.
MAX_HEADER_VALUE = 64 * 1024


def parse_message(data: Source, settings: MimeSettings) -> ParsedMessage:
    """Parse a whole message (bytes, or a memory map of its file, see ``source``). Never raises;
    limits and malformations are listed in ``defects``."""
    try:
        return _parse(data, settings)
    except Exception:  # a bug must not lose mail: keep the message as one opaque text body
        return _fallback(data)


def _parse(data: Source, settings: MimeSettings) -> ParsedMessage:
    tree = build_tree(data, settings)
    defects = tree.defects
    found = tree.firsts
    if any(len(found.get(name, b"")) > MAX_ADDRESS_FIELD for name in _ADDRESS_FIELDS):
        defects.add("address_field_truncated")
    headers: list[tuple[str, str]] = []
    for name, raw in tree.fields:
        value = field_text(raw)
        if "=?" in value:  # only decoded words can hold lone surrogates (UTF-8 and latin-1 cannot)
            value = scrub(decode_encoded_words(value))
        if len(value) > MAX_HEADER_VALUE:
            value = value[:MAX_HEADER_VALUE]
            defects.add("header_value_truncated")
        headers.append((name, value))

    def addresses(name: str) -> tuple[Mailbox, ...]:
        return mailboxes(tree.addresses.get(name, ()))

    # The root's ENVELOPE holds the first Subject, Date, Message-ID and In-Reply-To as field_text.
    envelope = tree.root.envelope or EMPTY_ENVELOPE
    raw_subject = envelope.subject
    subject = scrub(decode_encoded_words(raw_subject)) if raw_subject is not None else None
    date_text = envelope.date
    mid_text = envelope.message_id
    irt = message_ids(envelope.in_reply_to or "")
    references = found.get("references")
    body_text, preview, truncated = extract_text(
        data, tree.root, settings.max_text_bytes, settings.preview_chars
    )
    if truncated:
        defects.add("text_truncated")
    return ParsedMessage(
        size=len(data),
        lines=count_lines(data, 0, len(data)),
        body_text=body_text,
        preview=preview,
        root=tree.root,
        headers=tuple(headers),
        subject=subject,
        base_subject=base_subject(subject or ""),
        date=parse_date(date_text) if date_text else None,
        message_id=message_id(mid_text) if mid_text else None,
        in_reply_to=irt[0] if irt else None,
        references=message_ids(field_text(references)) if references is not None else (),
        from_=addresses("from"),
        to=addresses("to"),
        cc=addresses("cc"),
        defects=tuple(sorted(defects)),
    )


def _fallback(data: Source) -> ParsedMessage:
    root = Part(0, 0, len(data), params=(("charset", "us-ascii"),), envelope=EMPTY_ENVELOPE, opaque=True)
    return ParsedMessage(
        size=len(data),
        lines=count_lines(data, 0, len(data)),
        body_text="",
        preview="",
        root=root,
        defects=("internal_error",),
    )
