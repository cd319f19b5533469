"""Message flags: system flags, keyword syntax, case rules and the per-mailbox keyword limit.

- RFC 9051 §2.3.2: system flags begin with "\\" and are \\Seen \\Answered \\Flagged \\Deleted
  \\Draft. \\Recent (RFC 3501 §2.3.2) is a session flag: it is never stored, and a client cannot set
  or clear it (RFC 3501: "\\Recent can not be used as an argument in a STORE or APPEND command"), so
  it is dropped from STORE and APPEND flag lists rather than refused (clients that send it then
  still succeed, and nothing changes, which is what the RFC guarantees).
- RFC 9051 §9: a keyword is an atom (1*ATOM-CHAR: printable US-ASCII except atom-specials
  ``( ) { SP % * " \\ ]``). Any other "\\"-flag is a flag-extension that no standard defines yet; a
  server cannot store it, so it is refused.
- Flags compare case-insensitively: RFC 9051 §9 note 1 makes the system flag names so, and keywords
  are treated the same way so that "$Junk" and "$junk" are one keyword. System flags are always
  spelled canonically; a keyword keeps the case it was first stored with in the mailbox.
- RFC 5530 LIMIT: at most ``MAX_KEYWORDS_PER_MAILBOX`` distinct keywords in a mailbox; when the limit
  is reached PERMANENTFLAGS loses "\\*" (RFC 9051 §7.1 PERMANENTFLAGS).
- The stored form (``StoredFlags``, the last section): what a membership row holds, one space-separated
  text, keyed by ``flag_key`` in memory. The store applies flag operations in this form inside its
  write; it checks only the shape (no white space), since the rules above ran before.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Literal

from pochta.config import LimitSettings
from pochta.mail.errors import Code, InvalidFlag, OpsError
from pochta.plural import plural

SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
RECENT = "\\Recent"
SYSTEM_FLAGS: tuple[str, ...] = (ANSWERED, FLAGGED, DELETED, SEEN, DRAFT)  # RFC 9051 §9 order
ANY_KEYWORD = "\\*"  # RFC 9051 §7.1: in PERMANENTFLAGS, "new keywords may be created"

# Defaults of the limits in config.LimitSettings, where every limit is defined once.
MAX_KEYWORDS_PER_MAILBOX: int = LimitSettings.model_fields["max_keywords_per_mailbox"].default
MAX_KEYWORD_LENGTH: int = LimitSettings.model_fields["max_keyword_length"].default  # ASCII atoms

_SYSTEM_BY_KEY = {flag.lower(): flag for flag in SYSTEM_FLAGS}
# RFC 9051 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials /
# resp-specials. SP and CTL are excluded by the printable range check.
_ATOM_SPECIALS = frozenset('(){%*"\\]')


def flag_key(flag: str) -> str:
    """The case-insensitive comparison key of a flag (flags are ASCII, so lower() is exact)."""
    return flag.lower()


def is_atom(text: str) -> bool:
    return bool(text) and all("!" <= char <= "~" and char not in _ATOM_SPECIALS for char in text)


def is_system_flag(flag: str) -> bool:
    return flag.startswith("\\")


def canonical_flag(flag: str) -> str | None:
    """A system flag in its canonical spelling, a keyword unchanged, None for \\Recent.

    Raises InvalidFlag (CLIENTBUG) for syntax errors and unknown system flags, LIMIT for overlong
    keywords.
    """
    if flag.startswith("\\"):
        key = flag_key(flag)
        if key == flag_key(RECENT):
            return None  # RFC 3501 §2.3.2: cannot be changed by a client; session-only
        system = _SYSTEM_BY_KEY.get(key)
        if system is None:
            # RFC 9051 §9 flag-extension: "\" atom, reserved for future standards.
            raise InvalidFlag(Code.CLIENTBUG, "Unknown system flag")
        return system
    if not is_atom(flag):
        raise InvalidFlag(Code.CLIENTBUG, "Invalid keyword: keywords are atoms (RFC 9051 §9)")
    if len(flag) > MAX_KEYWORD_LENGTH:
        raise InvalidFlag(Code.LIMIT, f"Keywords may be at most {MAX_KEYWORD_LENGTH} characters long")
    return flag


def normalize_flags(flags: Iterable[str]) -> frozenset[str]:
    """Validate a client's flag list: canonical system flags, \\Recent dropped, duplicates merged.

    Keywords that differ only in case are merged, keeping the first spelling seen.
    """
    seen: dict[str, str] = {}
    for flag in flags:
        canonical = canonical_flag(flag)
        if canonical is not None:
            seen.setdefault(flag_key(canonical), canonical)
    return frozenset(seen.values())


def keywords(flags: Iterable[str]) -> list[str]:
    """The keywords (non-system flags) among ``flags``."""
    return [flag for flag in flags if not is_system_flag(flag)]


def has_flag(flags: Iterable[str], flag: str) -> bool:
    """Case-insensitive membership test."""
    key = flag_key(flag)
    return any(flag_key(item) == key for item in flags)


def mailbox_keywords(flag_sets: Iterable[Iterable[str]]) -> dict[str, str]:
    """Keywords in use in a mailbox, by comparison key, in the case first met."""
    found: dict[str, str] = {}
    for flags in flag_sets:
        for flag in flags:
            if not is_system_flag(flag):
                found.setdefault(flag_key(flag), flag)
    return found


def listed_keywords(listed: Iterable[str], flag_sets: Iterable[Iterable[str]]) -> dict[str, str]:
    """A mailbox's keywords, by comparison key: every one it ever stored (``listed``, its
    ``MailboxInfo.keywords``, see store.sqlite_keywords) and any its messages carry (``flag_sets``).
    RFC 9051 §7.3.5: FLAGS lists these, so that a session selecting the mailbox is told every
    keyword an older session was told of (as Dovecot, which keeps every keyword a mailbox had)."""
    return mailbox_keywords(chain((listed,), flag_sets))


def resolve_keywords(
    flags: frozenset[str],
    existing: dict[str, str],
    *,
    max_keywords: int = MAX_KEYWORDS_PER_MAILBOX,
    creating: bool = True,
) -> frozenset[str]:
    """Spell each keyword of ``flags`` as the mailbox already does; enforce the keyword limit.

    ``existing`` is ``listed_keywords(...)`` of the mailbox (every keyword it ever stored). With
    ``creating`` (STORE +FLAGS/FLAGS, APPEND), keywords new to the mailbox count against
    ``max_keywords`` (RFC 5530 LIMIT); removing flags never creates one.
    """
    result: set[str] = set()
    new = 0
    for flag in flags:
        if is_system_flag(flag):
            result.add(flag)
            continue
        stored = existing.get(flag_key(flag))
        if stored is None:
            new += 1
            result.add(flag)
        else:
            result.add(stored)
    if creating and new and len(existing) + new > max_keywords:
        raise OpsError(Code.LIMIT, f"At most {plural(max_keywords, 'keyword')} in one mailbox are supported")
    return frozenset(result)


def mailbox_flags(existing_keywords: Iterable[str]) -> tuple[str, ...]:
    """The FLAGS response list (RFC 9051 §7.3.5): system flags, then the keywords in use."""
    return SYSTEM_FLAGS + tuple(sorted(existing_keywords, key=flag_key))


def permanent_flags(
    existing_keywords: Iterable[str], *, max_keywords: int = MAX_KEYWORDS_PER_MAILBOX
) -> tuple[str, ...]:
    """The PERMANENTFLAGS list (RFC 9051 §7.1): all stored flags, plus "\\*" while a new keyword fits."""
    used = tuple(sorted(existing_keywords, key=flag_key))
    more = (ANY_KEYWORD,) if len(used) < max_keywords else ()
    return SYSTEM_FLAGS + used + more


# The stored form: flags by comparison key, each in its stored spelling.

StoredFlags = dict[str, str]
SEEN_KEY = flag_key(SEEN)  # membership.seen / .deleted are derived from these two
DELETED_KEY = flag_key(DELETED)


def stored_flags(flags: Iterable[str]) -> StoredFlags:
    """Flags for storage: keyed by ``flag_key``, system flags spelled canonically, first spelling kept.

    Raises ValueError for a value that cannot be one word of the stored text (empty, white space):
    the protocol layers validated flags already (``normalize_flags``), so this is a bug, not input.
    """
    result: StoredFlags = {}
    for flag in flags:
        if not flag or any(c.isspace() for c in flag):
            raise ValueError(f"not a flag: {flag!r}")
        key = flag_key(flag)
        result.setdefault(key, _SYSTEM_BY_KEY.get(key, flag))
    return result


def parse_stored(text: str) -> StoredFlags:
    """A membership row's flags text back into the stored form."""
    return {flag_key(flag): flag for flag in text.split()}


def stored_text(flags: StoredFlags) -> str:
    """The text a membership row holds: flags sorted by comparison key, space-separated."""
    return " ".join(sorted(flags.values(), key=flag_key))


def apply_stored(
    current: StoredFlags, op: Literal["add", "remove", "replace"], wanted: StoredFlags
) -> StoredFlags:
    """STORE's operations (RFC 9051 §6.4.6 +FLAGS, -FLAGS, FLAGS) on one message's stored flags."""
    if op == "add":
        return {**wanted, **current}  # a flag already present keeps the case it was first stored in
    if op == "remove":
        return {key: flag for key, flag in current.items() if key not in wanted}
    if op == "replace":
        return {key: current.get(key, flag) for key, flag in wanted.items()}
    raise ValueError(f"unknown flag operation {op!r}")
