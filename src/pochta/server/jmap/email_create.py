"""Email/set create (RFC 8621 section 4.6): ``compose_email`` builds the message, which is appended
(IMAP APPEND's write, ``MailOps.append_many``) to one of its mailboxIds with its keywords as flags
and copied to the others, so it is an IMAP message like any other. A blobId a body part names must
be a blob the account holds (``server.jmap.blobs``): an upload, a message of the account or one of
its parts (its decoded octets, as a download gives them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from pochta.config import Settings
from pochta.mail.errors import Code, OpsError
from pochta.mail.ops import MailOps, NewMessage
from pochta.proto.jmap import SetError, SetErrorType, SetFailure, parse_utc_date
from pochta.proto.jmap.mail.compose import Blob, compose_email
from pochta.proto.jmap.mail.email_meta import flag_of_keyword
from pochta.proto.jmap.mail.email_set import is_keyword
from pochta.proto.jmap.mail.errors import BlobNotFound, EmailError, InvalidProperties
from pochta.proto.jmap.mail.ids import blob_id, email_id, parse_blob_id, thread_id
from pochta.server.jmap.blobs import held_blob, read_held
from pochta.server.jmap.email_threads import threaded
from pochta.store.api import Store
from pochta.store.model import AccountId, MailboxId

__all__ = ["account_blob", "create_email", "ops_failure"]


def _invalid(description: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, properties))


def _blob_ids(value: Any) -> Iterator[str]:
    """Every blobId an Email create names, in bodyStructure (and its subParts) or the body lists."""
    if isinstance(value, dict):
        if isinstance(value.get("blobId"), str):
            yield value["blobId"]
        for key in ("bodyStructure", "subParts", "textBody", "htmlBody", "attachments"):
            yield from _blob_ids(value.get(key))
    elif isinstance(value, list):
        for item in value:
            yield from _blob_ids(item)


def ops_failure(error: OpsError, property_: str) -> SetFailure:
    """IMAP's refusal of a write (RFC 5530 codes) as the SetError of RFC 8620 section 5.3."""
    if error.code == Code.OVERQUOTA:
        return SetFailure(SetError(SetErrorType.OVER_QUOTA, error.message))
    if error.code in (Code.NONEXISTENT, Code.TRYCREATE):
        return SetFailure(
            SetError(SetErrorType.NOT_FOUND, error.message)
        )  # the Email or a Mailbox went meanwhile
    if error.code == Code.TOOBIG:
        return SetFailure(SetError(SetErrorType.TOO_LARGE, error.message))
    # LIMIT (keywords per mailbox), CLIENTBUG ...: what the update asks breaks a rule of the store.
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, error.message, (property_,)))


async def account_blob(store: Store, settings: Settings, account_id: AccountId, given: str) -> Blob | None:
    """The octets a blobId names in the account (a message, a part of one decoded, an upload), or
    None."""
    name = parse_blob_id(given)
    held = None if name is None else await held_blob(store, settings, account_id, name)
    return None if held is None else Blob(await read_held(store, held), held.media_type)


def _true_map(create: dict[str, Any], property_: str) -> dict[str, bool]:
    value = create.get(property_, {})
    if not isinstance(value, dict) or any(v is not True for v in value.values()):
        raise _invalid(f"{property_} must map names to true", property_)
    return value


async def create_email(
    ops: MailOps,
    account_id: AccountId,
    create: dict[str, Any],
    mailboxes: dict[MailboxId, str],
    resolve: Callable[[str], str | None],
    settings: Settings,
) -> dict[str, Any]:
    """Creates the Email; RFC 8621 section 4.6's answer: id, blobId, threadId, size.
    ``mailboxes``: the account's mailboxes (id -> name); ``resolve`` a creation id resolver."""
    store = ops.store
    keywords = _true_map(create, "keywords")
    if any(not is_keyword(k) for k in keywords):
        raise _invalid("not a keyword", "keywords")
    boxes: list[MailboxId] = []
    for given in _true_map(create, "mailboxIds"):
        resolved = resolve(given)
        number = resolved[1:] if isinstance(resolved, str) and resolved.startswith("F") else ""
        if not number.isdigit() or MailboxId(int(number)) not in mailboxes:
            raise _invalid(f"no Mailbox {given}", "mailboxIds")
        boxes.append(MailboxId(int(number)))
    if not boxes:
        # RFC 8621 section 4.1.1: an Email belongs to at least one Mailbox.
        raise _invalid("an Email must be in at least one Mailbox", "mailboxIds")
    received = None
    if "receivedAt" in create:
        try:
            received = parse_utc_date(create["receivedAt"])
        except (TypeError, ValueError):
            raise _invalid("receivedAt is not a UTCDate", "receivedAt") from None
    blobs: dict[str, Blob] = {}
    for given in set(_blob_ids(create)):
        # RFC 8620 section 5.3: "#creationId" names a blob made earlier in the request (Blob/upload).
        target = resolve(given) if given.startswith("#") else given
        found = None if target is None else await account_blob(store, settings, account_id, target)
        if found is not None:
            blobs[given] = found
    try:
        data = compose_email(create, blobs=blobs.get, hostname=settings.hostname, now=datetime.now(UTC))
    except BlobNotFound as error:
        # RFC 8621 section 4.6: blobNotFound lists the blobIds in notFound.
        raise SetFailure(
            SetError(SetErrorType.BLOB_NOT_FOUND, error.description, extra={"notFound": error.not_found})
        ) from None
    except InvalidProperties as error:
        raise _invalid(error.description, *error.properties) from None
    except EmailError as error:
        raise _invalid(error.description) from None
    flags = tuple(flag_of_keyword(k) for k in keywords)
    first, *others = boxes
    try:
        [placed] = await ops.append_many(account_id, mailboxes[first], [NewMessage(data, flags, received)])
        for other in others:
            await ops.transfer_between(first, [placed.uid], other, move=False)
    except OpsError as error:
        raise ops_failure(error, "mailboxIds") from None
    [email] = await store.account_emails_in(account_id, {placed.message_id})
    [email] = await threaded(store, account_id, [email])
    [record] = await store.email_records(account_id, [placed.message_id])
    return {
        "id": email_id(placed.message_id),
        "blobId": blob_id(record.blob.sha256),
        "threadId": thread_id(email.thread_id or 0),
        "size": email.size,
    }
