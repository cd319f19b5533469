"""The records of an account's Sieve scripts, as the store keeps them (RFC 5228 scripts, managed as
RFC 5804 describes). The rules about names and what a script may contain are
``pochta.mail.sieve_scripts``'s; the store keeps what it is given and enforces the quota in the write."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SieveQuota", "SieveScript", "SieveScriptInfo"]


@dataclass(frozen=True)
class SieveScriptInfo:
    """One script: ``size`` is its source's length in octets (UTF-8), the unit of ManageSieve's
    quotas (RFC 5804 §2.3); ``updated`` is when it was last stored, epoch seconds."""

    name: str
    size: int
    active: bool
    updated: int


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
