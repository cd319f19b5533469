"""IMAP and IMAPS: the asyncio side of ``pochta.proto.imap`` (see ``handler`` and ``commands``)."""

from pochta.server.imap.handler import ImapHandler, imap_handlers

__all__ = ["ImapHandler", "imap_handlers"]
