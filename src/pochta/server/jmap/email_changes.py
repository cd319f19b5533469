"""Email/changes (RFC 8621 section 4.3, the standard /changes of RFC 8620 section 5.2) over the
store's Email records (``store.email_changes``: a flag change, a copy or a move is an update, the
removal of an Email's last copy a destroy)."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap.mail.ids import email_id
from pochta.server.jmap.changes import email_changes_page
from pochta.server.jmap.context import CallContext

__all__ = ["email_changes"]


async def email_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    page = await email_changes_page(context, arguments)
    changes = page.changes
    return page.response(
        [email_id(n) for n in changes.created],
        [email_id(n) for n in changes.updated],
        [email_id(n) for n in changes.destroyed],
    )
