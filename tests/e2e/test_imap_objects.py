"""OBJECTID (RFC 8474), SAVEDATE (RFC 8514) and PREVIEW (RFC 8970) over real sockets: exact lines,
a second session where the ids must hold across sessions (RENAME, COPY), imapclient, and a
``pochta reconstruct`` run that keeps every id and date."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime

import imapclient

from cli_env import ok, run
from imap_env import ALICE, PASSWORD, ImapEnv, ask, message, open_session
from pochta.store.sqlite.store import DB_FILE_NAME
from store_env import sqlite_only


def mail(mid: str, *, refs: str = "", body: str = "Hello there.", subject: str = "s") -> bytes:
    head = f"From: Bob <bob@example.org>\r\nTo: {ALICE}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
    if refs:
        head += f"References: {refs}\r\nIn-Reply-To: {refs.split()[-1]}\r\n"
    return (head + f"\r\n{body}\r\n").encode()


_ITEM = re.compile(rb"(EMAILID|THREADID|MAILBOXID) \(([A-Za-z0-9_-]+)\)|SAVEDATE \"([^\"]+)\"")


def ids(lines: list[bytes], name: bytes) -> list[str]:
    """The objectids of ``name`` in the FETCH/STATUS lines, in order."""
    return [m.group(2).decode() for line in lines for m in _ITEM.finditer(line) if m.group(1) == name]


async def test_capabilities(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        caps = (await ask(sock, b"c CAPABILITY"))[0].split()
    finally:
        sock.close()
    assert {b"OBJECTID", b"SAVEDATE", b"PREVIEW"} <= set(caps)


async def test_mailboxid_on_create_select_status_and_across_rename(env: ImapEnv) -> None:
    first, second = await open_session(env, select=b""), await open_session(env, select=b"")
    try:
        created = await ask(first, b"a CREATE Projects")
        found = re.fullmatch(rb"a OK \[MAILBOXID \((F[0-9]+)\)\] CREATE completed\r\n", created[-1])
        assert found is not None, created
        mailboxid = found.group(1)
        status = await ask(first, b"b STATUS Projects (MAILBOXID MESSAGES)")
        # Another session renames it: the id goes with the mailbox (RFC 8474 §4).
        assert (await ask(second, b"c RENAME Projects Work"))[-1] == b"c OK RENAME completed\r\n"
        renamed = await ask(first, b"d STATUS Work (MAILBOXID)")
        selected = await ask(first, b"e SELECT Work")
        examined = await ask(second, b"f EXAMINE Work")
        listed = await ask(first, b'g LIST "" Work RETURN (STATUS (MAILBOXID))')
        # A new mailbox of the old name is another mailbox; a deleted id never comes back.
        again = await ask(second, b"h CREATE Projects")
        await ask(second, b"i DELETE Projects")
        third = await ask(second, b"j CREATE Projects")
        inbox = await ask(first, b"k STATUS INBOX (MAILBOXID)")
    finally:
        first.close()
        second.close()
    assert status[0] == b"* STATUS Projects (MAILBOXID (%s) MESSAGES 0)\r\n" % mailboxid
    assert renamed[0] == b"* STATUS Work (MAILBOXID (%s))\r\n" % mailboxid
    line = b"* OK [MAILBOXID (%s)] Mailbox ID\r\n" % mailboxid
    assert line in selected  # RFC 8474 §4.2: SELECT and EXAMINE
    assert line in examined
    assert listed[1] == b"* STATUS Work (MAILBOXID (%s))\r\n" % mailboxid  # LIST-STATUS (RFC 5819)
    new_ids = [re.search(rb"MAILBOXID \((F[0-9]+)\)", reply[-1]) for reply in (again, third)]
    assert all(m is not None for m in new_ids)
    numbers = {m.group(1) for m in new_ids if m is not None}
    assert len(numbers) == 2
    assert mailboxid not in numbers
    assert ids(inbox, b"MAILBOXID") == [f"F{(await env.mailbox()).id}"]


async def test_emailid_and_threadid(env: ImapEnv) -> None:
    # The background indexer is stopped: THREADID is then computed when asked (never NIL).
    await env.store.stop_indexer()
    await env.deliver(mail("<root@example.org>"))  # 1
    await env.deliver(mail("<other@example.org>"))  # 2
    await env.deliver(mail("<reply@example.org>", refs="<root@example.org>"))  # 3
    first = await open_session(env, select=b"INBOX")
    second = await open_session(env, select=b"Archive")
    try:
        fetched = await ask(first, b"a FETCH 1:* (EMAILID THREADID)")
        emails, threads = ids(fetched, b"EMAILID"), ids(fetched, b"THREADID")
        # A reply appended by the client joins the thread of what it refers to.
        reply = mail("<late@example.org>", refs="<reply@example.org>")
        await ask(first, b"b APPEND INBOX {%d+}\r\n%s" % (len(reply), reply))
        appended = await ask(first, b"c FETCH 4 (THREADID EMAILID)")
        # COPY keeps the EMAILID (RFC 8474 §5.1) and the thread; the other session is told of it.
        copied = await ask(first, b"d COPY 1:3 Archive")
        told = await ask(second, b"e NOOP")
        in_archive = await ask(second, b"f FETCH 1:* (EMAILID THREADID)")
        by_email = await ask(second, b"g SEARCH EMAILID " + emails[1].encode())
        by_thread = await ask(second, b"h UID SEARCH THREADID " + threads[0].encode())
        none = await ask(second, b"i SEARCH OR EMAILID Mnone THREADID " + emails[0].encode())
        combined = await ask(
            first, b"j SEARCH THREADID %s NOT EMAILID %s" % (threads[0].encode(), emails[0].encode())
        )
    finally:
        first.close()
        second.close()
    assert fetched[-1] == b"a OK FETCH completed\r\n"
    assert len(set(emails)) == 3
    assert all(re.fullmatch(r"M[0-9]+", e) for e in emails)
    assert all(re.fullmatch(r"T[0-9]+", t) for t in threads)
    assert threads[0] == threads[2] != threads[1]
    assert ids(appended, b"THREADID") == [threads[0]]
    assert ids(appended, b"EMAILID")[0] not in emails
    assert copied[-1].startswith(b"d OK [COPYUID ")
    assert b"* 3 EXISTS\r\n" in told
    assert ids(in_archive, b"EMAILID") == emails
    assert ids(in_archive, b"THREADID") == threads
    assert by_email[0] == b"* SEARCH 2\r\n"
    assert by_thread[0] == b"* SEARCH 1 3\r\n"
    assert none[0] == b"* SEARCH\r\n"  # RFC 8474 §6: EMAILID and THREADID never match each other
    assert combined[0] == b"* SEARCH 3 4\r\n"


def _savedate(line: bytes) -> datetime:
    found = re.search(rb'SAVEDATE "([^"]+)"', line)
    assert found is not None, line
    return datetime.strptime(found.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")


async def test_savedate(env: ImapEnv) -> None:
    old = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    await env.deliver(message(1), date=old)
    sock = await open_session(env, select=b"INBOX")
    watcher = await open_session(env, select=b"Archive")
    try:
        data = message(2)
        appended = await ask(
            sock, b'a APPEND INBOX "01-Jan-1999 00:00:00 +0100" {%d+}\r\n%s' % (len(data), data)
        )
        fetched = await ask(sock, b"b FETCH 1:2 (INTERNALDATE SAVEDATE)")
        day = _savedate(fetched[0]).strftime("%d-%b-%Y").encode()
        searches = [
            await ask(sock, b"c%d SEARCH %s" % (n, key))
            for n, key in enumerate(
                [
                    b"SAVEDON " + day,
                    b"SAVEDSINCE " + day,
                    b"SAVEDBEFORE " + day,
                    b"SAVEDATESUPPORTED",
                    b"SAVEDBEFORE 1-Jan-2000",
                    b"BEFORE 1-Jan-2000",  # the internal date, which APPEND set
                    b"NOT SAVEDATESUPPORTED",
                ]
            )
        ]
        await asyncio.sleep(1.1)  # a later second
        moved = await ask(sock, b"d MOVE 1 Archive")
        await ask(watcher, b"e NOOP")
        after = await ask(watcher, b"f FETCH 1 (SAVEDATE INTERNALDATE)")
    finally:
        sock.close()
        watcher.close()
    assert appended[-1].startswith(b"a OK [APPENDUID ")
    assert b'INTERNALDATE " 3-Feb-2001 04:05:06 +0000"' in fetched[0]
    assert b'INTERNALDATE " 1-Jan-1999 00:00:00 +0100"' in fetched[1]
    # RFC 8514 §3: saved now, whatever internal date delivery or APPEND gave.
    saved = [_savedate(line) for line in fetched[:2]]
    now = datetime.now(UTC)
    assert all(abs((now - s).total_seconds()) < 60 for s in saved)
    assert [reply[0] for reply in searches] == [
        b"* SEARCH 1 2\r\n",
        b"* SEARCH 1 2\r\n",
        b"* SEARCH\r\n",
        b"* SEARCH 1 2\r\n",
        b"* SEARCH\r\n",
        b"* SEARCH 2\r\n",
        b"* SEARCH\r\n",
    ]
    assert moved[-1].endswith(b"MOVE completed\r\n")
    # A moved message is saved anew in its new mailbox; its internal date stays.
    assert _savedate(after[0]) > saved[0]
    assert b'INTERNALDATE " 3-Feb-2001 04:05:06 +0000"' in after[0]


HTML_ONLY = (
    b"From: bob@example.org\r\nSubject: html\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"<html><body><p>Caf=C3=A9&nbsp;menu:</p>\r\n<ul><li>tea</li><li>cake</li></ul></body></html>\r\n"
)
ALTERNATIVE = (
    b"From: bob@example.org\r\nSubject: alt\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlain   words\r\n  here.\r\n--b\r\n"
    b"Content-Type: text/html\r\n\r\n<p>HTML words</p>\r\n--b--\r\n"
)


async def test_preview(env: ImapEnv) -> None:
    await env.deliver(HTML_ONLY)
    await env.deliver(ALTERNATIVE)
    await env.deliver(b"Subject: empty\r\n\r\n")
    await env.deliver(message(4, b"x" * 300 + b"\r\n"))
    sock = await open_session(env, select=b"INBOX")
    try:
        plain = await ask(sock, b"a FETCH 1:4 (PREVIEW)")
        lazy = await ask(sock, b"b UID FETCH 1:3 (UID PREVIEW (LAZY) RFC822.SIZE)")
    finally:
        sock.close()
    assert plain[:4] == [
        # RFC 8970 §3.3: UTF-8, in a literal for a session without UTF8=ACCEPT.
        b"* 1 FETCH (PREVIEW {20}\r\n",
        "Café menu: tea cake)\r\n".encode(),
        b'* 2 FETCH (PREVIEW "Plain words here.")\r\n',
        b'* 3 FETCH (PREVIEW "")\r\n',  # RFC 8970 §3.2: nothing to show is "", not NIL
    ]
    assert plain[4] == b'* 4 FETCH (PREVIEW "' + b"x" * 200 + b'")\r\n'  # RFC 8970 §3.3: 200
    assert lazy[2].startswith(b'* 2 FETCH (UID 2 PREVIEW "Plain words here." RFC822.SIZE ')
    assert lazy[-1] == b"b OK UID FETCH completed\r\n"


@sqlite_only("damages a parse record in the database file")
async def test_preview_lazy_is_nil_only_when_it_would_wait(env: ImapEnv) -> None:
    # A parse record that cannot be read (damage, until reconstruct): LAZY answers NIL (RFC 8970
    # §4.1), the plain item parses the blob now (RFC 8970 §3.2: never NIL without LAZY).
    await env.deliver(message(1, b"Readable text.\r\n"))
    await env.deliver(message(2, b"Second.\r\n"))
    conn = sqlite3.connect(env.data_dir / DB_FILE_NAME, isolation_level=None)
    try:
        conn.execute("UPDATE messages SET parsed_json = x'7b6261' WHERE id = (SELECT min(id) FROM messages)")
    finally:
        conn.close()
    sock = await open_session(env, select=b"INBOX")
    try:
        lazy = await ask(sock, b"a FETCH 1:2 (PREVIEW (LAZY))")
        eager = await ask(sock, b"b FETCH 1 (PREVIEW)")
    finally:
        sock.close()
    assert lazy[:2] == [b"* 1 FETCH (PREVIEW NIL)\r\n", b'* 2 FETCH (PREVIEW "Second.")\r\n']
    assert eager[0] == b'* 1 FETCH (PREVIEW "Readable text.")\r\n'


async def test_imapclient(env: ImapEnv) -> None:
    await env.deliver(mail("<a@example.org>", body="First message."))
    await env.deliver(mail("<b@example.org>", refs="<a@example.org>", body="A reply."))

    def run_client() -> tuple[dict[int, dict[bytes, object]], list[int], dict[str, object]]:
        client = imapclient.IMAPClient(env.plain[0], port=env.plain[1], ssl=False, timeout=10)
        client.login(ALICE, PASSWORD)
        client.select_folder("INBOX")
        fetched = client.fetch([1, 2], ["EMAILID", "THREADID", "SAVEDATE", "PREVIEW"])
        thread = fetched[1][b"THREADID"]
        assert isinstance(thread, tuple)
        found = client.search(["THREADID", thread[0].decode()])
        status = client.folder_status("INBOX", ["MAILBOXID"])
        client.logout()
        return fetched, found, status

    fetched, found, status = await asyncio.to_thread(run_client)
    assert fetched[1][b"PREVIEW"] == b"First message."
    assert fetched[2][b"PREVIEW"] == b"A reply."
    assert fetched[1][b"THREADID"] == fetched[2][b"THREADID"]
    assert fetched[1][b"EMAILID"] != fetched[2][b"EMAILID"]
    assert re.fullmatch(rb"[ 0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} [0-9:]{8} \+0000", fetched[1][b"SAVEDATE"])  # type: ignore[arg-type]
    assert found == [1, 2]
    assert status[b"MAILBOXID"] == (b"F%d" % (await env.mailbox()).id,)  # type: ignore[index]


async def test_reconstruct_keeps_ids_and_dates(env: ImapEnv) -> None:
    await env.deliver(mail("<a@example.org>"), date=datetime(2010, 1, 1, tzinfo=UTC))
    await env.deliver(mail("<b@example.org>", refs="<a@example.org>"))
    await env.deliver(mail("<c@example.org>"))
    sock = await open_session(env, select=b"INBOX")
    try:
        await ask(sock, b"a COPY 2 Archive")
        query = b"FETCH 1:* (EMAILID THREADID SAVEDATE INTERNALDATE PREVIEW)"
        before = await ask(sock, b"b " + query)
        boxes = [await ask(sock, b"c STATUS %s (MAILBOXID)" % name) for name in (b"INBOX", b"Archive")]
        (env.data_dir / "pochta.toml").write_text("")  # the defaults: the store is all it reads
        rebuilt = await asyncio.to_thread(run, "reconstruct", data=env.data_dir)
        after = await ask(sock, b"d " + query)
        boxes_after = [await ask(sock, b"e STATUS %s (MAILBOXID)" % name) for name in (b"INBOX", b"Archive")]
        fresh = await open_session(env, select=b"INBOX")
        try:
            other = await ask(fresh, b"f " + query)
        finally:
            fresh.close()
    finally:
        sock.close()
    ok(rebuilt)
    assert before[:-1] == after[:-1] == other[:-1]
    assert len(before) == 4
    assert [reply[0] for reply in boxes] == [reply[0] for reply in boxes_after]
    assert len({reply[0] for reply in boxes}) == 2
