"""The arguments of Email/get (RFC 8621 section 4.2): the standard /get arguments (RFC 8620 section
5.1, ``standard.parse_get``: ids, properties, maxObjectsInGet) and Email's own (bodyProperties,
fetch*BodyValues, maxBodyValueBytes), checked by the Email core's ``email_request``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.mail.email_get import EmailRequest, email_request
from pochta.proto.jmap.mail.errors import InvalidArguments
from pochta.proto.jmap.standard import GetArgs, parse_get

__all__ = ["EMAIL_GET_EXTRA", "parse_email_get"]

EMAIL_GET_EXTRA = (
    "bodyProperties",
    "fetchTextBodyValues",
    "fetchHTMLBodyValues",
    "fetchAllBodyValues",
    "maxBodyValueBytes",
)


def parse_email_get(arguments: Mapping[str, Any], *, max_objects: int) -> tuple[GetArgs, EmailRequest]:
    """The checked arguments; MethodError (invalidArguments, requestTooLarge) otherwise."""
    args = parse_get(arguments, max_objects=max_objects, extra=EMAIL_GET_EXTRA)
    extra = args.extra
    try:
        request = email_request(
            None if args.properties is None else list(args.properties),
            extra.get("bodyProperties"),
            # RFC 8620 section 3.5: a null argument takes its default, as an omitted one.
            fetch_text_body_values=_or(extra.get("fetchTextBodyValues"), False),
            fetch_html_body_values=_or(extra.get("fetchHTMLBodyValues"), False),
            fetch_all_body_values=_or(extra.get("fetchAllBodyValues"), False),
            max_body_value_bytes=_or(extra.get("maxBodyValueBytes"), 0),
        )
    except InvalidArguments as error:
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, error.description) from None
    if "id" not in request.properties:
        # RFC 8620 section 5.1: "The id property of the object is always returned".
        request = replace(request, properties=("id", *request.properties))
    return args, request


def _or(value: object, default: object) -> object:
    return default if value is None else value
