"""Mailbox names: validation, canonical form, hierarchy helpers and modified UTF-7.

Names are Unicode (stored as UTF-8) with ``HIERARCHY_SEPARATOR`` ("/") between levels. They are only
rows in the store, never file paths, but the rules below are what a client author expects of a
server (Dovecot and Cyrus refuse the same names):

- RFC 9051 §5.1: INBOX is case-insensitive; any spelling is canonicalised to "INBOX", also as the
  first level ("inbox/foo" -> "INBOX/foo"). Other names are case-sensitive.
- RFC 9051 §5.1: names are Net-Unicode (RFC 5198 §2): denormalised input is accepted and converted
  to NFC, in every command (so SELECT finds what CREATE made); control characters (C0, DEL, C1),
  line/paragraph separators and lone surrogates are refused.
- RFC 9051 §5.1.1 / RFC 5530 §3 CANNOT: no empty name, no empty level ("a//b", leading or trailing
  "/"), no "." or ".." level.
- RFC 9051 §5.1 item 3: the LIST wildcards "%" and "*" are refused in names being created.
- Implementation limits (RFC 5530 LIMIT): UTF-8 length and number of levels, checked when a name is
  created (a lookup of a longer name simply finds nothing, and a lowered limit never locks a user
  out of an existing mailbox).

Modified UTF-7 (RFC 3501 §5.1.3, RFC 9051 Appendix A.1) is what IMAP4rev1 clients without
UTF8=ACCEPT send and expect; the IMAP layer converts with ``modified_utf7_decode``/``_encode``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from pochta.config import LimitSettings
from pochta.mail.errors import Code, InvalidMailboxName
from pochta.plural import plural
from pochta.proto.imap import mutf7
from pochta.store.model import HIERARCHY_SEPARATOR

INBOX = "INBOX"
SEPARATOR = HIERARCHY_SEPARATOR

# Defaults come from the settings model, where every limit is defined once (config.LimitSettings).
MAX_MAILBOX_NAME_BYTES: int = LimitSettings.model_fields["max_mailbox_name_bytes"].default  # UTF-8 octets
MAX_MAILBOX_DEPTH: int = LimitSettings.model_fields["max_mailbox_depth"].default  # "a/b/c" has 3 levels

_WILDCARDS = frozenset("%*")  # RFC 9051 §9 list-wildcards
# RFC 5198 §2: no control characters; line and paragraph separators SHOULD NOT be used.
# "Cs": a str decoded with surrogateescape is not valid Unicode and cannot be stored as UTF-8.
_REFUSED_CATEGORIES = {
    "Cc": "control characters",
    "Cs": "invalid Unicode (surrogates)",
    "Zl": "line separators",
    "Zp": "paragraph separators",
}


@dataclass(frozen=True)
class NameLimits:
    max_bytes: int = MAX_MAILBOX_NAME_BYTES
    max_depth: int = MAX_MAILBOX_DEPTH


DEFAULT_LIMITS = NameLimits()


def _invalid(message: str, code: Code = Code.CANNOT) -> InvalidMailboxName:
    return InvalidMailboxName(code, message)


def canonical_name(name: str, *, creating: bool = False, limits: NameLimits = DEFAULT_LIMITS) -> str:
    """Check ``name`` and return its canonical form (NFC, "INBOX" spelled so).

    With ``creating`` the rules for a new name apply too (no wildcards, length and depth limits).
    Raises InvalidMailboxName (code CANNOT, or LIMIT for the limits). Error messages never echo the
    name: it may hold characters a protocol reply cannot carry.
    """
    if not name:
        raise _invalid("Mailbox name is empty")
    # Cheap guard before normalising: a name of more characters than the octet limit is too long.
    if creating and len(name) > limits.max_bytes:
        raise _invalid(f"Mailbox name is longer than {limits.max_bytes} octets", Code.LIMIT)
    for char in name:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES:
            raise _invalid(f"Mailbox names may not contain {_REFUSED_CATEGORIES[category]}")
    # RFC 9051 §5.1: accept denormalised UTF-8 and convert it to NFC.
    name = unicodedata.normalize("NFC", name)
    levels = name.split(SEPARATOR)
    if levels[0] == "":
        raise _invalid(f"Mailbox names may not begin with {SEPARATOR!r}")
    if levels[-1] == "":
        raise _invalid(f"Mailbox names may not end with {SEPARATOR!r}")
    for level in levels:
        if level == "":
            raise _invalid(f"Adjacent {SEPARATOR!r} separators are not supported")
        if level in (".", ".."):
            raise _invalid("Mailbox name levels may not be '.' or '..'")
    # RFC 9051 §5.1: INBOX is case-insensitive. ASCII only: "ınbox".upper() is "INBOX" in Python.
    if levels[0].isascii() and levels[0].upper() == INBOX:
        levels[0] = INBOX
        name = SEPARATOR.join(levels)
    if creating:
        if any(char in _WILDCARDS for char in name):
            raise _invalid("Mailbox names may not contain the wildcards '*' or '%'")
        if len(name.encode("utf-8")) > limits.max_bytes:
            raise _invalid(f"Mailbox name is longer than {limits.max_bytes} octets", Code.LIMIT)
        if len(levels) > limits.max_depth:
            raise _invalid(f"Mailbox names may have at most {plural(limits.max_depth, 'level')}", Code.LIMIT)
    return name


def is_inbox(name: str) -> bool:
    """True for the canonical name "INBOX" (not for its children)."""
    return name == INBOX


def parent_names(name: str) -> list[str]:
    """Superior names of a canonical name, outermost first: "a/b/c" -> ["a", "a/b"]."""
    levels = name.split(SEPARATOR)
    return [SEPARATOR.join(levels[:i]) for i in range(1, len(levels))]


def is_inferior(name: str, ancestor: str) -> bool:
    """True when ``name`` is below ``ancestor`` in the hierarchy (not equal to it)."""
    return name.startswith(ancestor + SEPARATOR)


def depth(name: str) -> int:
    return name.count(SEPARATOR) + 1


# --- Modified UTF-7 (RFC 3501 §5.1.3): the codec lives in proto/imap/mutf7.py ---------------------


def modified_utf7_encode(name: str) -> str:
    """Encode a Unicode mailbox name in modified UTF-7; refuses lone surrogates (CANNOT)."""
    try:
        return mutf7.modified_utf7_encode(name)
    except mutf7.MalformedName as exc:
        raise _invalid(str(exc)) from None


def modified_utf7_decode(encoded: str | bytes) -> str:
    """Decode a modified UTF-7 name; malformed or non-canonical input raises InvalidMailboxName."""
    try:
        return mutf7.modified_utf7_decode(encoded)
    except mutf7.MalformedName as exc:
        raise _invalid(str(exc)) from None
