"""The settings objects of pochta's vendor capability ``urn:pochta:params:jmap:settings``, pure:
MailFilter, Forwarding, ProtocolAccess and FetchAccount as JSON, and what a /set asks of them,
checked property by property (docs/jmap.md "Settings"). What a rule may say is not decided here:
``pochta.mail.mail_rules`` owns the filters and the forward, the settings store's keys own the
protocol switches, ``pochta.fetch.accounts`` owns an external account; this module only names
their fields as JMAP properties.

A vendor capability (RFC 8620 section 2: a URI the vendor owns), not an IETF one: no RFC defines
Gmail-style filters, POP3 download modes or a fetcher, so the objects are pochta's own."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure

__all__ = [
    "FETCH_PROPERTIES",
    "FILTER_PROPERTIES",
    "FORWARDING_PROPERTIES",
    "PROTOCOL_PROPERTIES",
    "SETTINGS_CAPABILITY",
    "SINGLETON",
    "fetch_id",
    "fetch_number_of",
    "filter_data",
    "filter_id",
    "filter_object",
    "rule_id_of",
    "settings_state",
]

SETTINGS_CAPABILITY = "urn:pochta:params:jmap:settings"
SINGLETON = "singleton"  # the id of the one Forwarding and the one ProtocolAccess object

# MailFilter property -> ``mail_rules.Filter`` field (by its alias, as ``Filter`` validates it).
_FILTER_FIELDS = {
    "from": "from",
    "to": "to",
    "subject": "subject",
    "hasWords": "has_words",
    "doesntHave": "doesnt_have",
    "toFolder": "to_folder",
    "markRead": "mark_read",
    "star": "star",
    "forward": "forward",
    "delete": "delete",
    "skipInbox": "skip_inbox",
}
FILTER_PROPERTIES = ("id", *_FILTER_FIELDS)
_FILTER_DEFAULTS: dict[str, Any] = {
    "markRead": False,
    "star": False,
    "delete": False,
    "skipInbox": False,
}
FORWARDING_PROPERTIES = ("id", "address", "mode")
PROTOCOL_PROPERTIES = ("id", "imap", "pop3", "pop3Mode", "imapAllowed", "pop3Allowed")
FETCH_PROPERTIES = (
    "id",
    "protocol",
    "host",
    "port",
    "tls",
    "login",
    "keep",
    "folder",
    "remoteFolders",
    "mirrorFlags",
    "lastRun",
    "lastResult",
    "lastError",
    "lastFetched",
    "totalFetched",
    "nextRun",
)


def filter_id(rule_id: int) -> str:
    return f"R{rule_id}"


def rule_id_of(given: str) -> int | None:
    """The rule's number of a MailFilter id ("R12"), None for anything else."""
    digits = given[1:]
    if not given.startswith("R") or not digits.isdigit() or digits.startswith("0"):
        return None
    return int(digits)


def fetch_id(number: int) -> str:
    return f"X{number}"


def fetch_number_of(given: str) -> int | None:
    """The external account's number of a FetchAccount id ("X3"), None for anything else."""
    digits = given[1:]
    if not given.startswith("X") or not digits.isdigit() or digits.startswith("0"):
        return None
    return int(digits)


def filter_object(rule_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The MailFilter of a filter rule's fields (``Filter.model_dump(by_alias=True)``)."""
    out: dict[str, Any] = {"id": filter_id(rule_id)}
    for name, field in _FILTER_FIELDS.items():
        out[name] = fields.get(field, _FILTER_DEFAULTS.get(name))
    return out


def filter_data(record: Mapping[str, Any]) -> dict[str, object]:
    """The rule's fields a MailFilter/set create asks for; the rule itself checks their values."""
    unknown = sorted(set(record) - set(_FILTER_FIELDS))
    if "id" in record:
        # RFC 8620 section 5.3: the server sets the id.
        raise SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, "the id is the server's", ("id",)))
    if unknown:
        raise SetFailure(
            SetError(
                SetErrorType.INVALID_PROPERTIES, f"unknown properties: {', '.join(unknown)}", tuple(unknown)
            )
        )
    return {
        _FILTER_FIELDS[name]: value
        for name, value in record.items()
        if value is not None and value != _FILTER_DEFAULTS.get(name)
    }


def settings_state(value: object) -> str:
    """A state string: a digest of what is stored, so it changes exactly when that does, whoever
    changed it (the CLI, JMAP, ManageSieve)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
