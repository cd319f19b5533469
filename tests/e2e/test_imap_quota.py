"""QUOTA (RFC 9208): GETQUOTAROOT, GETQUOTA, SETQUOTA, STATUS DELETED-STORAGE and OVERQUOTA on
APPEND/COPY for both resources and both roots, line by line over raw sockets and with imapclient."""

from __future__ import annotations

import asyncio
import socket

import imapclient
import pytest

from imap_env import ALICE, BOB, PASSWORD, ImapEnv, ask, message, open_session, read_line
from pochta.store.account_settings import QUOTA_BYTES, QUOTA_MESSAGES
from pochta.store.model import QuotaLimits, QuotaUsage


def send_append(sock: socket.socket, tag: bytes, *messages: bytes) -> list[bytes]:
    """APPEND (MULTIAPPEND with several) to INBOX, waiting for each ``+``; the lines after the last."""
    pending = tag + b" APPEND INBOX"
    for data in messages:
        sock.sendall(pending + b" {%d}\r\n" % len(data))
        first = read_line(sock)
        if not first.startswith(b"+"):
            return [first]
        pending = data
    sock.sendall(pending + b"\r\n")
    lines = [read_line(sock)]
    while not lines[-1].startswith(tag + b" "):
        lines.append(read_line(sock))
    return lines


async def append(sock: socket.socket, tag: bytes, *messages: bytes) -> list[bytes]:
    return await asyncio.to_thread(send_append, sock, tag, *messages)


