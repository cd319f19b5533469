"""``[store] url``: which engine holds the store's metadata, checked when the settings load.

Forms (as SQLAlchemy spells them, which operators know from alembic and other tools):

- ``""`` (the default): SQLite, ``DATA/pochta.db`` in the data directory;
- ``sqlite:///PATH``: SQLite at PATH (relative to the data directory; ``sqlite:////abs/path`` is
  absolute). Today the file must be the data directory's ``pochta.db``: backups, restore and the
  blob reader find it there (``pochta.store.factory`` refuses another place with the reason);
- ``postgresql://...`` or ``postgresql+psycopg://...``: PostgreSQL through psycopg 3 (libpq's URL:
  ``postgresql://user:password@host:port/database``, or a UNIX socket with
  ``postgresql:///database?host=/run/postgresql``).

Pure (stdlib only): config is imported by the protocol cores' chain (tests/test_quality.py).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

__all__ = ["StoreUrl", "parse_store_url"]

_FORMS = (
    'expected "" (SQLite in the data directory), "sqlite:///PATH", "postgresql://USER@HOST/DATABASE" '
    'or "postgresql+psycopg://..."'
)


@dataclass(frozen=True)
class StoreUrl:
    engine: Literal["sqlite", "postgresql"]
    sqlite_path: str | None = None  # as written (relative to the data directory unless absolute)
    postgresql_url: str | None = None  # normalised to SQLAlchemy's psycopg 3 form


def parse_store_url(value: str) -> StoreUrl:
    """The engine and its address; ValueError with what is wrong and the accepted forms."""
    if value == "":
        return StoreUrl("sqlite")
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise ValueError(f"not a URL: {value!r}; {_FORMS}")
    scheme = scheme.lower()
    if scheme == "sqlite":
        return StoreUrl("sqlite", sqlite_path=_sqlite_path(rest))
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return StoreUrl("postgresql", postgresql_url=_postgresql_url(rest))
    if scheme.startswith(("postgresql+", "sqlite+")):
        driver = scheme.partition("+")[2]
        raise ValueError(f"driver {driver!r} is not supported: pochta uses psycopg 3 for PostgreSQL")
    raise ValueError(f"unknown store engine {scheme!r}; {_FORMS}")


def _sqlite_path(rest: str) -> str:
    # sqlite:///PATH: the host part (between // and the next /) is empty, the path follows it.
    if not rest.startswith("/") or len(rest) == 1:
        raise ValueError(
            'a SQLite URL names a file: "sqlite:///pochta.db" (in the data directory) '
            'or "sqlite:////absolute/path.db"'
        )
    if "?" in rest or "#" in rest:
        raise ValueError("a SQLite URL takes no options: pochta sets the database's own")
    path = rest[1:]
    if PurePosixPath(path).name in ("", ".", ".."):
        raise ValueError(f"a SQLite URL names a file, not a directory: {path!r}")
    return path


def _postgresql_url(rest: str) -> str:
    parts = urllib.parse.urlsplit("postgresql://" + rest)
    try:
        parts.port  # noqa: B018 (urllib checks the port only when asked)
    except ValueError as error:
        raise ValueError(f"bad port in the PostgreSQL URL: {error}") from None
    database = parts.path.lstrip("/")
    if not database:
        raise ValueError('the PostgreSQL URL names no database: "postgresql://USER@HOST/DATABASE"')
    if "/" in database:
        raise ValueError(f"bad database name in the PostgreSQL URL: {database!r}")
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(
            'the PostgreSQL URL names no server: "postgresql://USER@HOST/DATABASE", or a socket '
            'directory with "postgresql:///DATABASE?host=/run/postgresql"'
        )
    return "postgresql+psycopg://" + rest
