"""Bringing mail in and out: the fetcher of external accounts (docs/fetch.md), import and export
(docs/import-export.md), and `pochta migrate` over IMAP (docs/migrate.md)."""

from pochta.fetch.fetcher import Fetcher, FetchReport
from pochta.fetch.schedule import run_fetch_scheduler

__all__ = ["FetchReport", "Fetcher", "run_fetch_scheduler"]
