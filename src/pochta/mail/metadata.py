"""METADATA (RFC 5464): which entries exist, who may read and set them, and what GETMETADATA returns.

- Mailbox entries: any name under /private/ (per user) or /shared/ (one value for all who reach the
  mailbox), kept by the store, plus ``/private/specialuse`` (RFC 6154 §4), computed from the
  mailbox's special use and read-only (setting it is ``NO [CANNOT]``, as Dovecot answers: pochta
  changes a special use only at CREATE, and RFC 6154 §4 only allows, never requires, setting it).
- Server entries (mailbox ``""``): ``/shared/admin`` (RFC 5464 §3.2.1.1, a URI from
  ``imap.metadata_admin`` or ``mailto:`` ``smtp.postmaster``; always read-only), ``/shared/comment``
  and any other /shared/ name, set by administrators only (``Account.admin``; §3.3 lets a server
  restrict the creation of server annotations: ``NO [NOPERM]``), and /private/ names, which any user
  sets for themself (they are per user and seen by nobody else, like private mailbox entries).
- Access to a mailbox's entries: ``can_access_metadata``, the one check (RFC 5464 §3.3).
- Limits (``limits``): checked by the store inside the write (``sql/metadata``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pochta.config import Settings
from pochta.proto.imap.metadata import DEPTH_INFINITY
from pochta.store.model import MailboxInfo, MetadataLimits

__all__ = [
    "ADMIN",
    "DEPTH_INFINITY",
    "SPECIALUSE",
    "can_access_metadata",
    "computed_entries",
    "limits",
    "select_entries",
]

SPECIALUSE = "/private/specialuse"  # RFC 6154 §4
ADMIN = "/shared/admin"  # RFC 5464 §3.2.1.1


def can_access_metadata(rights: frozenset[str]) -> bool:
    """Whether a user holding ``rights`` on a mailbox (RFC 4314; every right on their own) may read
    and set its entries, private and shared.

    RFC 5464 §3.3: with ACL, the "l" right and any one of "r", "s", "w", "i" or "p", for reading and
    setting alike.
    """
    return "l" in rights and not rights.isdisjoint("rswip")


def admin_uri(settings: Settings) -> str | None:
    """The value of the server's /shared/admin entry, or None when there is none."""
    if settings.imap.metadata_admin:
        return settings.imap.metadata_admin
    return f"mailto:{settings.smtp.postmaster}" if settings.smtp.postmaster else None


def computed_entries(settings: Settings, mailbox: MailboxInfo | None) -> dict[str, bytes]:
    """The read-only entries the server computes: /shared/admin of the server (``mailbox`` None),
    /private/specialuse of a mailbox with a special use (RFC 6154 §4: as LIST shows it)."""
    if mailbox is None:
        admin = admin_uri(settings)
        return {} if admin is None else {ADMIN: admin.encode("utf-8")}
    return {} if mailbox.special_use is None else {SPECIALUSE: mailbox.special_use.encode("ascii")}


def read_only(name: str, server: bool) -> bool:
    return name == (ADMIN if server else SPECIALUSE)


def limits(settings: Settings) -> MetadataLimits:
    imap = settings.imap
    return MetadataLimits(
        imap.metadata_max_entry_size,
        imap.metadata_max_entries_per_mailbox,
        imap.metadata_max_entries_per_account,
        imap.metadata_max_account_bytes,
    )


def _below(name: str, entry: str, depth: int) -> bool:
    if not name.startswith(entry + "/"):
        return False
    # RFC 5464 §4.2.2: depth 1 takes the children only, "infinity" every entry below.
    return depth == DEPTH_INFINITY or "/" not in name[len(entry) + 1 :]


def select_entries(
    values: Mapping[str, bytes], requested: Iterable[str], depth: int, maxsize: int | None
) -> tuple[list[tuple[str, bytes | None]], int | None]:
    """What GETMETADATA returns of ``values`` (all entries the user sees, by name): the entries in
    the order asked, each followed by those below it up to ``depth`` (by name), without repeats;
    an entry asked for at depth 0 that has no value is given as NIL, as Dovecot does. With
    ``maxsize``, larger values are left out and the largest of their sizes returned (RFC 5464
    §4.2.1: for the LONGENTRIES response code), else None."""
    out: dict[str, bytes | None] = {}
    longest: int | None = None
    ordered: Sequence[str] = sorted(values)
    for entry in requested:
        names = [entry] if entry in values else []
        if depth != 0:
            names += [name for name in ordered if _below(name, entry, depth)]
        elif not names:
            out.setdefault(entry, None)
        for name in names:
            value = values[name]
            if maxsize is not None and len(value) > maxsize:
                longest = max(longest or 0, len(value))
                continue
            out.setdefault(name, value)
    return list(out.items()), longest
