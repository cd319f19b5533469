"""What each capability tells in an account's ``accountCapabilities`` (RFC 8620 section 2), from
the settings that enforce it: one owner for the Session's per-account capability objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pochta.config import Settings
from pochta.proto.jmap import MAIL_CAPABILITY
from pochta.proto.jmap.blob import BLOB_CAPABILITY, blob_capability
from pochta.proto.jmap.mail.capability import MailCapability, attachments_within
from pochta.proto.jmap.session import SUBMISSION_CAPABILITY
from pochta.proto.jmap.sieve import SIEVE_CAPABILITY
from pochta.server.jmap.blob_methods import LOOKUP_TYPES
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.sieve_script import sieve_capability

__all__ = ["account_capabilities", "mail_capability"]


def mail_capability(settings: Settings, *, read_only: bool) -> MailCapability:
    """RFC 8621 section 1.3.1, from the limits Mailbox/set and Email/set, /import meet: they create
    and rename mailboxes and store messages through IMAP's operations (``pochta.mail.ops``)."""
    limits = settings.limits
    return MailCapability(
        # An Email in several Mailboxes is a copy in each (as IMAP COPY makes): no limit.
        max_mailboxes_per_email=None,
        max_mailbox_depth=limits.max_mailbox_depth,
        # IMAP's limit is of the whole name (all levels): a top-level Mailbox's name may have all
        # of it, a child's the rest (the RFC's "MAY still reject" of a deeper name).
        max_size_mailbox_name=limits.max_mailbox_name_bytes,
        max_size_attachments_per_email=attachments_within(limits.max_message_size),
        may_create_top_level_mailbox=not read_only,
    )


def account_capabilities(settings: Settings, account: JmapAccount) -> Mapping[str, Mapping[str, Any]]:
    """Capability URI -> the account's object for it; a capability not named here has ``{}``."""
    return {
        MAIL_CAPABILITY: mail_capability(settings, read_only=account.is_read_only).to_json(),
        # RFC 9404 section 3.1: maxSizeBlobSet SHOULD be maxSizeUpload (Blob/upload is bounded by it).
        # RFC 8621 section 1.3.2: submission has no delayed send (EmailSubmission is sent at once,
        # so undoStatus is always "final"), and no SMTP extension a client may use in an
        # envelope's parameters (pochta takes none: docs/jmap.md "Submission").
        SUBMISSION_CAPABILITY: {"maxDelayedSend": 0, "submissionExtensions": {}},
        # RFC 9661 section 1.3: the limits ManageSieve announces too ([sieve] settings).
        SIEVE_CAPABILITY: sieve_capability(settings),
        BLOB_CAPABILITY: blob_capability(
            max_size_blob_set=settings.jmap.max_size_upload,
            max_data_sources=settings.jmap.max_blob_data_sources,
            type_names=sorted(LOOKUP_TYPES),
        ),
    }
