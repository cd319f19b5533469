"""The ``MetaData`` every table of the store is defined on (``schema``, ``schema_features``), with
deterministic constraint names."""

from __future__ import annotations

from sqlalchemy import MetaData

__all__ = ["metadata"]

# Deterministic constraint names, so that later migrations can refer to them (and batch mode on
# SQLite can recreate tables).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
