"""The JMAP Email object (RFC 8621 section 4), pure: an Email from a message and its parse record
(Email/get, Email/parse), and a message from an Email create (Email/set).

Modules: ``properties`` (property names, header forms allowed per field, defaults), ``headers``
(the parsed forms), ``body`` (EmailBodyPart, bodyStructure, textBody/htmlBody/attachments),
``body_values`` (EmailBodyValue), ``email_get`` (the Email object), ``compose`` (Email/set
create), ``errors`` (what the server maps to JMAP errors).
"""

from __future__ import annotations

from pochta.proto.jmap.mail.body import BlobIdOf, blob_part, decoded_content
from pochta.proto.jmap.mail.compose import Blob, BlobLookup, compose_email
from pochta.proto.jmap.mail.email_get import (
    EmailRequest,
    email_object,
    email_request,
    is_message,
    parse_email,
)
from pochta.proto.jmap.mail.errors import BlobNotFound, EmailError, InvalidArguments, InvalidProperties
from pochta.proto.jmap.mail.properties import GET_DEFAULT, PARSE_DEFAULT

__all__ = [
    "GET_DEFAULT",
    "PARSE_DEFAULT",
    "Blob",
    "BlobIdOf",
    "BlobLookup",
    "BlobNotFound",
    "EmailError",
    "EmailRequest",
    "InvalidArguments",
    "InvalidProperties",
    "blob_part",
    "compose_email",
    "decoded_content",
    "email_object",
    "email_request",
    "is_message",
    "parse_email",
]
