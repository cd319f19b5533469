"""SMTP MX, submission(s) and LMTP: the asyncio side of ``pochta.proto.smtp``."""

from pochta.server.smtp.handler import SmtpHandler, smtp_handlers

__all__ = ["SmtpHandler", "smtp_handlers"]
