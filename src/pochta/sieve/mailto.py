"""mailto URIs as the enotify mailto method takes them (RFC 5436 §2.1; the URI form of RFC 6068
§2): recipients and URI headers, percent-decoded, checked."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from pochta.mime.address import Mailbox, parse_address_list

__all__ = ["MailtoError", "MailtoUri", "parse_mailto"]

# RFC 5436 §2.7: URI headers that must be ignored (set by the notification itself), and those
# that are the recipients.
_IGNORED = frozenset({"from", "auto-submitted", "received", "message-id", "date", "sender", "return-path"})
_RECIPIENTS = frozenset({"to", "cc"})
# RFC 3986 §2: what may stand in a URI unescaped (percent-escapes are checked separately).
_URI_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)


class MailtoError(ValueError):
    """Not a mailto URI this method accepts; ``str(error)`` says why."""


@dataclass(frozen=True)
class MailtoUri:
    """The recipients (the path, and "to" and "cc" URI headers) and the other URI headers;
    ``to`` and ``cc`` the addresses of the notification's To and Cc fields (RFC 5436 §2.7),
    each (address, as written with its display name)."""

    recipients: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), ignored ones left out
    body: str | None
    subject: str | None
    to: tuple[tuple[str, str], ...] = ()
    cc: tuple[tuple[str, str], ...] = ()


def _decode(text: str) -> str:
    if any(char not in _URI_CHARACTERS for char in text):
        raise MailtoError(f"{text!r} holds characters a URI must escape (RFC 3986 §2)")
    index = text.find("%")
    while index >= 0:
        if len(text) < index + 3 or any(
            char not in "0123456789abcdefABCDEF" for char in text[index + 1 : index + 3]
        ):
            raise MailtoError(f"{text!r} has a broken percent-escape (RFC 3986 §2.1)")
        index = text.find("%", index + 3)
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise MailtoError(f"{text!r} is not UTF-8 once decoded (RFC 6068 §2)") from None


_PHRASE_SPECIALS = frozenset('()<>[]:;@\\,"')  # RFC 5322 §3.2.3 specials but "." (obs-phrase)


def _addresses(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for item in parse_address_list(text):
        if not isinstance(item, Mailbox) or not item.domain:
            raise MailtoError(f"{text!r} is not a list of mail addresses")
        name = item.raw_name
        if name and any(char in _PHRASE_SPECIALS for char in name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        found.append((item.addr_spec, f"{name} <{item.addr_spec}>" if name else item.addr_spec))
    return found


def parse_mailto(uri: str) -> MailtoUri:
    """The parts of ``uri``; raises MailtoError when it is no valid mailto URI."""
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != "mailto":
        raise MailtoError(f"{uri!r} is not a mailto URI")
    path, _, query = rest.partition("?")
    to = _addresses(_decode(path)) if path else []
    cc: list[tuple[str, str]] = []
    headers: list[tuple[str, str]] = []
    body = subject = None
    for pair in query.split("&") if query else []:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise MailtoError(f"{pair!r} is not a URI header (RFC 6068 §2)")
        field, text = _decode(name).lower(), _decode(value)
        if field != "body" and not all(33 <= ord(char) <= 126 and char != ":" for char in field):
            # RFC 6068 section 2: hfname is a header field name (RFC 5322 §3.6.8: no ":" or controls).
            raise MailtoError(f"{field!r} is not a header field name (RFC 6068 section 2)")
        if field in _RECIPIENTS:
            (to if field == "to" else cc).extend(_addresses(text) if text else [])
        elif field == "body":
            body = text
        elif field == "subject":
            subject = text
        elif field not in _IGNORED:
            headers.append((field, text))
    if not to and not cc:
        raise MailtoError(f"{uri!r} names no recipient")
    # RFC 5436 §2.7: no second message to one address.
    unique = tuple(dict.fromkeys(address for address, _ in [*to, *cc]))
    return MailtoUri(unique, tuple(headers), body, subject, tuple(to), tuple(cc))
