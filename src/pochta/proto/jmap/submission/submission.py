"""The EmailSubmission object (RFC 8621 section 7) as pochta keeps it, the create's arguments,
EmailSubmission/set's extra arguments, and the deliveryStatus of a recipient from an SMTP reply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pochta.proto.jmap.arguments import invalid_arguments
from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.ids import is_id
from pochta.proto.jmap.submission.envelope import Envelope, parse_envelope

__all__ = [
    "SUBMISSION_PROPERTIES",
    "SubmissionCreate",
    "SuccessActions",
    "delivery_status",
    "parse_submission_create",
    "parse_submission_id",
    "parse_success_actions",
    "smtp_reply_text",
    "submission_id",
    "submission_object",
]

SUBMISSION_PROPERTIES = (
    "id",
    "identityId",
    "emailId",
    "threadId",
    "envelope",
    "sendAt",
    "undoStatus",
    "deliveryStatus",
    "dsnBlobIds",
    "mdnBlobIds",
)
_CLIENT_SET = ("identityId", "emailId", "envelope")
Delivered = Literal["queued", "yes", "no", "unknown"]


def submission_id(number: int) -> str:
    return f"S{number}"


def parse_submission_id(text: str) -> int | None:
    digits = text[1:]
    if text[:1] != "S" or not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


@dataclass(frozen=True)
class SubmissionCreate:
    identity_id: str  # may be "#creationId" (of an Identity created earlier in the request)
    email_id: str  # may be "#creationId" (an Email/set create earlier in the request)
    envelope: Envelope | None  # None: derived from the Email


def _invalid(description: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, properties))


def _reference(value: Any) -> bool:
    return isinstance(value, str) and (is_id(value) or (value.startswith("#") and is_id(value[1:])))


def parse_submission_create(record: Mapping[str, Any]) -> SubmissionCreate:
    """A create's record (SetFailure invalidProperties). ``undoStatus`` may be given as "final"
    only, the one state pochta has (no delayed send)."""
    refused = [
        key
        for key, value in record.items()
        if key not in _CLIENT_SET and not (key == "undoStatus" and value == "final")
    ]
    if refused:
        raise _invalid("unknown or server-set properties", *refused)
    for key in ("identityId", "emailId"):
        if not _reference(record.get(key)):
            raise _invalid(f"{key} must be an Id", key)
    return SubmissionCreate(record["identityId"], record["emailId"], parse_envelope(record.get("envelope")))


@dataclass(frozen=True)
class SuccessActions:
    """RFC 8621 section 7.5: onSuccessUpdateEmail and onSuccessDestroyEmail, keyed by
    EmailSubmission id or ``#creationId``."""

    update: Mapping[str, dict[str, Any]]
    destroy: tuple[str, ...]


def parse_success_actions(extra: Mapping[str, Any]) -> SuccessActions:
    update = extra.get("onSuccessUpdateEmail")
    destroy = extra.get("onSuccessDestroyEmail")
    if update is not None and (
        not isinstance(update, dict)
        or not all(_reference(k) and isinstance(v, dict) for k, v in update.items())
    ):
        raise invalid_arguments("onSuccessUpdateEmail must be a map of ids to PatchObjects, or null")
    if destroy is not None and (not isinstance(destroy, list) or not all(_reference(v) for v in destroy)):
        raise invalid_arguments("onSuccessDestroyEmail must be an array of ids, or null")
    return SuccessActions(update or {}, tuple(destroy or ()))


def smtp_reply_text(code: int, enhanced: str | None, lines: tuple[str, ...]) -> str:
    """RFC 8621 section 7 smtpReply: one line, "CODE X.Y.Z text", lines joined by spaces."""
    text = " ".join(line.strip() for line in lines if line.strip())
    return " ".join(part for part in (str(code), enhanced or "", text) if part)


def delivery_status(smtp_reply: str, delivered: Delivered) -> dict[str, str]:
    # RFC 8621 section 7: displayed stays "unknown" (pochta reads no MDNs into it).
    return {"smtpReply": smtp_reply, "delivered": delivered, "displayed": "unknown"}


def submission_object(number: int, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The EmailSubmission as EmailSubmission/get shows it, from its stored document."""
    return {
        "id": submission_id(number),
        "identityId": doc["identityId"],
        "emailId": doc["emailId"],
        "threadId": doc["threadId"],
        "envelope": doc["envelope"],
        "sendAt": doc["sendAt"],
        # RFC 8621 section 7: with no delayed send, the state is always final.
        "undoStatus": "final",
        "deliveryStatus": doc.get("deliveryStatus"),
        "dsnBlobIds": [],
        "mdnBlobIds": [],
    }
