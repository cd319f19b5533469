"""The methods of ``urn:ietf:params:jmap:mail`` (RFC 8621) written so far, registered together."""

from __future__ import annotations

from pochta.proto.jmap import MAIL_CAPABILITY
from pochta.proto.jmap.session import SUBMISSION_CAPABILITY
from pochta.server.jmap.email_changes import email_changes
from pochta.server.jmap.email_get import email_get
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.jmap.thread_changes import thread_changes_method
from pochta.server.jmap.thread_get import thread_get

__all__ = ["IN_PROGRESS", "register_mail"]

# Capabilities whose methods are served to a client that names them in ``using`` but not
# advertised in the Session yet: RFC 8621's Mail is not complete (Email/import, uploads,
# submission are still to come), and a capability is advertised only when all its methods work.
# Submission (Identity, EmailSubmission) waits with Mail: a client that may send wants both.
IN_PROGRESS = frozenset({MAIL_CAPABILITY, SUBMISSION_CAPABILITY})


def register_mail(registry: MethodRegistry) -> None:
    registry.register("Email/get", MAIL_CAPABILITY, email_get)
    registry.register("Email/changes", MAIL_CAPABILITY, email_changes)
    registry.register("Thread/get", MAIL_CAPABILITY, thread_get)
    registry.register("Thread/changes", MAIL_CAPABILITY, thread_changes_method)
