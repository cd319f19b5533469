"""The rules of web and command-line administration, one owner each (issue 17): domains,
accounts, aliases, app passwords, the outbound queue. Each function takes the store (and the
settings where a rule reads them) and returns data, or raises ``AdminError`` with a message for
the operator. The ``pochta`` commands (``pochta.cli``) and the JMAP admin methods
(``pochta.server.jmap.admin_*``) are thin over it: parsing and printing, or JMAP objects."""

from pochta.admin.errors import AdminError, AdminErrorKind

__all__ = ["AdminError", "AdminErrorKind"]
