"""The records of an account's Sieve scripts, as the store keeps them (RFC 5228 scripts, managed as
RFC 5804 describes). The rules about names and what a script may contain are
``pochta.mail.sieve_scripts``'s; the store keeps what it is given and enforces the quota in the write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["ManagedScript", "RuleEdit", "SieveQuota", "SieveScript", "SieveScriptInfo", "StoredRule"]


@dataclass(frozen=True)
class SieveScriptInfo:
    """One script: ``size`` is its source's length in octets (UTF-8), the unit of ManageSieve's
    quotas (RFC 5804 §2.3); ``updated`` is when it was last stored, epoch seconds; ``id`` its row,
    which a rename or a new source keeps (JMAP's SieveScript id, RFC 9661)."""

    name: str
    size: int
    active: bool
    updated: int
    id: int = 0


@dataclass(frozen=True)
class SieveScript:
    info: SieveScriptInfo
    source: str


@dataclass(frozen=True)
class SieveQuota:
    """The bounds ``put_sieve_script`` keeps, counted over all of one account's scripts with the new
    one in place of any it replaces (RFC 5804 §1.3 QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE)."""

    max_scripts: int
    max_storage: int  # octets


@dataclass(frozen=True)
class StoredRule:
    """One Gmail-style rule of an account (revision 0024): ``kind`` is "filter", "vacation" or
    "forward", ``data`` its JSON; what they mean is ``pochta.mail.mail_rules``'s."""

    id: int
    kind: str
    position: int
    data: str


@dataclass(frozen=True)
class RuleEdit:
    """One change to an account's rules, made in one transaction: the rules ``remove_ids`` (all of
    them must exist) and those of kind ``remove_kind`` go, then ``add`` (kind, JSON) is appended."""

    remove_ids: tuple[int, ...] = ()
    remove_kind: str | None = None
    add: tuple[str, str] | None = None


@dataclass(frozen=True)
class ManagedScript:
    """How ``edit_mail_rules`` keeps the generated script in step with the rules: its name, its
    source from the rules after the edit, and the quota it is stored under."""

    name: str
    render: Callable[[Sequence[StoredRule]], str]
    quota: SieveQuota
