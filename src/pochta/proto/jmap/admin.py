"""The admin capability's name and the ids of its objects (docs/admin.md "JMAP admin API").

``urn:pochta:params:jmap:admin`` is a vendor capability (RFC 8620 section 1.8: a vendor's
extension is opted into by naming it in ``using``). ``urn:ietf:params:jmap:*`` is IANA's registry
(RFC 8620 section 9.4), closed to an unregistered extension; section 1.8 asks a vendor for a URL of
a domain it owns, and pochta, software anyone installs, owns none that every installation could
name, so the identifier is a URN of its own namespace, which cannot collide with a registered
name. Admin objects are server-wide (domains, accounts, the queue), not data of one account: a
call names the administrator's own account as its ``accountId``, the account whose Session
entry lists the capability (RFC 8620 section 2: accountCapabilities)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ADMIN_CAPABILITY",
    "alias_id",
    "app_password_id",
    "dkim_key_id",
    "domain_id",
    "list_state",
    "parse_alias_id",
    "parse_dkim_key_id",
    "parse_queue_message_id",
    "queue_message_id",
    "unit_id",
]

ADMIN_CAPABILITY = "urn:pochta:params:jmap:admin"

DOMAIN_PREFIX = "D"
ALIAS_PREFIX = "L"
APP_PASSWORD_PREFIX = "P"  # noqa: S105 - an id prefix, no secret
QUEUE_PREFIX = "Q"
UNIT_PREFIX = "U"
DKIM_PREFIX = "K"


def domain_id(number: int) -> str:
    return f"{DOMAIN_PREFIX}{number}"


def unit_id(number: int) -> str:
    return f"{UNIT_PREFIX}{number}"


def app_password_id(number: int) -> str:
    return f"{APP_PASSWORD_PREFIX}{number}"


def alias_id(source: str) -> str:
    """An alias is named by its source address, which holds "@" and ".": an Id may not (RFC 8620
    section 1.2), so the address is spelled in unpadded base64url."""
    return _encoded(ALIAS_PREFIX, source)


def parse_alias_id(text: str) -> str | None:
    return _decoded(ALIAS_PREFIX, text)


def _encoded(prefix: str, text: str) -> str:
    return prefix + base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _decoded(prefix: str, text: str) -> str | None:
    if not text.startswith(prefix):
        return None
    body = text[len(prefix) :]
    try:
        # validate: a character outside the alphabet is an error, not skipped.
        decoded = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        return decoded.decode("utf-8") or None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def dkim_key_id(domain: str, selector: str) -> str:
    """A DKIM key is named by its record's DNS name (RFC 6376 section 3.6.2.1), in base64url."""
    return _encoded(DKIM_PREFIX, f"{selector}._domainkey.{domain}")


def parse_dkim_key_id(text: str) -> tuple[str, str] | None:
    """(domain, selector) of a DkimKey id, or None."""
    name = _decoded(DKIM_PREFIX, text)
    selector, found, domain = (name or "").partition("._domainkey.")
    return (domain, selector) if found and domain and selector else None


def queue_message_id(queue_id: str) -> str:
    return QUEUE_PREFIX + queue_id


def parse_queue_message_id(text: str) -> str | None:
    """The queue id (16 upper-case hexadecimal digits) a QueueMessage id names, or None."""
    body = text.removeprefix(QUEUE_PREFIX)
    if body == text or len(body) != 16 or any(c not in "0123456789ABCDEF" for c in body):
        return None
    return body


def list_state(objects: Iterable[dict[str, Any]]) -> str:
    """The state of a type without change records: a digest of all its objects, so that any
    change gives another state (RFC 8620 section 5.1: a state changes when any record does);
    a client cannot ask /changes (the method does not exist), only compare and /get again."""
    digest = hashlib.sha256()
    for item in sorted(objects, key=lambda o: str(o.get("id"))):
        digest.update(json.dumps(item, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()[:16]