def kib(octets: int) -> int:
    return -(-octets // 1024)


async def test_capabilities_advertise_quota(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        caps = (await ask(sock, b"c CAPABILITY"))[0].split()
    finally:
        sock.close()
    # RFC 9208 §3.1.1, §1: one QUOTA=RES- per resource counted, QUOTASET with SETQUOTA.
    for cap in (b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE", b"QUOTASET"):
        assert cap in caps


async def test_getquotaroot_lists_the_limited_roots_with_their_quota(env: ImapEnv) -> None:
    size = len(message(1))
    await env.deliver(message(1))
    await env.deliver(message(2), account=env.bob)
    sock = await open_session(env, select=b"")
    try:
        unlimited = await ask(sock, b"a GETQUOTAROOT INBOX")
        unlimited_root = await ask(sock, b'b GETQUOTA ""')
        await env.store.update_account(ALICE, quota_bytes=10 * 1024, quota_messages=5)
        await env.store.set_domain_quota("example.org", quota_messages=100)
        limited = await ask(sock, b"c GETQUOTAROOT INBOX")
        missing_box = await ask(sock, b"d GETQUOTAROOT Later")  # RFC 9208 §4.1.2: need not exist
        own = await ask(sock, b'e GETQUOTA ""')
        by_address = await ask(sock, b"f GETQUOTA alice@example.org")
        domain = await ask(sock, b"g GETQUOTA EXAMPLE.ORG")
        other_user = await ask(sock, b"h GETQUOTA bob@example.org")
        other_domain = await ask(sock, b"i GETQUOTA example.net")
        bad_name = await ask(sock, b'j GETQUOTAROOT "/top"')
        bad_syntax = await ask(sock, b"k GETQUOTA")
    finally:
        sock.close()
    # RFC 9208 §4.2.2: a mailbox with no root (nothing limited); §4.2.1: an empty list, no limits.
    assert unlimited == [b"* QUOTAROOT INBOX\r\n", b"a OK GETQUOTAROOT completed\r\n"]
    assert unlimited_root == [b'* QUOTA "" ()\r\n', b"b OK GETQUOTA completed\r\n"]
    # STORAGE in units of 1024 octets (§5.1), MESSAGE exact (§5.2); the domain's root counts bob too.
    assert limited == [
        b'* QUOTAROOT INBOX "" example.org\r\n',
        b'* QUOTA "" (STORAGE %d 10 MESSAGE 1 5)\r\n' % kib(size),
        b"* QUOTA example.org (MESSAGE 2 100)\r\n",
        b"c OK GETQUOTAROOT completed\r\n",
    ]
    assert missing_box[0] == b'* QUOTAROOT Later "" example.org\r\n'
    assert own == [b'* QUOTA "" (STORAGE %d 10 MESSAGE 1 5)\r\n' % kib(size), b"e OK GETQUOTA completed\r\n"]
    assert by_address[0] == b"* QUOTA alice@example.org (STORAGE %d 10 MESSAGE 1 5)\r\n" % kib(size)
    assert domain == [b"* QUOTA EXAMPLE.ORG (MESSAGE 2 100)\r\n", b"g OK GETQUOTA completed\r\n"]
    # Another account's or domain's root does not exist for a user who is no administrator.
    assert other_user == [b"h NO [NONEXISTENT] No such quota root\r\n"]
    assert other_domain == [b"i NO [NONEXISTENT] No such quota root\r\n"]
    assert bad_name == [b"j NO [CANNOT] Mailbox names may not begin with '/'\r\n"]
    assert bad_syntax[-1].startswith(b"k BAD ")


async def test_setquota_by_an_administrator_and_refused_for_a_user(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    watcher = await open_session(env, select=b"", user=BOB.encode())
    try:
        refused = await ask(sock, b'a SETQUOTA "" (STORAGE 100)')
        refused_bad_resource = await ask(sock, b'b SETQUOTA "" (MAILBOX 3)')
        await env.store.update_account(ALICE, admin=True)
        for_bob = await ask(sock, b"c SETQUOTA bob@example.org (STORAGE 100 MESSAGE 3)")
        bob_sees = await ask(watcher, b"d GETQUOTAROOT INBOX")
        for_domain = await ask(sock, b"e SETQUOTA example.org (message 7)")
        cannot = await ask(sock, b'f SETQUOTA "" (MAILBOX 3)')
        # RFC 9208 §4.1.3: limits not named are removed.
        replaced = await ask(sock, b"g SETQUOTA bob@example.org (MESSAGE 4)")
        cleared = await ask(sock, b"h SETQUOTA bob@example.org ()")
        nobody = await ask(sock, b"i SETQUOTA nobody@example.org (MESSAGE 1)")
        twice = await ask(sock, b'j SETQUOTA "" (MESSAGE 1 MESSAGE 2)')
        no_limit = await ask(sock, b'k SETQUOTA "" (STORAGE)')
        too_big = await ask(sock, b'l SETQUOTA "" (STORAGE 9223372036854775807)')
        past_64 = await ask(sock, b'm SETQUOTA "" (STORAGE 9223372036854775808)')
    finally:
        sock.close()
        watcher.close()
    assert refused == [b"a NO [NOPERM] Only administrators may set quotas\r\n"]
    assert refused_bad_resource == [b"b NO [NOPERM] Only administrators may set quotas\r\n"]
    assert for_bob == [
        b"* QUOTA bob@example.org (STORAGE 0 100 MESSAGE 0 3)\r\n",
        b"c OK SETQUOTA completed\r\n",
    ]
    # Bob, in his own session, sees the limits the administrator set on his root.
    assert bob_sees[:2] == [b'* QUOTAROOT INBOX ""\r\n', b'* QUOTA "" (STORAGE 0 100 MESSAGE 0 3)\r\n']
    assert for_domain == [b"* QUOTA example.org (MESSAGE 0 7)\r\n", b"e OK SETQUOTA completed\r\n"]
    assert cannot == [b"f NO [CANNOT] Resource MAILBOX cannot be limited here\r\n"]
    assert replaced[0] == b"* QUOTA bob@example.org (MESSAGE 0 4)\r\n"
    assert cleared[0] == b"* QUOTA bob@example.org ()\r\n"
    assert nobody == [b"i NO [NONEXISTENT] No such quota root\r\n"]
    assert twice[-1].startswith(b"j BAD ")
    assert no_limit[-1].startswith(b"k BAD ")
    assert too_big == [b"l NO [LIMIT] STORAGE limit too large\r\n"]
    assert past_64[-1].startswith(b"m BAD ")
    bob = await env.store.get_account(BOB)
    assert bob is not None
    assert (bob.quota_bytes, bob.quota_messages) == (None, None)
    assert await env.store.domain_quota("example.org") == (QuotaLimits(None, 7), QuotaUsage())


@pytest.mark.parametrize("root", ["account", "domain"])
@pytest.mark.parametrize("resource", ["STORAGE", "MESSAGE"])
async def test_overquota_on_append_and_copy_move_allowed(env: ImapEnv, root: str, resource: str) -> None:
    size = len(message(1))
    await env.deliver(message(1))
    if root == "domain":
        await env.deliver(message(9), account=env.bob)  # the domain's root counts bob's message too
    quota = await env.store.account_quota(env.alice.id)
    assert quota is not None
    used = quota.account_used if root == "account" else quota.domain_used
    # Full for this resource: room for nothing more (STORAGE: less than one more message).
    limit = used.bytes + size // 2 if resource == "STORAGE" else used.messages
    if root == "account":
        if resource == "STORAGE":
            await env.store.update_account(ALICE, quota_bytes=limit)
        else:
            await env.store.update_account(ALICE, quota_messages=limit)
    elif resource == "STORAGE":
        await env.store.set_domain_quota("example.org", quota_bytes=limit)
    else:
        await env.store.set_domain_quota("example.org", quota_messages=limit)
    expected = b"%s exceeded (%s)" % (b"Quota" if root == "account" else b"Domain quota", resource.encode())
    sock = await open_session(env, select=b"INBOX")
    try:
        appended = await append(sock, b"a", message(2))
        copied = await ask(sock, b"b COPY 1 Archive")
        uid_copied = await ask(sock, b"c UID COPY 1 Archive")
        # RFC 6851: MOVE within the account leaves the usage as it is, so it is never over quota.
        moved = await ask(sock, b"d MOVE 1 Archive")
    finally:
        sock.close()
    # RFC 9208 §4.3.1: NO [OVERQUOTA] on APPEND and COPY.
    assert appended[-1] == b"a NO [OVERQUOTA] " + expected + b"\r\n"
    assert copied == [b"b NO [OVERQUOTA] " + expected + b"\r\n"]
    assert uid_copied == [b"c NO [OVERQUOTA] " + expected + b"\r\n"]
    assert moved[-1] == b"d OK MOVE completed\r\n"
    assert await env.uids("Archive") == [1]
    after = await env.store.account_quota(env.alice.id)
    assert after is not None
    assert after.account_used == QuotaUsage(size, 1)


async def test_overquota_on_multiappend_counts_the_messages_together(env: ImapEnv) -> None:
    await env.store.update_account(ALICE, quota_messages=1)
    sock = await open_session(env, select=b"")
    try:
        both = await append(sock, b"a", message(1), message(2))
        single = await append(sock, b"b", message(3))
    finally:
        sock.close()
    assert both == [b"a NO [OVERQUOTA] Quota exceeded (MESSAGE)\r\n"]  # RFC 3502 §3: neither stored
    assert single[-1].startswith(b"b OK [APPENDUID ")
    assert len(await env.uids()) == 1


async def test_status_deleted_storage(env: ImapEnv) -> None:
    sizes = [len(message(n)) for n in (1, 2, 3)]
    for n in (1, 2, 3):
        await env.deliver(message(n), flags=["\\Deleted"] if n != 2 else [])
    sock = await open_session(env, select=b"")
    try:
        status = await ask(sock, b"a STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)")
        none = await ask(sock, b"b STATUS Archive (DELETED-STORAGE)")
        listed = await ask(sock, b'c LIST "" INBOX RETURN (STATUS (DELETED-STORAGE))')
    finally:
        sock.close()
    # RFC 9208 §4.1.4: the octets an EXPUNGE would give back.
    deleted = sizes[0] + sizes[2]
    assert status == [
        b"* STATUS INBOX (MESSAGES 3 DELETED 2 DELETED-STORAGE %d)\r\n" % deleted,
        b"a OK STATUS completed\r\n",
    ]
    assert none[0] == b"* STATUS Archive (DELETED-STORAGE 0)\r\n"
    assert listed[1] == b"* STATUS INBOX (DELETED-STORAGE %d)\r\n" % deleted


async def test_imapclient_get_quota_root_get_quota_and_set_quota(env: ImapEnv) -> None:
    size = len(message(1))
    await env.deliver(message(1), account=env.bob)
    await env.store.update_account(ALICE, admin=True)
    await env.store.set_domain_quota("example.org", quota_bytes=1024 * 1024)

    def run() -> tuple[object, ...]:
        client = imapclient.IMAPClient(*env.plain, ssl=False, timeout=10)
        try:
            client.login(ALICE, PASSWORD)
            before = client.get_quota_root("INBOX")
            set_result = client.set_quota([imapclient.imapclient.Quota("bob@example.org", "MESSAGE", 0, 10)])
            raw = client._get_quota("bob@example.org")
            quotas = client.get_quota("INBOX")
            return before, set_result, raw, quotas
        finally:
            client.logout()

    before, set_result, raw, quotas = await asyncio.to_thread(run)
    Quota = imapclient.imapclient.Quota
    roots = imapclient.imapclient.MailboxQuotaRoots
    assert before == (roots("INBOX", ["example.org"]), [Quota("example.org", "STORAGE", kib(size), 1024)])
    assert set_result == [Quota("bob@example.org", "MESSAGE", 1, 10)]
    assert raw == [Quota("bob@example.org", "MESSAGE", 1, 10)]
    assert quotas == [Quota("example.org", "STORAGE", kib(size), 1024)]
    bob = await env.store.get_account(BOB)
    assert bob is not None
    assert bob.quota_messages == 10


async def test_a_units_quota_is_the_accounts_storage_limit(env: ImapEnv) -> None:
    # docs/units.md: quota.bytes / quota.messages set on a unit are the limits of the account's own
    # root for every account below it without limits of its own; a client sees them as its quota.
    size = len(message(1))
    await env.deliver(message(1))
    await env.store.add_unit("staff")
    await env.store.set_account_unit(ALICE, "staff")
    await env.store.set_unit_settings("staff", {QUOTA_BYTES.name: size + size // 2, QUOTA_MESSAGES.name: 50})
    limit_kib = kib(size + size // 2)  # RFC 9208 §5.1: in units of 1024 octets
    sock = await open_session(env, select=b"INBOX")
    try:
        roots = await ask(sock, b"a GETQUOTAROOT INBOX")
        own = await ask(sock, b'b GETQUOTA ""')
        appended = await append(sock, b"c", message(2))
        copied = await ask(sock, b"d COPY 1 Archive")
        # An administrator's SETQUOTA sets the account's own limit, which wins over the unit's ...
        await env.store.update_account(ALICE, admin=True)
        raised = await ask(sock, b'e SETQUOTA "" (STORAGE 1000)')
        appended_after = await append(sock, b"f", message(2))
        # ... and once removed the account follows its unit again.
        cleared = await ask(sock, b'g SETQUOTA "" ()')
        again = await ask(sock, b'h GETQUOTA ""')
    finally:
        sock.close()
    assert roots == [
        b'* QUOTAROOT INBOX ""\r\n',
        b'* QUOTA "" (STORAGE %d %d MESSAGE 1 50)\r\n' % (kib(size), limit_kib),
        b"a OK GETQUOTAROOT completed\r\n",
    ]
    assert own[0] == b'* QUOTA "" (STORAGE %d %d MESSAGE 1 50)\r\n' % (kib(size), limit_kib)
    assert appended[-1] == b"c NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"
    assert copied == [b"d NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"]
    # Each resource on its own: the unit's MESSAGE limit still holds beside her own STORAGE.
    assert raised[0] == b'* QUOTA "" (STORAGE %d 1000 MESSAGE 1 50)\r\n' % kib(size)
    assert appended_after[-1].startswith(b"f OK [APPENDUID ")
    assert cleared[-1] == b"g OK SETQUOTA completed\r\n"
    assert again[0] == b'* QUOTA "" (STORAGE %d %d MESSAGE 2 50)\r\n' % (kib(2 * size), limit_kib)
