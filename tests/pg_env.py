"""PostgreSQL for tests: one throw-away cluster per test process (``pochta.testing.pg_cluster``),
a template database built once at the schema's head, and a fresh database per test copied from it.

Under pytest-xdist every worker is its own process with its own session fixtures, so each starts
its own cluster in its own temp dir (about a second): nothing is shared, so nothing needs a lock.
The cluster is stopped and removed when that process exits.

Without the PostgreSQL server binaries the tests skip with the reason (``apt-get install
postgresql``); under ``POCHTA_REQUIRE_INTEROP=1`` (CI) they fail instead.

Use: ``import pg_env`` and ``pg_cluster = pg_env.pg_cluster`` (and ``pg_url``) in a test module:
pytest finds the fixtures in the module's namespace (an assignment, not an import, so that the
test functions' parameters of the same names are no redefinition to ruff).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from pochta.testing import pg_cluster as clusters

REQUIRE = os.environ.get("POCHTA_REQUIRE_INTEROP") == "1"
TEMPLATE = "pochta_template"

# Revisions 0042 to 0037 taken out by hand, for the tests that take a database at the head back
# to an earlier revision (each later revision's own statements before theirs).
UNDO_0038 = (
    "DROP TABLE mailbox_tombstones, account_emails, account_modseq; "
    "ALTER TABLE mailboxes DROP COLUMN created_modseq, DROP COLUMN meta_modseq"
)
UNDO_0037 = "DROP TABLE web_sessions"
UNDO_0039 = "DROP INDEX ix_membership_received"
UNDO_0040 = "DROP TABLE uploads"
UNDO_0041 = "DROP TABLE jmap_records, jmap_record_states"
UNDO_0042 = "ALTER TABLE mailboxes DROP COLUMN sort_order"
UNDO_AFTER_0036 = f"{UNDO_0042}; {UNDO_0041}; {UNDO_0040}; {UNDO_0039}; {UNDO_0038}; {UNDO_0037}"
_names = itertools.count(1)


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"PostgreSQL unavailable under POCHTA_REQUIRE_INTEROP=1: {reason}")
    pytest.skip(reason)


_shared: clusters.PgCluster | None = None


def shared_cluster() -> clusters.PgCluster:
    """This test process's cluster, started at first use with ``TEMPLATE`` created at the schema's
    head, and stopped when the process exits (``pg_cluster.start_cluster``): the store tests'
    fixture and the servers of POCHTA_TEST_STORE=postgresql (tests/store_env.py) share it. Skips
    (fails under POCHTA_REQUIRE_INTEROP=1) without PostgreSQL."""
    global _shared
    if _shared is None:
        reason = clusters.missing()
        if reason is not None:
            _unavailable(reason)
        try:
            import psycopg  # noqa: F401  (the driver: pip install 'pochta[postgresql]')
        except ImportError:
            _unavailable("psycopg is not installed: pip install 'pochta[postgresql]'")
        cluster = clusters.start_cluster()
        try:
            build_template(cluster)
        except BaseException:
            cluster.stop()
            raise
        _shared = cluster
    return _shared


@pytest.fixture(scope="session")
def pg_cluster() -> clusters.PgCluster:
    """This test process's cluster (``shared_cluster``)."""
    return shared_cluster()


def build_template(cluster: clusters.PgCluster) -> None:
    """The template every test database copies: the schema built once at the head."""
    from pochta.store.pg.schema import create_schema_sync

    url = cluster.create_database(TEMPLATE)
    create_schema_sync(url)


@pytest.fixture
def pg_url(pg_cluster: clusters.PgCluster) -> Iterator[str]:
    """A fresh database at the schema's head for this test, dropped after it."""
    name = f"t{os.getpid()}_{next(_names)}"
    url = pg_cluster.create_database(name, template=TEMPLATE)
    try:
        yield url
    finally:
        pg_cluster.drop_database(name)
