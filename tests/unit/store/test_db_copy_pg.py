"""``pochta.store.db_copy`` from a SQLite installation into PostgreSQL: every table arrives (the
engines' types apart: booleans, octet strings), the verification passes, the triggers' counters are
the source's, and the sequences continue after the copied ids. (Serving the copy needs the mail core
on PostgreSQL: docs/scaling.md.)"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, select

import pg_env
from pochta.config import Settings
from pochta.store import db_copy, schema
from pochta.store.factory import open_store
from pochta.store.pg.store import open_pg_store
from pochta.store.sqlite.engine import make_engine
from pochta.testing.store_suite import deliver, mailbox, make_account, make_message

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url


async def _installation(data: Path) -> Path:
    store = await open_store(data, Settings())
    try:
        alice = await make_account(store, "alice@example.org")
        await store.add_alias("team@example.org", ["alice@example.org"])
        inbox = await mailbox(store, alice)
        for n in range(1, 13):
            await deliver(
                store, make_message(f"s{n}", f"text {n}", n), inbox.id, flags={"\\Seen"} if n % 2 else ()
            )
        await store.expunge(inbox.id, [3, 4])
        await store.set_account_settings("alice@example.org", {"pop3.enabled": False})
    finally:
        await store.close()
    return data / "pochta.db"


async def test_sqlite_installation_copied_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    source = make_engine(await _installation(tmp_path / "data"), 5.0, writer=False)
    target = create_engine(pg_url)
    try:
        with source.connect() as s, s.begin(), target.connect() as t, t.begin():
            report = db_copy.copy_database(s, t)
            db_copy.after_copy(t)
            checks = db_copy.verify(s, t)
            assert [c.name for c in checks if not c.same] == []
            assert report.rows_by_table["membership"] == 10
            assert report.rows_by_table["expunged"] == 2
        with target.connect() as t:
            highest = t.execute(select(schema.domains.c.id)).scalars().all()
    finally:
        source.dispose()
        target.dispose()
    # The directory works on the copy, and new rows get new ids (sequences moved past the copy's).
    store = await open_pg_store(pg_url, tmp_path / "pg", Settings())
    try:
        alice = await store.get_account("alice@example.org")
        assert alice is not None
        assert alice.settings.allows("pop3") is False
        added = await store.add_domain("example.net")
        assert added.id > max(highest)
        bob = await make_account(store, "bob@example.net")
        assert bob.id > alice.id
    finally:
        await store.close()
