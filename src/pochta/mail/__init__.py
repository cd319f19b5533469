"""Mailbox semantics shared by IMAP, POP3, JMAP and delivery (see ``ops``).

``names``: mailbox name rules and modified UTF-7; ``flags``: flag and keyword rules; ``errors``:
``OpsError`` with RFC 5530 codes; ``ops``: ``MailOps``, the operations themselves; ``quota``: the
quota rule and roots (RFC 9208); ``acl``: the rights model (RFC 4314); ``access``: other users'
mailboxes, the rights there and changes to an ACL (``MailOps.access``).
"""

from pochta.mail.errors import Code, InvalidFlag, InvalidMailboxName, OpsError
from pochta.mail.ops import MailOps

__all__ = ["Code", "InvalidFlag", "InvalidMailboxName", "MailOps", "OpsError"]
