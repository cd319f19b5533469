"""JMAP's errors as typed values: the request-level problems (RFC 8620 section 3.6.1, in the RFC
7807 problem details shape), the method-level errors (section 3.6.2 and those of the standard
methods, section 5) and the SetError of a record a /set or /copy could not write (section 5.3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "MethodError",
    "MethodErrorType",
    "ProblemType",
    "RequestProblem",
    "SetError",
    "SetErrorType",
    "SetFailure",
]

# RFC 7807 section 6.1: problem details in JSON.
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemType(StrEnum):
    """RFC 8620 section 3.6.1: the request as a whole is refused, with these type URIs."""

    UNKNOWN_CAPABILITY = "urn:ietf:params:jmap:error:unknownCapability"
    NOT_JSON = "urn:ietf:params:jmap:error:notJSON"
    NOT_REQUEST = "urn:ietf:params:jmap:error:notRequest"
    LIMIT = "urn:ietf:params:jmap:error:limit"


@dataclass(frozen=True)
class RequestProblem:
    """A refused request: an RFC 7807 problem details object, answered with ``status``."""

    type: ProblemType
    detail: str
    status: int = 400
    limit: str | None = None  # RFC 8620 section 3.6.1: the "limit" problem names the limit

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": str(self.type), "status": self.status, "detail": self.detail}
        if self.limit is not None:
            body["limit"] = self.limit
        return body


class MethodErrorType(StrEnum):
    # RFC 8620 section 3.6.2: errors any method may return.
    SERVER_UNAVAILABLE = "serverUnavailable"
    SERVER_FAIL = "serverFail"
    SERVER_PARTIAL_FAIL = "serverPartialFail"
    UNKNOWN_METHOD = "unknownMethod"
    INVALID_ARGUMENTS = "invalidArguments"
    INVALID_RESULT_REFERENCE = "invalidResultReference"
    FORBIDDEN = "forbidden"
    ACCOUNT_NOT_FOUND = "accountNotFound"
    ACCOUNT_NOT_SUPPORTED_BY_METHOD = "accountNotSupportedByMethod"
    ACCOUNT_READ_ONLY = "accountReadOnly"
    # RFC 8620 sections 5.1 to 5.6: the standard methods' own.
    REQUEST_TOO_LARGE = "requestTooLarge"
    STATE_MISMATCH = "stateMismatch"
    CANNOT_CALCULATE_CHANGES = "cannotCalculateChanges"
    ANCHOR_NOT_FOUND = "anchorNotFound"
    UNSUPPORTED_SORT = "unsupportedSort"
    UNSUPPORTED_FILTER = "unsupportedFilter"
    TOO_MANY_CHANGES = "tooManyChanges"
    FROM_ACCOUNT_NOT_FOUND = "fromAccountNotFound"
    FROM_ACCOUNT_NOT_SUPPORTED_BY_METHOD = "fromAccountNotSupportedByMethod"
    # RFC 9404 section 4.3: Blob/lookup of a type the server does not know or the request does
    # not use.
    UNKNOWN_DATA_TYPE = "unknownDataType"


class MethodError(Exception):
    """A method call that failed as a whole: raised by a handler (or the argument parsers), answered
    as an ``error`` response to that call alone (RFC 8620 section 3.6.2). ``extra`` holds further
    properties a type defines."""

    def __init__(self, type: MethodErrorType, description: str | None = None, **extra: Any) -> None:
        super().__init__(description or str(type))
        self.type = type
        self.description = description
        self.extra: Mapping[str, Any] = extra

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": str(self.type)}
        if self.description is not None:
            body["description"] = self.description
        body.update(self.extra)
        return body

    def __repr__(self) -> str:
        return f"MethodError({self.type!s}, {self.description!r})"


class SetErrorType(StrEnum):
    # RFC 8620 section 5.3.
    FORBIDDEN = "forbidden"
    OVER_QUOTA = "overQuota"
    TOO_LARGE = "tooLarge"
    RATE_LIMIT = "rateLimit"
    NOT_FOUND = "notFound"
    INVALID_PATCH = "invalidPatch"
    WILL_DESTROY = "willDestroy"
    INVALID_PROPERTIES = "invalidProperties"
    SINGLETON = "singleton"
    # RFC 8620 section 5.4: a /copy whose record exists in the target account already.
    ALREADY_EXISTS = "alreadyExists"
    # RFC 8621 section 2.5: Mailbox/set destroy of a Mailbox with a child, or with Emails.
    MAILBOX_HAS_CHILD = "mailboxHasChild"
    MAILBOX_HAS_EMAIL = "mailboxHasEmail"
    # RFC 8621 section 4.8: Email/import of a blob that is not a message.
    INVALID_EMAIL = "invalidEmail"
    # RFC 8621 section 4.6: an Email create naming blobs the account does not have (notFound).
    BLOB_NOT_FOUND = "blobNotFound"
    # RFC 9661 section 2.3: a script that does not compile; the destroy of the active script.
    INVALID_SIEVE = "invalidSieve"
    SIEVE_IS_ACTIVE = "sieveIsActive"
    # RFC 8621 section 6.3 (Identity/set) and 7.5 (EmailSubmission/set).
    FORBIDDEN_FROM = "forbiddenFrom"
    FORBIDDEN_MAIL_FROM = "forbiddenMailFrom"
    FORBIDDEN_TO_SEND = "forbiddenToSend"
    TOO_MANY_RECIPIENTS = "tooManyRecipients"
    NO_RECIPIENTS = "noRecipients"
    INVALID_RECIPIENTS = "invalidRecipients"
    CANNOT_UNSEND = "cannotUnsend"
    # RFC 9007 section 2.1: MDN/send for an Email with the $mdnsent keyword.
    MDN_ALREADY_SENT = "mdnAlreadySent"


@dataclass(frozen=True)
class SetError:
    """Why one record of a /set or /copy was not created, updated or destroyed."""

    type: SetErrorType
    description: str | None = None
    properties: Sequence[str] = ()  # RFC 8620 section 5.3: the invalid ones, for invalidProperties
    extra: Mapping[str, Any] = field(default_factory=dict)  # existingId of alreadyExists ...

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": str(self.type)}
        if self.description is not None:
            body["description"] = self.description
        if self.properties or self.type is SetErrorType.INVALID_PROPERTIES:
            body["properties"] = list(self.properties)
        body.update(self.extra)
        return body


class SetFailure(Exception):
    """Raised while writing one record: the record's SetError, the others go on."""

    def __init__(self, error: SetError) -> None:
        super().__init__(error.description or str(error.type))
        self.error = error
