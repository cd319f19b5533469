"""POP3 and POP3S: the asyncio side of ``pochta.proto.pop3``."""

from pochta.server.pop3.handler import Pop3Handler

__all__ = ["Pop3Handler"]
