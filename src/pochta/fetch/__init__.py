"""Bringing mail in: the fetcher of external accounts (docs/fetch.md)."""

from pochta.fetch.fetcher import Fetcher, FetchReport
from pochta.fetch.schedule import run_fetch_scheduler

__all__ = ["FetchReport", "Fetcher", "run_fetch_scheduler"]
