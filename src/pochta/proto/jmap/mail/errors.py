"""The errors the Email functions raise, typed so that the server layer maps each to its JMAP form:
a method-level ``invalidArguments`` (RFC 8620 section 3.6.2) or a SetError (RFC 8620 section 5.3,
RFC 8621 section 4.6)."""

from __future__ import annotations

from collections.abc import Iterable


class EmailError(ValueError):
    """Base of the errors below; ``type`` is the JMAP error type."""

    type = "serverFail"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidArguments(EmailError):
    """A request argument is wrong: an unknown property, a header form forbidden for its field
    (RFC 8621 section 4.2: the method call is rejected with ``invalidArguments``)."""

    type = "invalidArguments"


class InvalidProperties(EmailError):
    """An Email create breaks a rule of RFC 8621 section 4.6; ``properties`` names every property
    at fault, as paths (``bodyStructure/subParts/0/partId``)."""

    type = "invalidProperties"

    def __init__(self, properties: Iterable[str], description: str) -> None:
        super().__init__(description)
        self.properties = sorted(set(properties))


class BlobNotFound(EmailError):
    """RFC 8621 section 4.6: an EmailBodyPart names a blob the account does not have."""

    type = "blobNotFound"

    def __init__(self, not_found: Iterable[str]) -> None:
        self.not_found = sorted(set(not_found))
        super().__init__("blob not found: " + ", ".join(self.not_found))
