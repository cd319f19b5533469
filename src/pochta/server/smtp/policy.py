"""Submission policy: who may send as whom (RFC 6409 §6.1).

Under ``smtp.sender_policy = "strict"`` the envelope sender and every address in From: and Sender:
must be the authenticated account or an alias that reaches it. From: and Sender: are read by the
strict reader (``pochta.mime.strict_address``): a field that is not exactly RFC 5322 grammar, an
empty one, two From: or two Sender: fields are refused, never guessed at. A missing From: is added
from the authenticated account by the delivery pipeline (``submission_fields``).

Text a mail client shows as the author's name counts too: a display name or comment that holds an
email address (``"bob@example.org" <alice@example.org>``, or the same as an encoded word) must be
one of the account's addresses as well, because a client that shows names only would show bob.
Gmail-like services accept such names and check the address only; pochta is stricter, on purpose.
"""

from __future__ import annotations

import re
import unicodedata

from pochta.config import SmtpSettings
from pochta.delivery.headers import HeaderFacts
from pochta.mime.address import SmtpPath, normalise_domain
from pochta.mime.strict_address import (
    StrictAddressError,
    StrictField,
    parse_mailbox_list_strict,
    parse_mailbox_strict,
)
from pochta.store.api import Directory, StoreError
from pochta.store.model import Account

# Separators around an address written inside a name: whitespace and what quotes or brackets it.
_NAME_SEPARATORS = re.compile(r"[\s<>()\[\]\"',;:]+")


def _addresses_in_name(text: str) -> list[str]:
    """Every ``x@y.z`` a reader would see in a display name or comment. NFKC first, so a
    full-width "＠" or letters count as what they look like."""
    found = []
    for word in _NAME_SEPARATORS.split(unicodedata.normalize("NFKC", text)):
        local, at, domain = word.strip(".").rpartition("@")
        if at and local and "." in domain.strip("."):
            found.append(f"{local}@{domain.strip('.')}")
    return found


class SenderPolicy:
    """The envelope sender and From:/Sender: must be the account itself or an alias that reaches it."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def owns(self, account: Account, address: str) -> bool:
        local, _, domain = address.rpartition("@")
        # The account's own domain may be written as a U-label (RFC 6532): compare A-labels.
        address = f"{local}@{normalise_domain(domain) or domain}".lower()
        if address == account.address.lower():
            return True
        try:
            alias = await self.directory.get_alias(address)
        except (ValueError, StoreError):
            return False
        mine = account.address.lower()
        return alias is not None and any(target.lower() == mine for target in alias.targets)

    async def may_use(self, account: Account, address: str, settings: SmtpSettings) -> bool:
        """May ``account`` send as ``address`` (the envelope sender of SMTP submission, a JMAP
        Identity's email and an EmailSubmission's mailFrom)?"""
        if settings.sender_policy == "off":
            return True
        return await self.owns(account, address)

    async def may_send_as(self, account: Account, path: SmtpPath, settings: SmtpSettings) -> bool:
        if settings.sender_policy != "off" and path.is_null:
            return False  # RFC 6409 §6.1: an authenticated user sends as an address of theirs
        return await self.may_use(account, f"{path.local}@{path.domain}", settings)

    async def header_refusal(
        self, account: Account, facts: HeaderFacts, settings: SmtpSettings
    ) -> str | None:
        """Why the From:/Sender: fields may not be sent by ``account``, or None when they may."""
        if settings.sender_policy == "off":
            return None
        if len(facts.from_fields) > 1:
            return "more than one From: field"  # RFC 5322 §3.6: exactly one (when present)
        if len(facts.sender_fields) > 1:
            return "more than one Sender: field"  # RFC 5322 §3.6: at most one
        fields: list[tuple[str, StrictField]] = []
        for name, raw, parse in [
            *(("From", raw, parse_mailbox_list_strict) for raw in facts.from_fields),
            *(("Sender", raw, parse_mailbox_strict) for raw in facts.sender_fields),
        ]:
            try:
                fields.append((name, parse(raw.decode("utf-8"))))
            except UnicodeDecodeError:
                return f"{name}: is not UTF-8"  # RFC 6532 §3
            except StrictAddressError as exc:
                return f"{name}: {exc.reason}"
        checked: set[str] = set()
        for name, field in fields:
            addresses = [m.address for m in field.mailboxes]
            shown = [a for text in field.shown for a in _addresses_in_name(text)]
            for address in [*addresses, *shown]:
                if address.lower() in checked:
                    continue
                if not await self.owns(account, address):
                    return f"{name}: {address} is not an address of {account.address}"
                checked.add(address.lower())
        return None
