"""An Email/set update (RFC 8621 section 4.6), pure: which keywords and Mailboxes an Email is to
have after a PatchObject, and the rules they keep. Only ``keywords`` and ``mailboxIds`` may change
(whole, or one entry by a ``keywords/$seen`` or ``mailboxIds/F12`` path); every other property of
an Email is immutable. The server layer turns the answer into the store's writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.patch import apply_patch

__all__ = ["EmailWish", "is_keyword", "update_wish"]

_MUTABLE = ("keywords", "mailboxIds")
# RFC 8621 section 4.1.1: a keyword is 1-255 characters of %x21-%x7e but these (IMAP atom-specials).
_FORBIDDEN_IN_KEYWORD = frozenset('(){]%*"\\')


@dataclass(frozen=True)
class EmailWish:
    """What an Email is to become: its keywords (lower-case) and its Mailbox ids (as given: the
    caller resolves ``#creationId``s and checks each is a Mailbox of the account)."""

    keywords: frozenset[str]
    mailbox_ids: frozenset[str]


def is_keyword(text: str) -> bool:
    return 0 < len(text) <= 255 and all(
        0x21 <= ord(c) <= 0x7E and c not in _FORBIDDEN_IN_KEYWORD for c in text
    )


def _invalid(description: str, property_: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, (property_,)))


def _true_map(value: Any, property_: str) -> dict[str, bool]:
    # RFC 8621 section 4.1.1: keywords and mailboxIds are String[Boolean] whose values are all true.
    if not isinstance(value, dict) or any(v is not True for v in value.values()):
        raise _invalid(f"{property_} must map names to true", property_)
    return value


def update_wish(
    keywords: Mapping[str, bool], mailbox_ids: Mapping[str, bool], patch: Mapping[str, Any]
) -> EmailWish:
    """The Email's keywords and Mailboxes after ``patch``; SetFailure (invalidProperties, or
    invalidPatch from ``apply_patch``) when the patch touches another property or breaks a rule."""
    for path in patch:
        top = path.split("/", 1)[0]
        if top not in _MUTABLE:
            # RFC 8621 section 4.6: "all other properties are immutable".
            raise _invalid(f"{top} cannot be changed", top)
    current = {"keywords": dict(keywords), "mailboxIds": dict(mailbox_ids)}
    # A property removed whole by null has no default: it becomes empty (and mailboxIds fails below).
    patched = apply_patch(current, patch)
    new_keywords = _true_map(patched.get("keywords", {}), "keywords")
    new_mailboxes = _true_map(patched.get("mailboxIds", {}), "mailboxIds")
    bad = [k for k in new_keywords if not is_keyword(k)]
    if bad:
        raise _invalid(f"not a keyword: {bad[0]!r}", "keywords")
    if not new_mailboxes:
        # RFC 8621 section 4.1.1: an Email belongs to at least one Mailbox at all times.
        raise _invalid("an Email must be in at least one Mailbox", "mailboxIds")
    # RFC 8621 section 4.1.1: keywords are case-insensitive; the server keeps them lower-case.
    return EmailWish(frozenset(k.lower() for k in new_keywords), frozenset(new_mailboxes))
