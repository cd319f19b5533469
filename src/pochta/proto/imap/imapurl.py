"""IMAP URLs (RFC 5092), the part CATENATE needs (RFC 4469 §3): a message or message part of the
user's own mailboxes. Sans-IO: text in, ``MessageUrl`` out, ``UrlError`` on anything else.

Accepted forms (parameter names case-insensitive, RFC 5092 §6 ABNF):

- absolute: ``imap://[user[;AUTH=x]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]``
  (RFC 5092 §6 ``imapurl`` with ``imessagepart``); the caller checks that user and host are this
  session's (RFC 4469 §3 covers only "the current IMAP server from the current authenticated session");
- absolute path (RFC 5092 §7.1 ``iabsolute-path``): ``/mailbox[;UIDVALIDITY=n]/;UID=n...``;
- relative path (``irelative-path``): ``mailbox/;UID=n...`` (against RFC 4469 §3's base
  ``imap://user@server/`` a mailbox of the root), or ``;UID=n...`` alone: the selected mailbox
  (the base in the selected state is ``imap://user@server/mailbox``, RFC 4469 §3); ``mailbox`` is
  None in the result then.

Refused: ``;URLAUTH=`` and ``;EXPIRE=`` (RFC 5092 §6 ``iurlauth``: URLAUTH, RFC 4467, is not
implemented), message lists (``?search``), a URL without ``;UID=`` (a mailbox is no message part),
and anything else the grammar does not allow. Mailbox names and sections are percent-decoded
(RFC 5092 §3.2: mailbox names as UTF-8, RFC 3986 §2.1 percent-encoding); the section is then parsed
with FETCH's section grammar (RFC 5092 §6 ``enc-section``: a ``section-text`` of RFC 9051 §9).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from pochta.proto.imap.fetch import FetchAtt, Section, fetch_att
from pochta.proto.imap.wire import MAX_NUMBER64, Assembled, Cursor, ParseError

__all__ = ["MessageUrl", "UrlError", "parse_message_url"]


class UrlError(ValueError):
    """The URL is not one this server can resolve (answered NO [BADURL url], RFC 4469 §4.1)."""


@dataclass(frozen=True, slots=True)
class MessageUrl:
    """A message (``section`` None) or message part of one of the user's mailboxes."""

    uid: int
    mailbox: str | None = None  # None: the selected mailbox (a relative ";UID=" URL)
    uidvalidity: int | None = None
    section: FetchAtt | None = None  # BODY.PEEK[section] as FETCH would send it
    partial: tuple[int, int | None] | None = None  # RFC 5092 §6 partial-range: offset[.length]
    user: str | None = None  # of an absolute URL (percent-decoded)
    host: str | None = None

    def fetch_att(self) -> FetchAtt:
        """The FETCH item whose octets this URL names (RFC 4469 §3: "as if the literal returned in a
        FETCH BODY response were put in place"), its partial included."""
        partial = None
        if self.partial is not None:
            offset, length = self.partial
            partial = (offset, MAX_NUMBER64 if length is None else length)
        section = self.section.section if self.section is not None else Section()  # BODY[]: all of it
        return FetchAtt("BODY", section, partial, peek=True)


# RFC 3986 §3.2.2 host (reg-name, IPv4 or a bracketed IPv6 literal), §3.2.3 port.
_AUTHORITY = re.compile(r"^(?:(?P<userinfo>[^@/]*)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/@\[\]]+)(?::\d*)?$")
_NUMBER = re.compile(r"^[1-9][0-9]{0,9}$")
_OFFSET = re.compile(r"^(0|[1-9][0-9]{0,19})(?:\.([1-9][0-9]{0,19}))?$")
# RFC 5092 §6 bchar: unreserved / pct-encoded / sub-delims-sh / "&" "=" "~" ":" "@" "/" (no ";", "?", "#").
_BCHARS = re.compile(r"^(?:[A-Za-z0-9\-._~!$'()*+,&=:@/]|%[0-9A-Fa-f]{2})+$")
_SECTION_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~!$'()*+,&=:@/]|%[0-9A-Fa-f]{2})+$")


