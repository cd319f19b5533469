"""Access rights (RFC 4314): the pure rights model and THE rule of who may do what to a mailbox.

No I/O here: ``mail.access`` reads the ACL of a mailbox and asks ``rights_for``; every protocol path
(IMAP commands, the LIST of other users' mailboxes, the CLI) goes through these functions.

- Rights are the letters of RFC 4314 §2.1 ``lrswipkxtea``; a set of them is a ``frozenset`` of
  letters, written in that order by ``format_rights``. The obsolete ``c`` and ``d`` (§2.1.1) are read
  as the union the first group of RFC 2086 servers gave them: ``c`` = ``k`` + ``x``, ``d`` = ``e`` +
  ``t``; they are written back after any of their members (``format_rights(..., legacy=True)``, for
  ACL, MYRIGHTS and LISTRIGHTS responses). Digits and any other letter are refused (§3.1: an unknown
  right is a BAD, never silently ignored).
- Identifiers: ``anyone`` and account addresses (compared lower-cased, as logins are). A leading
  ``-`` names a negative entry (§2): its rights are taken away from that identifier's, after the
  union of the positive entries that apply (the user's own and ``anyone``).
- The owner of a mailbox holds every right, implicitly and always: no entry can take them away, and
  no entry is stored for the owner (SETACL of the owner is refused, §2 allows tying rights).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pochta.mail import flags as flagrules

__all__ = [
    "ALL",
    "ANYONE",
    "NONE",
    "RIGHTS",
    "RightsError",
    "apply_change",
    "flag_allowed",
    "format_rights",
    "identifier_key",
    "listrights",
    "may_write",
    "parse_change",
    "parse_rights",
    "rights_for",
    "storable_flags",
]

RIGHTS = "lrswipkxtea"  # RFC 4314 §2.1, in the order they are written
ALL: frozenset[str] = frozenset(RIGHTS)
NONE: frozenset[str] = frozenset()
ANYONE = "anyone"  # RFC 4314 §2: "the universal identity (all authentications, including anonymous)"
# RFC 4314 §2.1.1: the first group's reading of the obsolete rights.
_CREATE, _DELETE = frozenset("kx"), frozenset("et")
_OBSOLETE = {"c": _CREATE, "d": _DELETE}
# RFC 4314 §5.2: the rights that make a SELECT read-write ("i", "e" and the shared flag rights; every
# flag is shared here, so "s", "w" and "t" are flag rights).
_WRITE = frozenset("iestw")


class RightsError(ValueError):
    """A rights string or identifier that cannot be accepted (the IMAP layer answers BAD)."""


def parse_rights(text: str) -> frozenset[str]:
    """The rights of a rights string (RFC 4314 §2.1, §2.1.1: ``c`` and ``d`` expand)."""
    rights: set[str] = set()
    for letter in text:
        if letter in RIGHTS:
            rights.add(letter)
        elif letter in _OBSOLETE:
            rights |= _OBSOLETE[letter]
        else:
            # RFC 4314 §3.1: "an unrecognized right MUST cause the command to return the BAD response"
            raise RightsError(f"Unknown right {letter!r}: the rights are {RIGHTS} (and the obsolete c, d)")
    return frozenset(rights)


def parse_change(text: str) -> tuple[str, frozenset[str]]:
    """A SETACL mod-rights (RFC 4314 §3.1): ("+", rights), ("-", rights) or ("=", rights)."""
    if text[:1] in ("+", "-"):
        return text[0], parse_rights(text[1:])
    return "=", parse_rights(text)


def apply_change(current: frozenset[str], op: str, rights: frozenset[str]) -> frozenset[str]:
    """The rights after a SETACL change: "+" adds, "-" removes, "=" replaces (RFC 4314 §3.1)."""
    if op == "+":
        return current | rights
    if op == "-":
        return current - rights
    return rights


def format_rights(rights: Iterable[str], *, legacy: bool = False) -> str:
    """Rights in the order of ``RIGHTS``; with ``legacy``, ``c`` and ``d`` after any of their members
    (RFC 4314 §2.1.1: "the server MUST also include the "d" right when returning the list in a
    MYRIGHTS or ACL response")."""
    have = frozenset(rights)
    text = "".join(letter for letter in RIGHTS if letter in have)
    if legacy:
        text += "c" if have & _CREATE else ""
        text += "d" if have & _DELETE else ""
    return text


def identifier_key(identifier: str) -> str:
    """How an identifier is stored and compared: ``anyone`` and addresses lower-cased; a negative
    identifier keeps its dash. An empty identifier (or a bare dash) is refused."""
    key = identifier.strip().lower()
    bare = key[1:] if key.startswith("-") else key
    if not bare or any(ch.isspace() for ch in bare):
        raise RightsError("An identifier is 'anyone' or an account address")
    return key


def rights_for(identity: str, *, owner: bool, acl: Mapping[str, str]) -> frozenset[str]:
    """THE rule: the rights of the user ``identity`` (an address) on a mailbox with that ACL
    (identifier key -> rights string, as stored). The owner holds all; anyone else the union of the
    entries for them and for ``anyone``, less what the negative entries for either take away (RFC
    4314 §2 leaves the combination to the implementation)."""
    if owner:
        return ALL
    me = identity.lower()
    granted: set[str] = set()
    for who in (me, ANYONE):
        granted |= _stored(acl.get(who, ""))
    for who in (me, ANYONE):
        granted -= _stored(acl.get("-" + who, ""))
    return frozenset(granted)


def _stored(text: str) -> frozenset[str]:
    return frozenset(letter for letter in text if letter in RIGHTS)


def may_write(rights: frozenset[str]) -> bool:
    """Whether a SELECT with these rights is READ-WRITE (RFC 4314 §5.2)."""
    return bool(rights & _WRITE)


def flag_allowed(rights: frozenset[str], flag: str) -> bool:
    """Whether these rights may set or clear the flag (RFC 4314 §4: "t" for \\Deleted, "s" for
    \\Seen, "w" for every other flag)."""
    key = flagrules.flag_key(flag)
    if key == flagrules.flag_key(flagrules.SEEN):
        return "s" in rights
    if key == flagrules.flag_key(flagrules.DELETED):
        return "t" in rights
    return "w" in rights


def storable_flags(rights: frozenset[str], flags: Iterable[str]) -> frozenset[str]:
    """The flags of ``flags`` these rights may store (RFC 4314 §4: on COPY/APPEND the others are
    dropped, not refused)."""
    return frozenset(flag for flag in flags if flag_allowed(rights, flag))


def listrights(*, owner: bool) -> tuple[str, tuple[str, ...]]:
    """LISTRIGHTS (RFC 4314 §3.7): (required rights, optional groups) for an identifier: the owner's
    are all tied and always granted; anyone else may be granted each right on its own (with ``c``
    and ``d`` as the obsolete groups, §2.1.1)."""
    if owner:
        return format_rights(ALL, legacy=True), ()
    return "", (*RIGHTS, "c", "d")
