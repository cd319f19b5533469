"""Email/get, Email/changes, Thread/get and Thread/changes of ``urn:ietf:params:jmap:mail`` (RFC
8621), registered together (the other Mail methods register from their own modules,
``server/jmap/__init__``)."""

from __future__ import annotations

from pochta.proto.jmap import MAIL_CAPABILITY
from pochta.server.jmap.email_changes import email_changes
from pochta.server.jmap.email_get import email_get
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.jmap.thread_changes import thread_changes_method
from pochta.server.jmap.thread_get import thread_get

__all__ = ["register_mail"]


def register_mail(registry: MethodRegistry) -> None:
    registry.register("Email/get", MAIL_CAPABILITY, email_get)
    registry.register("Email/changes", MAIL_CAPABILITY, email_changes)
    registry.register("Thread/get", MAIL_CAPABILITY, thread_get)
    registry.register("Thread/changes", MAIL_CAPABILITY, thread_changes_method)