def _decode(text: str, what: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise UrlError(f"{what} is not UTF-8") from None


def parse_message_url(url: str | bytes) -> MessageUrl:
    """``url`` as given in ``URL astring`` (RFC 4469 §5); UrlError when it is no message URL of ours."""
    if isinstance(url, bytes):
        try:
            url = url.decode("ascii")
        except UnicodeDecodeError:
            raise UrlError("URL with non-ASCII octets (RFC 5092 §3.2: percent-encode them)") from None
    # No length limit of its own: the astring is bounded by the receiver's literal limits, and every
    # step here is linear in it.
    if not url:
        raise UrlError("URL empty")
    if any(c <= " " or c == "\x7f" for c in url):
        raise UrlError("URL with spaces or controls")
    if "?" in url or "#" in url:
        raise UrlError("Only message and message part URLs are supported")
    user = host = None
    if url[:7].lower() == "imap://":
        rest = url[7:]
        slash = rest.find("/")
        authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        m = _AUTHORITY.match(authority)
        if m is None:
            raise UrlError("Invalid server in URL")
        host = _decode(m["host"], "Host")
        userinfo = m["userinfo"]
        if userinfo is not None:
            # RFC 5092 §6 iuserinfo = enc-user [iauth] / [enc-user] iauth; iauth = ";AUTH=" (...)
            name, _, auth = userinfo.partition(";")
            if auth and not auth[:5].upper() == "AUTH=":
                raise UrlError("Invalid user information in URL")
            user = _decode(name, "User") if name else None
        if not path:
            raise UrlError("URL names no message")
    elif ":" in url.split("/", 1)[0] and not url.startswith(";"):
        raise UrlError("Only imap URLs are supported")  # another scheme (RFC 3986 §3.1)
    else:
        path = url
    return _message_part(path, user, host)


def _message_part(path: str, user: str | None, host: str | None) -> MessageUrl:
    """RFC 5092 §6 imessagepart / §7 imsg-or-part, from a path ("/INBOX/;UID=1" or ";UID=1")."""
    upper = path.upper()
    if ";URLAUTH=" in upper or ";EXPIRE=" in upper:
        raise UrlError("URLAUTH is not supported")  # RFC 5092 §6 iurlauth (RFC 4467)
    if path.startswith(";"):
        mailbox_ref, params = None, path
    else:
        at = upper.find("/;UID=")
        if at < 0:
            raise UrlError("URL names no message (no ;UID=)")
        mailbox_ref, params = path[:at], path[at + 1 :]
        if mailbox_ref.startswith("/"):
            mailbox_ref = mailbox_ref[1:]
    mailbox = uidvalidity = None
    if mailbox_ref is not None:
        name, sep, validity = mailbox_ref.partition(";")
        if sep:
            if validity[:12].upper() != "UIDVALIDITY=" or not _NUMBER.match(validity[12:]):
                raise UrlError("Invalid ;UIDVALIDITY= in URL")
            uidvalidity = int(validity[12:])
        if not name or not _BCHARS.match(name):
            raise UrlError("Invalid mailbox name in URL")
        mailbox = _decode(name, "Mailbox name")
    segments = params.split("/")
    keys = ["UID", "SECTION", "PARTIAL"]
    values: dict[str, str] = {}
    for segment in segments:
        key, eq, value = segment.partition("=")
        key = key[1:].upper() if key.startswith(";") else ""
        if not eq or key not in keys or not value:
            raise UrlError("Invalid message part in URL")
        keys = keys[keys.index(key) + 1 :]  # in this order, each once (RFC 5092 §6 imessagepart)
        values[key] = value
    if "UID" not in values:
        raise UrlError("URL names no message (no ;UID=)")
    if not _NUMBER.match(values["UID"]) or int(values["UID"]) > 0xFFFFFFFF:
        raise UrlError("Invalid ;UID= in URL")
    section = _section(values["SECTION"]) if "SECTION" in values else None
    partial = None
    if "PARTIAL" in values:
        m = _OFFSET.match(values["PARTIAL"])
        if m is None:
            raise UrlError("Invalid ;PARTIAL= in URL")
        partial = (int(m[1]), None if m[2] is None else int(m[2]))
    return MessageUrl(int(values["UID"]), mailbox, uidvalidity, section, partial, user, host)


def _section(text: str) -> FetchAtt:
    """RFC 5092 §6 enc-section: a percent-encoded section-text, read with FETCH's grammar."""
    if not _SECTION_CHARS.match(text):
        raise UrlError("Invalid ;SECTION= in URL")
    raw = unquote_to_bytes(text)
    try:
        cur = Cursor(Assembled([b"BODY.PEEK[" + raw + b"]"], []))
        att = fetch_att(cur)
        cur.end()
    except ParseError:
        raise UrlError("Invalid ;SECTION= in URL") from None
    return att
