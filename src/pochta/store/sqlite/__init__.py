"""The embedded engine of the store: SQLite (WAL) beside content-addressed blob files. Its writer
thread and group commit, the pragmas, mailbox views and their snapshots, FETCH's wire forms, FTS5
search, sort keys and threads: the parts written for SQLite's driver. ``store`` holds
``SqliteStore`` and ``open_sqlite_store``."""
