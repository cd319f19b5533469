"""The server-set properties of an Email (RFC 8621 section 4.1.1: id, blobId, threadId,
mailboxIds, keywords, size, receivedAt) from what the store keeps of a message, and the order of
a Thread's Emails (RFC 8621 section 3). Keywords are IMAP flags (RFC 8621 section 4.1.1 names the
IMAP system flags each of ``$seen``, ``$flagged``, ``$answered``, ``$draft`` stands for)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pochta.proto.jmap.dates import format_utc_date
from pochta.proto.jmap.mail.ids import blob_id, email_id, mailbox_id, thread_id

__all__ = ["flag_of_keyword", "keywords_of", "metadata_of", "thread_order"]

# RFC 8621 section 4.1.1: the IMAP system flags and the keywords they are in JMAP.
_KEYWORD_OF_FLAG = {
    "\\seen": "$seen",
    "\\flagged": "$flagged",
    "\\answered": "$answered",
    "\\draft": "$draft",
}
_FLAG_OF_KEYWORD = {keyword: "\\" + flag[1:].capitalize() for flag, keyword in _KEYWORD_OF_FLAG.items()}


def keywords_of(flags: Iterable[str]) -> dict[str, bool]:
    """The keywords of an Email with these IMAP flags: the four system flags as their keywords,
    the others as they are, lower-cased (RFC 8621 section 4.1.1: keywords are case-insensitive and
    the server returns them lower-case); ``\\Deleted`` and ``\\Recent`` (and any other ``\\`` flag)
    have no keyword (a ``\\`` is not an allowed keyword character)."""
    out: dict[str, bool] = {}
    for flag in flags:
        key = flag.lower()
        if key.startswith("\\"):
            keyword = _KEYWORD_OF_FLAG.get(key)
            if keyword is not None:
                out[keyword] = True
        else:
            out[key] = True
    return dict(sorted(out.items()))


def flag_of_keyword(keyword: str) -> str:
    """The IMAP flag a keyword is stored as (the inverse of :func:`keywords_of`)."""
    lowered = keyword.lower()
    return _FLAG_OF_KEYWORD.get(lowered, lowered)


def metadata_of(
    *,
    message_id: int,
    sha256: str,
    thread: int | None,
    mailbox_ids: Iterable[int],
    flags: Iterable[str],
    size: int,
    received_at: int,
) -> dict[str, Any]:
    """The metadata properties of one Email (``received_at`` in epoch seconds). ``thread`` None
    (not threaded yet) gives a null threadId; the caller threads first where it can."""
    return {
        "id": email_id(message_id),
        "blobId": blob_id(sha256),
        "threadId": None if thread is None else thread_id(thread),
        "mailboxIds": {mailbox_id(number): True for number in sorted(mailbox_ids)},
        "keywords": keywords_of(flags),
        "size": size,
        # RFC 8621 section 4.1.1 receivedAt: a UTCDate.
        "receivedAt": format_utc_date(datetime.fromtimestamp(received_at, UTC)),
    }


def thread_order(emails: Iterable[tuple[int, int]]) -> list[str]:
    """The Email ids of a Thread from (receivedAt epoch seconds, messages.id) pairs: RFC 8621
    section 3 "sorted by the receivedAt date of the Email, oldest first"; ties by id, which grows
    with arrival."""
    return [email_id(message) for _, message in sorted(emails)]
