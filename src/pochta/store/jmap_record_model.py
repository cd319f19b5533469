"""JMAP objects the store keeps as records (revision 0041): Identity and EmailSubmission (RFC 8621
sections 6 and 7), one JSON document each, with a per-account, per-type state counter for their
``*/changes``. ``pochta.server.jmap.identity`` and ``email_submission`` own what the documents hold."""

from __future__ import annotations

from dataclasses import dataclass, field

from pochta.store.model import AccountId

__all__ = ["JmapRecord", "JmapRecordWrite", "JmapRecords", "JmapWriteResult"]


@dataclass(frozen=True)
class JmapRecord:
    id: int  # the row's id: the JMAP id is a letter and this number
    account_id: AccountId
    data: str  # the object's JSON document (without its id)
    ref: str | None  # a key to find it by (an EmailSubmission: its outbound queue id)
    created: int  # the type's state at which it was created
    changed: int  # ... last changed (created, updated or destroyed)
    destroyed: bool  # kept as a tombstone, so that */changes can say "destroyed"


@dataclass(frozen=True)
class JmapRecords:
    state: int  # the account's state of this type (0: nothing written yet)
    records: tuple[JmapRecord, ...]  # live ones, and tombstones when asked for


@dataclass(frozen=True)
class JmapRecordWrite:
    """One write to an account's records of a type, in one transaction: the state moves once."""

    creates: tuple[tuple[str, str | None], ...] = ()  # (data, ref) each
    updates: tuple[tuple[int, str], ...] = ()  # (id, data): a live record's new document
    destroys: tuple[int, ...] = ()
    if_state: int | None = None  # written only when the state is this one


@dataclass(frozen=True)
class JmapWriteResult:
    old_state: int
    new_state: int
    created: tuple[int, ...] = ()  # ids of the creates, in order
    missing: frozenset[int] = field(default_factory=frozenset)  # updates/destroys of no live record
    state_mismatch: bool = False  # if_state was not the state: nothing written
