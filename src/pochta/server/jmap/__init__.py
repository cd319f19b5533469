"""The JMAP dispatcher (RFC 8620 section 3): the method registry, the request processor, the
context a handler gets, and the core methods. docs/jmap.md "Writing a method".

A method is an ``async def handler(context: CallContext, arguments: dict) -> dict``, registered
under its name and capability (``MethodRegistry.register``); it raises ``MethodError`` for an
error response, reads its arguments with ``pochta.proto.jmap.standard``'s parsers."""

from pochta.proto.jmap.settings import SETTINGS_CAPABILITY
from pochta.server.jmap.admin_methods import register_admin
from pochta.server.jmap.blob_copy import register_blob_copy
from pochta.server.jmap.blob_methods import register_blob_methods
from pochta.server.jmap.context import CallContext, RequestState
from pochta.server.jmap.core_methods import register_core
from pochta.server.jmap.email_copy import register_email_copy
from pochta.server.jmap.email_import import register_email_import
from pochta.server.jmap.email_parse import register_email_parse
from pochta.server.jmap.email_query import register_email_query
from pochta.server.jmap.email_query_changes import register_email_query_changes
from pochta.server.jmap.email_set import register_email_set
from pochta.server.jmap.email_submission import register_email_submission
from pochta.server.jmap.email_submission_query import register_email_submission_query
from pochta.server.jmap.identity import register_identity
from pochta.server.jmap.limits import ConcurrentRequests
from pochta.server.jmap.mail_methods import register_mail
from pochta.server.jmap.mailbox_get import register_mailbox_get
from pochta.server.jmap.mailbox_query import register_mailbox_query
from pochta.server.jmap.mailbox_set import register_mailbox_set
from pochta.server.jmap.mdn_methods import register_mdn
from pochta.server.jmap.principal import JmapAccount, Principal, principal_of
from pochta.server.jmap.processor import ERROR_RESPONSE, process_request
from pochta.server.jmap.push_subscription import register_push_subscription
from pochta.server.jmap.registry import Handler, Method, MethodRegistry
from pochta.server.jmap.search_snippet import register_search_snippet
from pochta.server.jmap.settings_access import register_settings_access
from pochta.server.jmap.settings_fetch import register_settings_fetch
from pochta.server.jmap.settings_rules import register_settings_rules
from pochta.server.jmap.sieve_script import register_sieve_script
from pochta.server.jmap.vacation_response import register_vacation_response

# Capabilities served to a client naming them in ``using`` but not advertised: pochta's settings
# capability until a user's FetchAccount targets and runs are limited (docs/jmap.md "Settings").
IN_PROGRESS = frozenset({SETTINGS_CAPABILITY})

__all__ = [
    "ERROR_RESPONSE",
    "IN_PROGRESS",
    "CallContext",
    "ConcurrentRequests",
    "Handler",
    "JmapAccount",
    "Method",
    "MethodRegistry",
    "Principal",
    "RequestState",
    "default_registry",
    "principal_of",
    "process_request",
    "register_core",
]


def default_registry() -> MethodRegistry:
    """Every method pochta serves (the mail methods join here as they are written)."""
    registry = MethodRegistry()
    register_core(registry)
    register_blob_copy(registry)  # RFC 8620 section 6.3
    register_mail(registry)
    register_mailbox_get(registry)
    register_mailbox_query(registry)
    register_mailbox_set(registry)
    register_email_query(registry)
    register_email_import(registry)
    register_email_parse(registry)
    register_email_set(registry)
    register_email_copy(registry)
    register_email_query_changes(registry)
    register_search_snippet(registry)
    register_blob_methods(registry)
    register_push_subscription(registry)  # RFC 8620 section 7.2: none is ever made
    register_vacation_response(registry)  # RFC 8621 section 8
    register_sieve_script(registry)  # RFC 9661
    register_identity(registry)  # RFC 8621 section 6
    register_email_submission(registry)  # RFC 8621 section 7
    register_email_submission_query(registry)
    register_admin(registry)  # urn:pochta:params:jmap:admin (docs/admin.md)
    register_mdn(registry)  # RFC 9007
    register_settings_rules(registry)  # urn:pochta:params:jmap:settings
    register_settings_access(registry)
    register_settings_fetch(registry)
    return registry
