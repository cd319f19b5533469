"""Sieve on IMAP events (RFC 6785, the "imapsieve" extension): the pure part.

What a run on an IMAP event sees (its environment items, §4) and what its actions mean for the
message the event is about (§3), worked out without I/O; ``pochta.server.imap.imapsieve`` finds
the scripts, runs them and carries the ``Decision`` out through the store.

- The environment (§4.1-§4.5): ``location`` "MS", ``phase`` "post", ``imap.user``, ``imap.email``,
  ``imap.cause`` (APPEND, COPY, FLAG), ``imap.mailbox`` (fixed for the run) and
  ``imap.changedflags``; at delivery ``imap.user`` and ``imap.email`` are there and empty (§4.2).
- Inapplicable (§3.11): a script that requires reject, ereject or vacation fails on an IMAP event
  (the interpreter refuses it when ``DeliveryContext.imap_event`` is set), and so does the envelope
  test (§4.6).
- imap4flags (§3.8, RFC 5232): the internal flag variable starts as the message's flags, so
  ``hasflag`` sees them (after the change, for FLAG, §2.2.3); the flags a keep ends with are the
  message's new flags, set as a client's STORE would.
- keep / implicit keep (§3.1, §3.2): the message stays as it is (edits by editheader are transient
  and never kept). fileinto (§3.3): a new copy in that mailbox. redirect (§3.4): sent on, from the
  mailbox owner's address. discard (§3.5), and fileinto or redirect without keep: the message is
  marked \\Deleted (§2.2.4), never expunged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pochta.sieve.actions import (
    Action,
    FileIntoAction,
    KeepAction,
    NotifyAction,
    RedirectAction,
    RejectAction,
    VacationAction,
)

__all__ = [
    "CAUSES",
    "DELETED",
    "DELIVERY_ITEMS",
    "INAPPLICABLE",
    "SCRIPT_ENTRY",
    "Decision",
    "changed_flags",
    "decide",
    "event_items",
    "inapplicable",
]

SCRIPT_ENTRY = "/shared/imapsieve/script"  # RFC 6785 §2.3.1, §7.4, §7.5: mailbox and server entry
CAUSES = ("APPEND", "COPY", "FLAG")  # RFC 6785 §4.3
# RFC 6785 §3.11: "their appearance in the require control or their use in an IMAP event MUST
# result in an error condition that will terminate the Sieve script".
INAPPLICABLE = frozenset({"reject", "ereject", "vacation", "vacation-seconds"})
DELETED = "\\Deleted"
# RFC 6785 §4.2: imap.user and imap.email "MUST be the empty string" at final delivery.
DELIVERY_ITEMS: Mapping[str, str] = {"imap.user": "", "imap.email": ""}


def event_items(
    *, cause: str, mailbox: str, user: str, email: str, changed: Iterable[str] = ()
) -> dict[str, str]:
    """The environment items an IMAP event adds to the server's (``domain``, ``host`` ...)."""
    if cause not in CAUSES:
        raise ValueError(f"unknown IMAP event cause {cause!r}")
    return {
        "location": "MS",  # RFC 6785 §4.1: evaluated by a Message Store
        "phase": "post",  # §4.1: after (or instead of) final delivery
        "imap.user": user,  # §4.2: the login ID of the user that caused the event
        "imap.email": email,  # §4.2: that user's primary address
        "imap.cause": cause,  # §4.3
        "imap.mailbox": mailbox,  # §4.4: where the message is (or is stored into)
        # §4.5: the flags that changed, empty unless the cause is FLAG.
        "imap.changedflags": " ".join(changed) if cause == "FLAG" else "",
    }


def inapplicable(extensions: Iterable[str]) -> str | None:
    """The first extension a script requires that cannot run on an IMAP event, None when none."""
    found = sorted(set(extensions) & INAPPLICABLE)
    return found[0] if found else None


def changed_flags(before: Iterable[str], after: Iterable[str]) -> tuple[str, ...]:
    """The flags set or cleared between two flag sets (case-insensitive, as IMAP compares them),
    in a stable order: RFC 6785 §4.5 does not say which way each changed."""
    old = {flag.lower(): flag for flag in before}
    new = {flag.lower(): flag for flag in after}
    changed = {key: new.get(key) or old[key] for key in old.keys() ^ new.keys()}
    return tuple(changed[key] for key in sorted(changed))


@dataclass(frozen=True)
class Decision:
    """What the actions of one run ask of the message the event is about."""

    keep: bool  # it stays as it is (else: \\Deleted is added, RFC 6785 §2.2.4)
    flags: tuple[str, ...] | None  # its flags after the run when they differ, else None
    fileinto: tuple[FileIntoAction, ...] = ()
    redirect: tuple[RedirectAction, ...] = ()
    notify: tuple[NotifyAction, ...] = ()

    @property
    def changes(self) -> bool:
        return not self.keep or self.flags is not None or bool(self.fileinto or self.redirect or self.notify)


def decide(actions: Iterable[Action], current: Iterable[str]) -> Decision:
    """The ``Decision`` for a run's actions on a message holding the flags ``current``. Reject and
    vacation cannot be among them on an IMAP event (the run fails first); they are refused here
    too rather than ignored."""
    held = tuple(current)
    keeps: list[KeepAction] = []
    fileinto: list[FileIntoAction] = []
    redirect: list[RedirectAction] = []
    notify: list[NotifyAction] = []
    for action in actions:
        if isinstance(action, KeepAction):
            keeps.append(action)
        elif isinstance(action, FileIntoAction):
            fileinto.append(action)
        elif isinstance(action, RedirectAction):
            redirect.append(action)
        elif isinstance(action, NotifyAction):
            notify.append(action)
        elif isinstance(action, RejectAction | VacationAction):
            raise ValueError(f"{type(action).__name__} on an IMAP event (RFC 6785 §3.11)")
    flags: tuple[str, ...] | None = None
    if keeps:
        # RFC 6785 §3.8: the flags the keep carries (the internal variable started as the
        # message's) are its flags now; RFC 6785 §3.1: an edited message is not kept.
        wanted = keeps[-1].flags
        if changed_flags(held, wanted):
            flags = wanted
    return Decision(bool(keeps), flags, tuple(fileinto), tuple(redirect), tuple(notify))
