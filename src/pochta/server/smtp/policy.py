"""Submission policy: who may send as whom (RFC 6409 §6.1)."""

from __future__ import annotations

from pochta.config import SmtpSettings
from pochta.delivery.headers import HeaderFacts
from pochta.mime.address import SmtpPath
from pochta.store.api import Directory, StoreError
from pochta.store.model import Account


class SenderPolicy:
    """The envelope sender and From: must be the account itself or an alias that reaches it."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def owns(self, account: Account, address: str) -> bool:
        address = address.lower()
        if address == account.address.lower():
            return True
        try:
            alias = await self.directory.get_alias(address)
        except (ValueError, StoreError):
            return False
        mine = account.address.lower()
        return alias is not None and any(target.lower() == mine for target in alias.targets)

    async def may_send_as(self, account: Account, path: SmtpPath, settings: SmtpSettings) -> bool:
        if settings.sender_policy == "off":
            return True
        if path.is_null:
            return False  # RFC 6409 §6.1: an authenticated user sends as an address of theirs
        return await self.owns(account, f"{path.local}@{path.domain}")

    async def may_use_from(self, account: Account, facts: HeaderFacts, settings: SmtpSettings) -> bool:
        if settings.sender_policy == "off":
            return True
        for address in facts.from_addresses:
            if not await self.owns(account, address):
                return False
        return True
