"""The methods of ``urn:pochta:params:jmap:admin`` (docs/admin.md "JMAP admin API"), registered
together. Only a principal whose account has the admin role gets the capability in its account's
capabilities (``principal.principal_of``) and may call them (``admin_common.admin_account``)."""

from __future__ import annotations

from pochta.proto.jmap.admin import ADMIN_CAPABILITY
from pochta.server.jmap.admin_account import register_admin_account
from pochta.server.jmap.admin_alias import register_admin_alias
from pochta.server.jmap.admin_domain import register_admin_domain
from pochta.server.jmap.admin_queue import register_admin_queue
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["ADMIN_IN_PROGRESS", "register_admin"]

# Served to an administrator who names it in ``using``, not advertised in the Session until the
# lead switches it on: issue 17's admin API still lacks DNS records, DKIM keys, units, app
# passwords and the server status.
ADMIN_IN_PROGRESS = frozenset({ADMIN_CAPABILITY})


def register_admin(registry: MethodRegistry) -> None:
    register_admin_domain(registry)
    register_admin_account(registry)
    register_admin_alias(registry)
    register_admin_queue(registry)
