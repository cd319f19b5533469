"""The Session object (RFC 8620 section 2), built from a typed description: what the server can do
(capabilities and the core limits), the accounts the user may reach, and the URLs of the API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CORE_CAPABILITY",
    "MAIL_CAPABILITY",
    "SUBMISSION_CAPABILITY",
    "CoreLimits",
    "SessionAccount",
    "SessionDescription",
    "session_object",
]

CORE_CAPABILITY = "urn:ietf:params:jmap:core"
MAIL_CAPABILITY = "urn:ietf:params:jmap:mail"  # RFC 8621 section 1.3.1
SUBMISSION_CAPABILITY = "urn:ietf:params:jmap:submission"  # RFC 8621 section 1.3.2

# The objects of capabilities in an account's accountCapabilities that have one ({} otherwise).


@dataclass(frozen=True)
class CoreLimits:
    """The ``urn:ietf:params:jmap:core`` capability object (RFC 8620 section 2)."""

    max_size_upload: int
    max_concurrent_upload: int
    max_size_request: int
    max_concurrent_requests: int
    max_calls_in_request: int
    max_objects_in_get: int
    max_objects_in_set: int
    collation_algorithms: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "maxSizeUpload": self.max_size_upload,
            "maxConcurrentUpload": self.max_concurrent_upload,
            "maxSizeRequest": self.max_size_request,
            "maxConcurrentRequests": self.max_concurrent_requests,
            "maxCallsInRequest": self.max_calls_in_request,
            "maxObjectsInGet": self.max_objects_in_get,
            "maxObjectsInSet": self.max_objects_in_set,
            "collationAlgorithms": list(self.collation_algorithms),
        }


@dataclass(frozen=True)
class SessionAccount:
    """An account the user may reach (RFC 8620 section 2 "accounts")."""

    id: str
    name: str
    is_personal: bool
    is_read_only: bool
    # Capability URI -> the account's information for it ({} when there is none to give).
    capabilities: Mapping[str, Mapping[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "isPersonal": self.is_personal,
            "isReadOnly": self.is_read_only,
            "accountCapabilities": {uri: dict(info) for uri, info in self.capabilities.items()},
        }


@dataclass(frozen=True)
class SessionDescription:
    core: CoreLimits
    accounts: Sequence[SessionAccount]
    primary_accounts: Mapping[str, str]  # capability URI -> account id
    username: str
    api_url: str
    download_url: str  # URI templates (RFC 6570 level 1) with the variables of section 6.2 ...
    upload_url: str
    event_source_url: str  # ... section 6.1, and section 7.3
    # Capability URI -> its object, for the capabilities beyond core the server advertises.
    other_capabilities: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def capability_uris(self) -> frozenset[str]:
        return frozenset({CORE_CAPABILITY, *self.other_capabilities})


def _digest(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def session_object(description: SessionDescription) -> dict[str, Any]:
    """The Session resource's JSON. Its ``state`` is a digest of all the rest: it changes exactly
    when something in the session does (RFC 8620 section 2: "if this changes, the client should
    refetch the Session object")."""
    capabilities: dict[str, Any] = {CORE_CAPABILITY: description.core.to_json()}
    capabilities.update({uri: dict(info) for uri, info in description.other_capabilities.items()})
    document: dict[str, Any] = {
        "capabilities": capabilities,
        "accounts": {account.id: account.to_json() for account in description.accounts},
        "primaryAccounts": dict(description.primary_accounts),
        "username": description.username,
        "apiUrl": description.api_url,
        "downloadUrl": description.download_url,
        "uploadUrl": description.upload_url,
        "eventSourceUrl": description.event_source_url,
    }
    document["state"] = _digest(document)
    return document
