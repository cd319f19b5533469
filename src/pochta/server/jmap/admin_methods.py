"""The methods of ``urn:pochta:params:jmap:admin`` (docs/admin.md "JMAP admin API"), registered
together. Only a principal whose account has the admin role gets the capability in its account's
capabilities (``principal.principal_of``) and may call them (``admin_common.admin_account``)."""

from __future__ import annotations

from pochta.server.jmap.admin_account import register_admin_account
from pochta.server.jmap.admin_alias import register_admin_alias
from pochta.server.jmap.admin_app_password import register_admin_app_password
from pochta.server.jmap.admin_dkim import register_admin_dkim
from pochta.server.jmap.admin_dns import register_admin_dns
from pochta.server.jmap.admin_domain import register_admin_domain
from pochta.server.jmap.admin_queue import register_admin_queue
from pochta.server.jmap.admin_status import register_admin_status
from pochta.server.jmap.admin_unit import register_admin_unit
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_admin"]


def register_admin(registry: MethodRegistry) -> None:
    register_admin_domain(registry)
    register_admin_account(registry)
    register_admin_alias(registry)
    register_admin_queue(registry)
    register_admin_unit(registry)
    register_admin_dkim(registry)
    register_admin_dns(registry)
    register_admin_app_password(registry)
    register_admin_status(registry)
