"""Quota (RFC 9208) in the embedded store: the check inside the write, the two roots' usage, domain
limits, DELETED-STORAGE, and the recount of domain usage for ``reconstruct``.

An account's usage (``quota_usage``: octets and messages) moves by deltas in the transaction of each
change (``sqlite_mail.adjust_quota``); its domain's (``domain_quota_usage``) follows by triggers on
``quota_usage`` and ``accounts`` (revision 0017), so a delivery pays one one-row UPDATE by primary key
for it and no write path has to know. ``enforce_quota`` reads both roots' limits (the account's
own, else its nearest unit's: docs/units.md) and usage inside the writer's transaction (BEGIN
IMMEDIATE holds SQLite's write lock: no other writer, in this process or another, commits in
between) and raises QuotaExceeded before anything of the job is kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pochta.mail.quota import exceeds, refusal
from pochta.store.api import QuotaExceeded
from pochta.store.model import (
    AccountId,
    AccountQuota,
    MailboxId,
    QuotaLimits,
    QuotaUsage,
    ReconstructReport,
)
from pochta.store.schema import accounts, domain_quota_usage, domains, quota_usage
from pochta.store.sql.units import SQLITE_DIGITS, quota_sql
from pochta.store.sqlite.writer import driver_connection

# SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32766; stay well below it (each id is bound 3 times).
_CHUNK = 500

# Every account among the ids whose own root or domain's root has a limit, with both roots' usage.
# The account's limit is its own column, else its nearest unit's, each resource on its own; the
# placeholders are ``sql/units.quota_sql``'s (which says why units cost nothing while none sets a
# quota), the ids' form is the engine's.
LIMITED_SELECT = (
    "SELECT a.id, a.domain_id, {bytes}, {messages}, coalesce(q.bytes, 0), coalesce(q.messages, 0), "
    "d.quota_bytes, d.quota_messages, coalesce(u.bytes, 0), coalesce(u.messages, 0) "
    "FROM accounts AS a JOIN domains AS d ON d.id = a.domain_id "
    "LEFT JOIN quota_usage AS q ON q.account_id = a.id "
    "LEFT JOIN domain_quota_usage AS u ON u.domain_id = a.domain_id {unit_join} "
    "WHERE {gate} AND ({bytes} IS NOT NULL OR {messages} IS NOT NULL OR d.quota_bytes IS NOT NULL "
    "OR d.quota_messages IS NOT NULL) AND a.id {ids}"
)
# One account's two roots, limits (effective, as above) and usage: GETQUOTA, GETQUOTAROOT, the
# RCPT-time check.
ACCOUNT_QUOTA_SELECT = (
    "SELECT {bytes}, {messages}, coalesce(q.bytes, 0), coalesce(q.messages, 0), d.name, "
    "d.quota_bytes, d.quota_messages, coalesce(u.bytes, 0), coalesce(u.messages, 0) "
    "FROM accounts AS a JOIN domains AS d ON d.id = a.domain_id "
    "LEFT JOIN quota_usage AS q ON q.account_id = a.id "
    "LEFT JOIN domain_quota_usage AS u ON u.domain_id = a.domain_id {unit_join} "
    "WHERE {gate} AND a.id {ids}"
)
_SQL_ACCOUNT_QUOTA = quota_sql(ACCOUNT_QUOTA_SELECT, ids="= ?", integer="INTEGER", digits=SQLITE_DIGITS)
_LIMITED_BY_SIZE: dict[int, str] = {}  # the statement for n ids (sqlite3 caches each text's plan)


def _sql_limited(count: int) -> str:
    sql = _LIMITED_BY_SIZE.get(count)
    if sql is None:
        sql = quota_sql(
            LIMITED_SELECT, ids="IN (" + ",".join("?" * count) + ")", integer="INTEGER", digits=SQLITE_DIGITS
        )
        if len(_LIMITED_BY_SIZE) < 64:
            _LIMITED_BY_SIZE[count] = sql
    return sql


# RFC 9208 §4.1.4: the octets an EXPUNGE would give back; the partial index of \Deleted rows
# (revision 0013) makes this cost what is flagged, not the mailbox.
_SQL_DELETED_STORAGE = (
    "SELECT coalesce(sum(g.size), 0) FROM membership AS m JOIN messages AS g ON g.id = m.message_id "
    "WHERE m.mailbox_id = ? AND m.deleted"
)


def _chunked(items: Sequence[AccountId]) -> Iterator[Sequence[AccountId]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def enforce_quota(conn: Connection, additional: dict[AccountId, tuple[int, int]]) -> None:
    """QuotaExceeded naming every account that ``additional`` (octets, messages per account, not yet
    counted in its usage) would take past a limit of its own root or of its domain's, by THE rule
    (``mail.quota.exceeds``). Accounts of one domain are taken in id order, each counted against the
    domain with those before it that fit: the ones named are exactly those that do not fit, so a
    caller that stores for the others (delivery) stores all that the domain holds.

    Called from a writer job, so the usage read here is the committed usage plus the earlier jobs of
    this batch, and nothing else can commit before this job does: the check and the write are one.
    """
    growing = sorted(account for account, (octets, count) in additional.items() if octets > 0 or count > 0)
    if not growing:
        return
    raw = driver_connection(conn)
    rows: list[tuple[Any, ...]] = []
    for ids in _chunked(growing):
        # The ids three times: the unit chain's anchor, then each branch (``quota_sql``).
        rows += raw.execute(_sql_limited(len(ids)), (*ids, *ids, *ids)).fetchall()
    judge_quota(rows, additional)


def judge_quota(rows: Sequence[Sequence[Any]], additional: dict[AccountId, tuple[int, int]]) -> None:
    """``enforce_quota``'s rule over the rows of ``LIMITED_SELECT`` (account id, domain id, the
    account's effective limits and usage, the domain's limits and usage): pure, so that each
    engine reads the rows its own way (``pg/mail`` on PostgreSQL) and one function decides."""
    taken: dict[int, QuotaUsage] = {}  # per domain: what the accounts that fit add to it
    over: list[AccountId] = []
    reason = ""
    for row in sorted(tuple(row) for row in rows):
        account, domain_id = row[0], row[1]
        octets, count = additional[account]
        before = taken.get(domain_id, QuotaUsage())
        domain_used = QuotaUsage(row[8] + before.bytes, row[9] + before.messages)
        # RFC 9208 §3.1.2: a write that would take usage past a limit of either root fails.
        own = exceeds(QuotaLimits(row[2], row[3]), QuotaUsage(row[4], row[5]), octets, count)
        domain = exceeds(QuotaLimits(row[6], row[7]), domain_used, octets, count)
        if own is None and domain is None:
            taken[domain_id] = QuotaUsage(before.bytes + octets, before.messages + count)
            continue
        if own is not None:
            reason = reason or refusal(own, domain=False)
        elif domain is not None:
            reason = reason or refusal(domain, domain=True)
        over.append(account)
    if over:
        raise QuotaExceeded(over, reason)


def account_quota(conn: Connection, account_id: AccountId) -> AccountQuota | None:
    row = driver_connection(conn).execute(_SQL_ACCOUNT_QUOTA, (account_id,) * 3).fetchone()
    if row is None:
        return None
    a_bytes, a_messages, a_used, a_count, domain, d_bytes, d_messages, d_used, d_count = row
    return AccountQuota(
        QuotaLimits(a_bytes, a_messages),
        QuotaUsage(int(a_used), int(a_count)),
        domain,
        QuotaLimits(d_bytes, d_messages),
        QuotaUsage(int(d_used), int(d_count)),
    )


def domain_quota(conn: Connection, name: str) -> tuple[QuotaLimits, QuotaUsage] | None:
    row = conn.execute(
        select(
            domains.c.quota_bytes,
            domains.c.quota_messages,
            domain_quota_usage.c.bytes,
            domain_quota_usage.c.messages,
        )
        .select_from(domains)
        .outerjoin(domain_quota_usage, domain_quota_usage.c.domain_id == domains.c.id)
        .where(domains.c.name == name.lower())
    ).first()
    if row is None:
        return None
    return QuotaLimits(row[0], row[1]), QuotaUsage(int(row[2] or 0), int(row[3] or 0))


def deleted_storage(conn: Connection, mailbox_id: MailboxId) -> int:
    row = driver_connection(conn).execute(_SQL_DELETED_STORAGE, (mailbox_id,)).fetchone()
    return int(row[0]) if row is not None else 0


def recount_domains(conn: Connection, report: ReconstructReport, apply: bool) -> None:
    """Domain usage re-derived from the accounts' usage (after that is recounted); a domain whose row
    is missing or wrong counts in ``report.quota_changed``."""
    sums: dict[int, tuple[int, int]] = {}
    for domain_id, used, count in conn.execute(
        select(accounts.c.domain_id, quota_usage.c.bytes, quota_usage.c.messages).join_from(
            accounts, quota_usage, quota_usage.c.account_id == accounts.c.id
        )
    ):
        total = sums.get(domain_id, (0, 0))
        sums[domain_id] = (total[0] + int(used), total[1] + int(count))
    stored: dict[int, tuple[int, int]] = {
        row.domain_id: (int(row.bytes), int(row.messages)) for row in conn.execute(select(domain_quota_usage))
    }
    for (domain_id,) in conn.execute(select(domains.c.id)).all():
        expected = sums.get(domain_id, (0, 0))
        have = stored.get(domain_id)
        if have == expected:
            continue
        report.quota_changed += 1
        if not apply:
            continue
        octets, count = expected
        if have is None:
            conn.execute(insert(domain_quota_usage).values(domain_id=domain_id, bytes=octets, messages=count))
        else:
            conn.execute(
                update(domain_quota_usage)
                .where(domain_quota_usage.c.domain_id == domain_id)
                .values(bytes=octets, messages=count)
            )
