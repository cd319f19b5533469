"""Mailbox semantics shared by IMAP, POP3, JMAP and delivery (see ``ops``).

``names``: mailbox name rules and modified UTF-7; ``flags``: flag and keyword rules; ``errors``:
``OpsError`` with RFC 5530 codes; ``ops``: ``MailOps``, the operations themselves; ``quota``: the
quota rule and roots (RFC 9208); ``acl``: the rights model (RFC 4314); ``access``: other users'
mailboxes, the rights there and changes to an ACL (``MailOps.access``).

Import ``MailOps`` from ``pochta.mail.ops``: this package's face names only what is pure, because
the pure cores (``proto``, ``sieve``) use ``flags`` and ``acl``, and importing any module of the
package runs this file first (``ops`` imports the store and asyncio).
"""

from pochta.mail.errors import Code, InvalidFlag, InvalidMailboxName, OpsError

__all__ = ["Code", "InvalidFlag", "InvalidMailboxName", "OpsError"]
