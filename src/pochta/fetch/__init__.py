"""Bringing mail in: the fetcher of external accounts, import/export, and ``pochta migrate`` over
IMAP (``imap_remote``, ``migrate``)."""
