"""External accounts the fetcher collects mail from, as the store keeps them (``fetch_accounts``,
``fetched_messages``, revision 0031); what they mean and how a run goes is ``pochta.fetch``'s
(docs/fetch.md).

A row of ``fetched_messages`` says "this message of this external account is in our store": it is
written in the same write transaction as the delivery (``Store.deliver``'s ``fetched``), so a crash
between the two cannot leave a delivered message that a later run fetches again, nor a record of a
message that was never stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pochta.store.model import AccountId

__all__ = [
    "FetchAccount",
    "FetchMark",
    "FetchProtocol",
    "FetchRunResult",
    "FetchTls",
    "NewFetchAccount",
]

FetchProtocol = Literal["pop3", "imap"]
FetchTls = Literal["implicit", "starttls", "none"]


@dataclass(frozen=True)
class NewFetchAccount:
    account_id: AccountId
    protocol: FetchProtocol
    host: str
    port: int
    tls: FetchTls
    login: str
    secret: str  # the password, encrypted with the server secret (pochta.fetch.secrets)
    keep: bool = True  # leave a copy on the remote; False: delete it once stored here
    folder: str | None = None  # None: INBOX (or what the account's Sieve script decides)
    options: str = "{}"  # JSON: what a protocol needs besides (IMAP folders, flag mirroring)


@dataclass(frozen=True)
class FetchAccount(NewFetchAccount):
    id: int = 0
    created: int = 0
    # The state of the runs (epoch seconds; None: never)
    last_run: int | None = None
    last_result: str = ""  # "ok", or the error kind: auth, certificate, unreachable, protocol, ...
    last_error: str = ""  # the error as the user reads it ("" after a success)
    last_fetched: int = 0  # messages stored by the last run
    last_left: int = 0  # messages the last run left on the remote (quota, size limit, refused)
    total_fetched: int = 0
    failures: int = 0  # runs failed in a row (the backoff grows with it)
    next_run: int = 0
    notified: str = ""  # the error kind the user was told about by a message ("" : none since a success)


@dataclass(frozen=True)
class FetchMark:
    """One fetched message: the external account and the message's key there (POP3: "uidl:" and the
    UIDL, or "top:" and a digest of its header when the server has no UIDL)."""

    fetch_id: int
    key: str


@dataclass(frozen=True)
class FetchRunResult:
    """What a run records in the account's state."""

    when: int
    result: str
    error: str
    fetched: int
    left: int
    next_run: int
    notified: str | None = None  # None: unchanged
