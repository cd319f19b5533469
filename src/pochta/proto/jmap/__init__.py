"""JMAP's core (RFC 8620), sans-IO: the request and response objects, result references, errors,
the standard methods' arguments, PatchObject and the Session object. docs/jmap.md."""

from pochta.proto.jmap.creation import CreatedIds, is_id_or_reference
from pochta.proto.jmap.dates import format_date, format_utc_date, parse_date, parse_utc_date
from pochta.proto.jmap.errors import (
    PROBLEM_MEDIA_TYPE,
    MethodError,
    MethodErrorType,
    ProblemType,
    RequestProblem,
    SetError,
    SetErrorType,
    SetFailure,
)
from pochta.proto.jmap.ids import (
    MAX_INT,
    MIN_INT,
    account_id,
    is_id,
    is_int,
    is_unsigned_int,
    parse_account_id,
)
from pochta.proto.jmap.json_text import dumps
from pochta.proto.jmap.patch import apply_patch
from pochta.proto.jmap.pointer import PointerError, evaluate, parse_pointer
from pochta.proto.jmap.references import resolve_references
from pochta.proto.jmap.request import Invocation, Request, RequestLimits, Response, parse_request
from pochta.proto.jmap.session import (
    CORE_CAPABILITY,
    MAIL_CAPABILITY,
    SUBMISSION_CAPABILITY,
    CoreLimits,
    SessionAccount,
    SessionDescription,
    session_object,
)

__all__ = [
    "CORE_CAPABILITY",
    "MAIL_CAPABILITY",
    "MAX_INT",
    "MIN_INT",
    "PROBLEM_MEDIA_TYPE",
    "SUBMISSION_CAPABILITY",
    "CoreLimits",
    "CreatedIds",
    "Invocation",
    "MethodError",
    "MethodErrorType",
    "PointerError",
    "ProblemType",
    "Request",
    "RequestLimits",
    "RequestProblem",
    "Response",
    "SessionAccount",
    "SessionDescription",
    "SetError",
    "SetErrorType",
    "SetFailure",
    "account_id",
    "apply_patch",
    "dumps",
    "evaluate",
    "format_date",
    "format_utc_date",
    "is_id",
    "is_id_or_reference",
    "is_int",
    "is_unsigned_int",
    "parse_account_id",
    "parse_date",
    "parse_pointer",
    "parse_request",
    "parse_utc_date",
    "resolve_references",
    "session_object",
]
