"""Email/get, Email/changes, Thread/get and Thread/changes of ``urn:ietf:params:jmap:mail`` (RFC
8621), registered together (the other Mail methods register from their own modules,
``server/jmap/__init__``), and which capabilities are not advertised yet."""

from __future__ import annotations

from pochta.proto.jmap import MAIL_CAPABILITY
from pochta.proto.jmap.mdn import MDN_CAPABILITY
from pochta.proto.jmap.session import SUBMISSION_CAPABILITY
from pochta.proto.jmap.settings import SETTINGS_CAPABILITY
from pochta.proto.jmap.sieve import SIEVE_CAPABILITY
from pochta.proto.jmap.vacation import VACATION_CAPABILITY
from pochta.server.jmap.email_changes import email_changes
from pochta.server.jmap.email_get import email_get
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.jmap.thread_changes import thread_changes_method
from pochta.server.jmap.thread_get import thread_get

__all__ = ["IN_PROGRESS", "register_mail"]

# Capabilities whose methods are served to a client that names them in ``using`` but not
# advertised in the Session yet: RFC 8621's Mail is not complete (the webmail and its proof are
# to come), and a capability is advertised only when all its methods work. Submission (Identity,
# EmailSubmission), VacationResponse (RFC 8621 section 8) and Sieve (RFC 9661) wait with Mail,
# whose account they belong to, and MDN (RFC 9007) with them, and so does pochta's settings
# capability (MailFilter, Forwarding, ProtocolAccess, FetchAccount: server/jmap/settings_*.py).
IN_PROGRESS = frozenset(
    {
        MAIL_CAPABILITY,
        SUBMISSION_CAPABILITY,
        VACATION_CAPABILITY,
        SIEVE_CAPABILITY,
        MDN_CAPABILITY,
        SETTINGS_CAPABILITY,
    }
)


def register_mail(registry: MethodRegistry) -> None:
    registry.register("Email/get", MAIL_CAPABILITY, email_get)
    registry.register("Email/changes", MAIL_CAPABILITY, email_changes)
    registry.register("Thread/get", MAIL_CAPABILITY, thread_get)
    registry.register("Thread/changes", MAIL_CAPABILITY, thread_changes_method)
