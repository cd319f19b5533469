"""Bringing mail in and out: the fetcher of external accounts, import, export and migration."""
