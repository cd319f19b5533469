"""The one error mailbox operations raise, carrying an RFC 5530 response code.

Protocol layers translate it: IMAP replies ``NO [<code>] <message>`` (``BAD`` for ``CLIENTBUG`` raised
on a syntax error, at the layer's discretion), POP3 ``-ERR`` with the message, JMAP a SetError.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Response codes of RFC 5530 §3 (also listed in RFC 9051 §7.1) plus a few from extensions."""

    NONEXISTENT = "NONEXISTENT"  # the thing to operate on does not exist
    ALREADYEXISTS = "ALREADYEXISTS"  # CREATE/RENAME target exists
    TRYCREATE = "TRYCREATE"  # RFC 9051 §6.3.12, §6.4.7: destination missing but could be created
    CANNOT = "CANNOT"  # violates an invariant of the server; can never succeed
    OVERQUOTA = "OVERQUOTA"  # the user would be over quota after the operation
    LIMIT = "LIMIT"  # an implementation limit (name length, keywords per mailbox ...)
    HASCHILDREN = "HASCHILDREN"  # DELETE of a mailbox with inferiors (RFC 9051 §6.3.5)
    INUSE = "INUSE"  # someone else holds what the operation needs; may succeed later
    CLIENTBUG = "CLIENTBUG"  # malformed request data (flag syntax ...)
    NOPERM = "NOPERM"  # access control forbids it
    SERVERBUG = "SERVERBUG"  # the server failed; not the client's fault
    UNAVAILABLE = "UNAVAILABLE"  # temporary failure of a subsystem
    CORRUPTION = "CORRUPTION"  # stored data found corrupt
    EXPUNGEISSUED = "EXPUNGEISSUED"
    USEATTR = "USEATTR"  # RFC 6154 §5.3: special-use attribute not supported
    TOOBIG = "TOOBIG"  # RFC 7889 §4 (APPENDLIMIT): message larger than allowed
    UNKNOWN_CTE = "UNKNOWN-CTE"  # RFC 3516 §4.4: binary content that cannot be stored


class OpsError(Exception):
    """A mailbox operation that cannot be done; ``code`` is an RFC 5530 response code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class InvalidMailboxName(OpsError):
    """A mailbox name that breaks the naming rules (pochta.mail.names)."""


class InvalidFlag(OpsError):
    """A flag or keyword that breaks the syntax of RFC 9051 §9 (pochta.mail.flags)."""
