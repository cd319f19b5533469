"""Property names of the Email and EmailBodyPart objects (RFC 8621 sections 4.1, 4.2): the
``header:{name}[:as{form}][:all]`` grammar, which parsed form each header field allows, the
convenience properties and the defaults of Email/get and Email/parse.

One table (``_FORMS_OF``) says which forms a field defined by RFC 5322 or RFC 2369 allows; the
reader (``email_get``) and the writer (``compose``) both ask :func:`parse_header_property`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pochta.proto.jmap.mail.errors import InvalidArguments


class Form(StrEnum):
    """RFC 8621 section 4.1.2: the parsed forms of a header field."""

    RAW = "Raw"
    TEXT = "Text"
    ADDRESSES = "Addresses"
    GROUPED_ADDRESSES = "GroupedAddresses"
    MESSAGE_IDS = "MessageIds"
    DATE = "Date"
    URLS = "URLs"


_ADDRESS_FIELDS = (
    "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
    "resent-reply-to", "resent-to", "resent-cc", "resent-bcc",
)  # fmt: skip
# RFC 8621 sections 4.1.2.2 to 4.1.2.7: the fields each form may be fetched or set for, besides
# "any header field not defined in RFC 5322 or RFC 2369" (which allows every form).
_ALLOWED: dict[Form, tuple[str, ...]] = {
    Form.TEXT: ("subject", "comments", "keywords", "list-id"),
    Form.ADDRESSES: _ADDRESS_FIELDS,
    Form.GROUPED_ADDRESSES: _ADDRESS_FIELDS,
    Form.MESSAGE_IDS: ("message-id", "in-reply-to", "references", "resent-message-id"),
    Form.DATE: ("date", "resent-date"),
    Form.URLS: ("list-help", "list-unsubscribe", "list-subscribe", "list-post", "list-owner", "list-archive"),
}
# The fields RFC 5322 §3.6 and RFC 2369 §3 define (Resent-Reply-To is RFC 822's, not RFC 5322's;
# List-Id is RFC 2919's).
_DEFINED = frozenset({
    "date", "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to",
    "references", "subject", "comments", "keywords", "resent-date", "resent-from",
    "resent-sender", "resent-to", "resent-cc", "resent-bcc", "resent-message-id", "return-path",
    "received", "list-help", "list-unsubscribe", "list-subscribe", "list-post", "list-owner",
    "list-archive",
})  # fmt: skip
_FORMS_OF: dict[str, frozenset[Form]] = {
    name: frozenset({Form.RAW} | {form for form, names in _ALLOWED.items() if name in names})
    for name in _DEFINED
}

# RFC 8621 section 4.1.3: header-field-name is one or more printable ASCII characters but ":".
_HEADER_PROPERTY = re.compile(r"header:([!-9;-~]+)(?::as([A-Za-z]+))?(:all)?\Z")


@dataclass(frozen=True, slots=True)
class HeaderProperty:
    """One ``header:`` property: the field name (lower-case for matching; ``written`` as the
    client wrote it), the form, and whether every instance is wanted (``:all``)."""

    name: str
    written: str
    form: Form
    all: bool


def form_allowed(name: str, form: Form) -> bool:
    """Whether ``form`` may be used for the field ``name`` (lower-case)."""
    allowed = _FORMS_OF.get(name)
    return allowed is None or form in allowed


def parse_header_property(prop: str) -> HeaderProperty | None:
    """The parsed ``header:`` property, or None when ``prop`` does not start with ``header:``.
    Raises InvalidArguments for a malformed one or a form its field forbids (RFC 8621 section
    4.2: "MUST result in the method call being rejected with an invalidArguments error")."""
    if not prop.startswith("header:"):
        return None
    found = _HEADER_PROPERTY.match(prop)
    if found is None:
        raise InvalidArguments(f"malformed header property {prop!r}")
    written, form_name, every = found.groups()
    try:
        form = Form(form_name) if form_name is not None else Form.RAW
    except ValueError:
        raise InvalidArguments(f"unknown header form in {prop!r}") from None
    name = written.lower()
    if not form_allowed(name, form):
        raise InvalidArguments(f"the {form.value} form is not allowed for {written} in {prop!r}")
    return HeaderProperty(name, written, form, every is not None)


# RFC 8621 section 4.1.3: the convenience properties, each the same as one header property.
CONVENIENCE: dict[str, HeaderProperty] = {
    prop: HeaderProperty(field.lower(), field, form, False)
    for prop, field, form in (
        ("messageId", "Message-ID", Form.MESSAGE_IDS),
        ("inReplyTo", "In-Reply-To", Form.MESSAGE_IDS),
        ("references", "References", Form.MESSAGE_IDS),
        ("sender", "Sender", Form.ADDRESSES),
        ("from", "From", Form.ADDRESSES),
        ("to", "To", Form.ADDRESSES),
        ("cc", "Cc", Form.ADDRESSES),
        ("bcc", "Bcc", Form.ADDRESSES),
        ("replyTo", "Reply-To", Form.ADDRESSES),
        ("subject", "Subject", Form.TEXT),
        ("sentAt", "Date", Form.DATE),
    )
}

# RFC 8621 section 4.1.1: metadata the server supplies (not derived from the message).
METADATA = ("id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt")
BODY = ("bodyStructure", "bodyValues", "textBody", "htmlBody", "attachments", "hasAttachment", "preview")
EMAIL_PROPERTIES = frozenset((*METADATA, *CONVENIENCE, "headers", *BODY))

# RFC 8621 section 4.1.4: the EmailBodyPart properties.
BODY_PART_PROPERTIES = frozenset({
    "partId", "blobId", "size", "headers", "name", "type", "charset", "disposition", "cid",
    "language", "location", "subParts",
})  # fmt: skip

# RFC 8621 section 4.2: the defaults of Email/get.
GET_DEFAULT = (
    "id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "messageId",
    "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo", "subject", "sentAt",
    "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody", "attachments",
)  # fmt: skip
BODY_DEFAULT = (
    "partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language", "location",
)  # fmt: skip
# RFC 8621 section 4.9: the default of Email/parse (no metadata).
PARSE_DEFAULT = (
    "messageId", "inReplyTo", "references", "sender", "from", "to", "cc", "bcc", "replyTo",
    "subject", "sentAt", "hasAttachment", "preview", "bodyValues", "textBody", "htmlBody",
    "attachments",
)  # fmt: skip
