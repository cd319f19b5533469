"""``pochta serve --workers 2``: a supervisor, two worker processes on the same listeners, and what
must hold across them (issue 10): IDLE pushes of a change made in the other worker, one
housekeeper, login lockouts that count across workers, a killed worker replaced with nothing
acknowledged lost, a killed supervisor taking its workers along, SIGHUP and SIGTERM forwarded.

Which worker serves a connection is the kernel's choice: a test opens connections until each
worker has one, telling them apart by the ``connect ... peer=127.0.0.1:PORT ... worker=N`` lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imap_env import exchange, read_line
from serve_process import ServeProcess, init_data_dir, run_pochta
from store_env import sqlite_only

PASSWORD = "correct horse battery"
ALICE = "alice@example.org"
LISTENERS = ("imap", "lmtp", "pop3")
_CONNECT = re.compile(r" connect .*")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    data = tmp_path / "data"
    init_data_dir(
        data,
        listeners=LISTENERS,
        accounts={ALICE: PASSWORD},
        config='[login]\nlockout_after = 4\nfailures_before_delay = 100\n[metrics]\nlisten = "127.0.0.1:0"\n',
    )
    process = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    process.wait_listening((*LISTENERS, "metrics"))
    yield process
    status = process.stop()
    assert status == 0, process.tail()
    assert process.failures() == [], process.tail()


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def worker_of(server: ServeProcess, sock: socket.socket) -> int:
    """The index of the worker that logged the connect of ``sock``."""
    port = sock.getsockname()[1]
    found: list[int] = []

    def logged() -> bool:
        for line in _CONNECT.findall(server.log_text()):
            if f"peer=127.0.0.1:{port} " in line + " ":
                match = re.search(r"worker=(\d+)", line)
                if match:
                    found.append(int(match.group(1)))
                    return True
        return False

    eventually(logged)
    return found[0]


def imap_session(server: ServeProcess, *, select: bool = True) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=20)
    assert read_line(sock).startswith(b"* OK")
    assert exchange(sock, f'L LOGIN {ALICE} "{PASSWORD}"'.encode())[-1].startswith(b"L OK")
    if select:
        assert exchange(sock, b"S SELECT INBOX")[-1].startswith(b"S OK")
    return sock


def one_on_each_worker(
    open_one: Callable[[], socket.socket], server: ServeProcess
) -> dict[int, socket.socket]:
    """Open sessions until both workers serve one; the others are closed at once (else they would
    count against the per-address connection limit of the worker the kernel keeps choosing)."""
    chosen: dict[int, socket.socket] = {}
    try:
        for attempt in range(200):
            if attempt and attempt % 40 == 0:
                time.sleep(0.5)  # a worker busy for a moment (indexer, snapshot) takes none meanwhile
            sock = open_one()
            index = worker_of(server, sock)
            if index in chosen:
                sock.close()
            else:
                chosen[index] = sock
            if len(chosen) == 2:
                break
        assert set(chosen) == {0, 1}, "the kernel never gave a connection to one of the workers"
    except BaseException:
        for sock in chosen.values():
            sock.close()
        raise
    return chosen


def lmtp_deliver(server: ServeProcess, count: int, tag: str = "m") -> list[int]:
    """Deliver ``count`` messages over LMTP (one session); the numbers acknowledged with 250."""
    acknowledged: list[int] = []
    with smtplib.LMTP("127.0.0.1", server.ports["lmtp"], timeout=30) as client:
        for n in range(count):
            body = (
                f"From: bob@example.net\r\nSubject: {tag} {n}\r\nMessage-ID: <{tag}{n}@t>\r\n\r\nbody {n}\r\n"
            )
            client.sendmail("bob@example.net", [ALICE], body.encode())
            acknowledged.append(n)
    return acknowledged


def read_until_match(sock: socket.socket, pattern: bytes, seconds: float = 10.0) -> bytes:
    sock.settimeout(seconds)
    seen = b""
    while pattern not in seen:
        line = read_line(sock)
        assert line, f"connection closed before {pattern!r}: {seen!r}"
        seen += line
    return seen


def idle(sock: socket.socket) -> None:
    sock.sendall(b"I IDLE\r\n")
    assert read_line(sock) == b"+ idling\r\n"


def test_changes_in_one_worker_are_pushed_to_idle_sessions_in_the_other(server: ServeProcess) -> None:
    sessions = one_on_each_worker(lambda: imap_session(server), server)
    for sock in sessions.values():
        idle(sock)
    # A delivery (served by whichever worker accepts the LMTP connection) reaches both.
    lmtp_deliver(server, 1)
    for sock in sessions.values():
        assert b"* 1 EXISTS" in read_until_match(sock, b"EXISTS")
    # A flag change made in worker 0 reaches the IDLE session of worker 1, and an expunge too.
    changer = sessions[0]
    assert exchange(changer, b"DONE", b"I")[-1].startswith(b"I OK")
    assert exchange(changer, b"F STORE 1 +FLAGS (\\Deleted)")[-1].startswith(b"F OK")
    assert b"\\Deleted" in read_until_match(sessions[1], b"FETCH")
    assert exchange(changer, b"E EXPUNGE")[-1].startswith(b"E OK")
    assert b"* 1 EXPUNGE" in read_until_match(sessions[1], b"EXPUNGE")
    for sock in sessions.values():
        sock.close()


def test_search_updates_follow_changes_made_in_the_other_worker(server: ServeProcess) -> None:
    """RFC 5267 §4.3: an UPDATE context in worker 1 hears of a delivery and of worker 0's STORE and
    EXPUNGE through the cross-process change feed, pushed during IDLE."""
    sessions = one_on_each_worker(lambda: imap_session(server), server)
    watcher, changer = sessions[1], sessions[0]
    try:
        assert exchange(watcher, b"U SEARCH RETURN (UPDATE) UNDELETED") == [
            b'* ESEARCH (TAG "U")\r\n',
            b"U OK SEARCH completed\r\n",
        ]
        idle(watcher)
        lmtp_deliver(server, 2, "ctx")
        seen = read_until_match(watcher, b"ADDTO")
        while b"ADDTO (0 1:2)" not in seen and b"ADDTO (0 2)" not in seen:
            seen += read_until_match(watcher, b"ADDTO")  # one delivery at a time, or both at once
        assert exchange(changer, b"N NOOP")[-1].startswith(b"N OK")
        assert exchange(changer, b"F STORE 1 +FLAGS.SILENT (\\Deleted)")[-1].startswith(b"F OK")
        assert b'* ESEARCH (TAG "U") REMOVEFROM (0 1)' in read_until_match(watcher, b"REMOVEFROM")
        assert exchange(changer, b"F STORE 1 -FLAGS.SILENT (\\Deleted)")[-1].startswith(b"F OK")
        assert b'* ESEARCH (TAG "U") ADDTO (0 1)' in read_until_match(watcher, b"ADDTO")
        assert exchange(changer, b"F STORE 2 +FLAGS.SILENT (\\Deleted)")[-1].startswith(b"F OK")
        assert exchange(changer, b"E EXPUNGE")[-1].startswith(b"E OK")
        pushed = read_until_match(watcher, b"EXPUNGE")
        assert b'* ESEARCH (TAG "U") REMOVEFROM (0 2)\r\n' in pushed
        assert pushed.index(b"REMOVEFROM") < pushed.index(b"* 2 EXPUNGE")  # RFC 5267 §4.3.4
        assert exchange(watcher, b"DONE", b"I")[-1].startswith(b"I OK")
    finally:
        for sock in sessions.values():
            sock.close()


def test_notify_sessions_hear_of_changes_made_in_the_other_worker(server: ServeProcess) -> None:
    """NOTIFY (RFC 5465) across processes: the account-wide feed subscription of a session in one
    worker gets the changes committed in the other (relayed by server.peers) and by delivery."""
    sessions = one_on_each_worker(lambda: imap_session(server), server)
    watcher, changer = sessions[1], sessions[0]
    got = exchange(
        watcher,
        b"N NOTIFY SET (selected (MessageNew (UID) MessageExpunge))"
        b" (personal (MessageNew MessageExpunge MailboxName))",
    )
    assert got[-1] == b"N OK NOTIFY completed\r\n"
    # A mailbox created and filled in worker 0: LIST, then one STATUS, told between commands.
    assert exchange(changer, b"C CREATE Work")[-1].startswith(b"C OK")
    assert read_until_match(watcher, b"Work") == b'* LIST (\\HasNoChildren) "/" Work\r\n'
    changer.sendall(b"A APPEND Work {6+}\r\nHi\r\n\r\n\r\n")
    assert read_line(changer).startswith(b"A OK")
    assert read_until_match(watcher, b"STATUS").startswith(
        b"* STATUS Work (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "
    )
    # A delivery to the selected INBOX: EXISTS and the FETCH asked for.
    lmtp_deliver(server, 1)
    assert read_until_match(watcher, b"FETCH").endswith(b"* 1 EXISTS\r\n* 1 RECENT\r\n* 1 FETCH (UID 1)\r\n")
    # An expunge in worker 0 (SELECTED: at once).
    assert b"* 1 EXISTS\r\n" in exchange(changer, b"N NOOP")
    assert exchange(changer, b"F STORE 1 +FLAGS.SILENT (\\Deleted)")[-1].startswith(b"F OK")
    assert exchange(changer, b"E EXPUNGE")[-1].startswith(b"E OK")
    assert read_until_match(watcher, b"EXPUNGE").endswith(b"* 1 EXPUNGE\r\n")
    for sock in sessions.values():
        sock.close()


def test_notify_metadata_changes_made_in_the_other_worker(server: ServeProcess) -> None:
    """NOTIFY's MailboxMetadataChange and ServerMetadataChange (RFC 5465 §5.6, §5.7) across processes:
    the entry names travel with the change relayed by server.peers."""
    sessions = one_on_each_worker(lambda: imap_session(server), server)
    watcher, changer = sessions[1], sessions[0]
    try:
        got = exchange(watcher, b"N NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))")
        assert got[-1] == b"N OK NOTIFY completed\r\n"
        got = exchange(changer, b'M SETMETADATA INBOX (/shared/comment "x" /private/mine "y")')
        assert got[-1] == b"M OK SETMETADATA completed\r\n"
        assert read_until_match(watcher, b"METADATA") == b"* METADATA INBOX /private/mine /shared/comment\r\n"
        assert exchange(changer, b'M SETMETADATA "" (/private/mine NIL /private/new "z")')[-1].startswith(
            b"M OK"
        )
        assert read_until_match(watcher, b"METADATA") == b'* METADATA "" /private/new\r\n'
    finally:
        for sock in sessions.values():
            sock.close()


def select_answer(sock: socket.socket, name: bytes) -> list[bytes]:
    """SELECT's own responses, from its FLAGS to its tagged reply (updates of the mailbox selected
    before come first, and are left out)."""
    reply = exchange(sock, b"S SELECT " + name)
    starts = [i for i, line in enumerate(reply) if line.startswith(b"* FLAGS ")]
    return reply[starts[0] :] if starts else reply[-1:]


def test_a_select_in_one_worker_sees_what_the_other_changed(server: ServeProcess) -> None:
    """Each worker answers a SELECT of a mailbox it has read, and not changed since, from its own
    view without reading the database (view_stamps): never with a view the other worker made old."""
    sessions = one_on_each_worker(lambda: imap_session(server), server)  # each worker read INBOX
    lmtp_deliver(server, 3)
    assert b"* 3 EXISTS\r\n" in exchange(sessions[0], b"N NOOP")
    assert exchange(sessions[0], b"F STORE 1:2 +FLAGS (\\Seen)")[-1].startswith(b"F OK")
    answers = [select_answer(sock, b"INBOX") for sock in (*sessions.values(), *sessions.values())]
    assert all(answer == answers[0] for answer in answers), answers  # read, then from the view
    assert b"* 3 EXISTS\r\n" in answers[0]
    assert any(b"[UNSEEN 3]" in line for line in answers[0])
    assert any(b"[UIDNEXT 4]" in line for line in answers[0])
    assert answers[0][-1].startswith(b"S OK [READ-WRITE]")
    # A rename and a delete in worker 0 of a mailbox that worker 1 holds a view of.
    assert exchange(sessions[0], b'C CREATE "Box"')[-1].startswith(b"C OK")
    for _ in range(2):
        assert select_answer(sessions[1], b"Box")[-1].startswith(b"S OK")
    assert exchange(sessions[0], b"R RENAME Box Box2")[-1].startswith(b"R OK")
    assert b"NONEXISTENT" in select_answer(sessions[1], b"Box")[-1]
    assert select_answer(sessions[1], b"Box2")[-1].startswith(b"S OK")
    assert select_answer(sessions[1], b"INBOX")[-1].startswith(b"S OK")
    assert exchange(sessions[0], b"D DELETE Box2")[-1].startswith(b"D OK")
    assert b"NONEXISTENT" in select_answer(sessions[1], b"Box2")[-1]
    for sock in sessions.values():
        sock.close()


def test_exactly_one_housekeeper_and_a_new_one_when_it_dies(server: ServeProcess) -> None:
    def housekeepers() -> list[str]:
        return re.findall(r"housekeeper task=housekeeper pid=(\d+)", server.log_text())

    eventually(lambda: len(housekeepers()) == 1)
    time.sleep(2.5)  # longer than server.housekeeper_retry: nobody else took it meanwhile
    assert len(housekeepers()) == 1
    first = int(housekeepers()[0])
    os.kill(first, signal.SIGKILL)
    eventually(lambda: len(housekeepers()) == 2)
    assert int(housekeepers()[1]) != first
    eventually(lambda: "worker restarted" in server.log_text())
    assert re.search(rf"worker died .*pid={first} .*status=.killed by SIGKILL", server.log_text())


def test_login_failures_count_across_workers(server: ServeProcess) -> None:
    """lockout_after = 4: four failures, wherever they land, lock the address out on both workers."""
    for _ in range(4):
        sock = imap_session_raw(server)
        reply = exchange(sock, f"L LOGIN {ALICE} wrong".encode())[-1]
        assert b"L NO" in reply
        sock.close()
    # Now every new attempt is refused, on either worker, even with the right password.
    refused = one_on_each_worker(lambda: imap_session_raw(server), server)
    for sock in refused.values():
        reply = exchange(sock, f'L LOGIN {ALICE} "{PASSWORD}"'.encode())[-1]
        assert reply.startswith(b"L NO"), reply
        sock.close()


def imap_session_raw(server: ServeProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=20)
    assert read_line(sock).startswith(b"* OK")
    return sock


def test_a_killed_worker_is_replaced_and_no_acknowledged_mail_is_lost(server: ServeProcess) -> None:
    acknowledged: list[str] = []
    stop = threading.Event()

    def load(tag: str) -> None:
        n = 0
        while not stop.is_set():
            try:
                with smtplib.LMTP("127.0.0.1", server.ports["lmtp"], timeout=30) as client:
                    for _ in range(5):
                        subject = f"{tag}-{n}"
                        body = f"From: b@example.net\r\nSubject: {subject}\r\n\r\nx\r\n"
                        client.sendmail("b@example.net", [ALICE], body.encode())
                        acknowledged.append(subject)
                        n += 1
            except (smtplib.SMTPException, OSError):
                n += 1  # a session cut by the kill: whatever it did not acknowledge may be lost

    threads = [threading.Thread(target=load, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: len(acknowledged) >= 20)
        workers = worker_pids(server.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        eventually(lambda: "worker restarted" in server.log_text())
        before = len(acknowledged)
        eventually(lambda: len(acknowledged) >= before + 20)  # served again after the restart
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert len(worker_pids(server.pid)) == 2
    sock = imap_session(server, select=False)
    exchange(sock, b"E EXAMINE INBOX")
    subjects = b"".join(exchange(sock, b"F FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    missing = [s for s in acknowledged if f"Subject: {s}\r\n".encode() not in subjects]
    assert missing == []
    sock.close()


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's children, from /proc."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def test_killing_the_supervisor_takes_the_workers_along(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data, listeners=("imap",), accounts={})
    process = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    port = process.wait_listening(["imap"])["imap"]
    workers = worker_pids(process.pid)
    assert len(workers) == 2
    process.kill()
    eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # And the data directory serves again at once.
    again = ServeProcess(data, tmp_path / "serve2.log", ["--workers=2"])
    again.wait_listening(["imap"])
    assert again.stop() == 0


def test_sighup_reaches_every_worker(server: ServeProcess) -> None:
    config = server.data / "pochta.toml"
    config.write_text(config.read_text().replace("lockout_after = 4", "lockout_after = 5"))
    run_pochta("config", "check", "--no-bind", "--data", str(server.data))
    os.kill(server.pid, signal.SIGHUP)
    eventually(lambda: len(re.findall(r"config changed .*key=login.lockout_after", server.log_text())) >= 2)
    changed = re.findall(r"config changed .*key=login.lockout_after.*worker=(\d+)", server.log_text())
    assert set(changed) == {"0", "1"}


def test_serve_takes_the_hard_limit_of_open_files(tmp_path: Path) -> None:
    """Each connection is a descriptor: a soft limit of 1,024 would end a busy server in EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 1024:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    data = tmp_path / "data"
    init_data_dir(data, listeners=("imap",), accounts={})
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        process = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])  # inherits the soft 1,024
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    process.wait_listening(["imap"])
    try:
        for pid in [process.pid, *worker_pids(process.pid)]:
            limits = Path(f"/proc/{pid}/limits").read_text()
            found = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
            assert found is not None, limits
            assert int(found.group(1)) == hard
    finally:
        assert process.stop() == 0


def pop3_session(server: ServeProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.ports["pop3"]), timeout=20)
    assert read_line(sock).startswith(b"+OK")
    return sock


def pop3_login(sock: socket.socket) -> bytes:
    sock.sendall(f"USER {ALICE}\r\n".encode())
    assert read_line(sock).startswith(b"+OK")
    sock.sendall(f"PASS {PASSWORD}\r\n".encode())
    return read_line(sock)


def test_the_pop3_maildrop_lock_holds_across_workers(server: ServeProcess) -> None:
    lmtp_deliver(server, 2)
    sessions = one_on_each_worker(lambda: pop3_session(server), server)
    try:
        assert pop3_login(sessions[0]).startswith(b"+OK")
        # RFC 2449 §8.1.1: the other worker's session finds the maildrop locked.
        assert pop3_login(sessions[1]).startswith(b"-ERR [IN-USE]")
        sessions[0].sendall(b"QUIT\r\n")
        assert read_line(sessions[0]).startswith(b"+OK")
    finally:
        for sock in sessions.values():
            sock.close()
    again = one_on_each_worker(lambda: pop3_session(server), server)
    try:
        assert pop3_login(again[1]).startswith(b"+OK")  # released: the other worker may take it now
    finally:
        for sock in again.values():
            sock.close()


def test_the_quota_holds_when_workers_deliver_at_once(tmp_path: Path) -> None:
    """Room for 5 messages; 4 LMTP sessions at once (spread over both workers) try 5 each: exactly
    as many as fit are accepted, the rest refused, and usage never passes the quota."""
    data = tmp_path / "data"
    init_data_dir(data, listeners=("lmtp", "imap"), accounts={ALICE: PASSWORD})
    size = 2000
    body = b"From: b@example.net\r\nSubject: q\r\n\r\n" + b"x" * (size - 40) + b"\r\n"
    run_pochta("user", "set", ALICE, "--quota", str(5 * (len(body) + 200)), "--data", str(data))
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    ports = server.wait_listening(["lmtp", "imap"])
    accepted: list[int] = []
    refused: list[int] = []

    def load() -> None:
        with smtplib.LMTP("127.0.0.1", ports["lmtp"], timeout=30) as client:
            for _ in range(5):
                try:
                    client.sendmail("b@example.net", [ALICE], body)
                    accepted.append(1)
                except smtplib.SMTPRecipientsRefused:
                    refused.append(1)
                except smtplib.SMTPDataError:
                    refused.append(1)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert len(accepted) + len(refused) == 20
        assert 1 <= len(accepted) <= 5
        sock = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=20)
        read_line(sock)
        exchange(sock, f'L LOGIN {ALICE} "{PASSWORD}"'.encode())
        status = exchange(sock, b"S STATUS INBOX (MESSAGES)")[0]
        assert f"MESSAGES {len(accepted)})".encode() in status
        sock.close()
    finally:
        assert server.stop() == 0


def test_recent_once_across_workers_whose_views_a_take_refreshes(tmp_path: Path) -> None:
    """RFC 3501 §2.3.2 across workers: a message is \\Recent in the first session that selects the
    mailbox, whichever worker serves it, and in no other. Each take of \\Recent refreshes the
    views of the mailbox in both workers (``store.view_snapshot_min_messages`` = 2 makes INBOX big
    enough for that): the later SELECTs are answered from those views, with the new boundary."""
    data = tmp_path / "data"
    config = "[store]\nview_snapshot_min_messages = 2\n"
    init_data_dir(data, listeners=("imap", "lmtp"), accounts={ALICE: PASSWORD}, config=config)
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    server.wait_listening(["imap", "lmtp"])
    try:
        sessions = one_on_each_worker(lambda: imap_session(server, select=False), server)
        lmtp_deliver(server, 3)
        first = select_answer(sessions[0], b"INBOX")
        assert {b"* 3 EXISTS\r\n", b"* 3 RECENT\r\n"} <= set(first), first
        for _ in range(2):  # read after the take, then from the refreshed view
            other = select_answer(sessions[1], b"INBOX")
            assert {b"* 3 EXISTS\r\n", b"* 0 RECENT\r\n"} <= set(other), other
            flags = exchange(sessions[1], b"F FETCH 1:* FLAGS")
            assert flags[-1].startswith(b"F OK"), flags
            assert not any(b"\\Recent" in line for line in flags), flags
        assert sum(b"\\Recent" in line for line in exchange(sessions[0], b"F FETCH 1:* FLAGS")) == 3
        lmtp_deliver(server, 2, tag="n")
        news = exchange(sessions[1], b"N NOOP")
        assert {b"* 5 EXISTS\r\n", b"* 2 RECENT\r\n"} <= set(news), news
        news = exchange(sessions[0], b"N NOOP")
        assert {b"* 5 EXISTS\r\n", b"* 3 RECENT\r\n"} <= set(news), news  # its own three stay
        for sock in (sessions[0], sessions[1], sessions[0]):
            again = select_answer(sock, b"INBOX")
            assert {b"* 5 EXISTS\r\n", b"* 0 RECENT\r\n"} <= set(again), again
        status = exchange(sessions[1], b"T STATUS INBOX (MESSAGES RECENT)")
        assert b"(MESSAGES 5 RECENT 0)" in status[0], status
        for sock in sessions.values():
            sock.close()
    finally:
        assert server.stop() == 0
    assert server.failures() == [], server.tail()


def test_acl_changes_in_one_worker_apply_to_sessions_in_the_other(tmp_path: Path) -> None:
    """RFC 4314: bob has alice's shared mailbox selected in each worker; alice takes his "w" away
    (PERMANENTFLAGS again in both), then his "r" (BYE [NOPERM] in both, at the next command)."""
    data = tmp_path / "data"
    bob = "bob@example.org"
    init_data_dir(data, listeners=("imap",), accounts={ALICE: PASSWORD, bob: PASSWORD})
    run_pochta("acl", "set", ALICE, "INBOX", bob, "lrw", "--data", str(data))
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    server.wait_listening(["imap"])
    shared = b'"Other Users/alice@example.org/INBOX"'

    def bob_session() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=20)
        assert read_line(sock).startswith(b"* OK")
        assert exchange(sock, f'L LOGIN {bob} "{PASSWORD}"'.encode())[-1].startswith(b"L OK")
        assert exchange(sock, b"S SELECT " + shared)[-1].startswith(b"S OK [READ-WRITE]")
        return sock

    try:
        sessions = one_on_each_worker(bob_session, server)
        alice = imap_session(server, select=False)
        assert exchange(alice, b"A SETACL INBOX bob@example.org lr")[-1].startswith(b"A OK")
        for sock in sessions.values():
            assert b"* OK [PERMANENTFLAGS ()] Flags permitted\r\n" in exchange(sock, b"N NOOP")
        assert exchange(alice, b"B DELETEACL INBOX bob@example.org")[-1].startswith(b"B OK")
        for sock in sessions.values():
            reply = exchange(sock, b"M NOOP")
            assert reply == [b"* BYE [NOPERM] Access to the selected mailbox was revoked\r\n"], reply
        for sock in (*sessions.values(), alice):
            sock.close()
    finally:
        status = server.stop()
    assert status == 0, server.tail()
    assert server.failures() == [], server.tail()


@sqlite_only("the per-process caches SQLite's workers warm for each other (PeerWarmedCaches)")
def test_a_snapshot_round_warms_the_other_workers_view(tmp_path: Path) -> None:
    """After a burst of deliveries the housekeeper stores the big mailbox's snapshot and tells the
    other worker (peer message ``snapshot``), which reads the view into its cache before any client
    opened it; a SELECT in either worker then shows every message."""
    data = tmp_path / "data"
    config = '[store]\nview_snapshot_min_messages = 2\nview_snapshot_interval = 0.2\n[log]\nlevel = "debug"\n'
    init_data_dir(data, listeners=("imap", "lmtp"), accounts={ALICE: PASSWORD}, config=config)
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    server.wait_listening(["imap", "lmtp"])
    try:
        lmtp_deliver(server, 4)
        eventually(lambda: "warming the view of mailbox" in server.log_text())
        sessions = one_on_each_worker(lambda: imap_session(server, select=False), server)
        for sock in sessions.values():
            answer = select_answer(sock, b"INBOX")
            assert b"* 4 EXISTS\r\n" in answer, answer
            sock.close()
    finally:
        assert server.stop() == 0
    assert server.failures() == [], server.tail()


@sqlite_only("the per-process caches SQLite's workers warm for each other (PeerWarmedCaches)")
def test_a_sort_or_thread_in_one_worker_has_the_other_keep_its_own(tmp_path: Path) -> None:
    """A SORT that built a kept order of a big mailbox, or a THREAD that kept an answer over all of
    it, in one worker has the other build its own in the background (``store.sort_cache_min_messages``
    = 2 makes INBOX big): both answer alike, before and after new mail."""
    data = tmp_path / "data"
    config = "[store]\nsort_cache_min_messages = 2\n"
    init_data_dir(data, listeners=("imap", "lmtp"), accounts={ALICE: PASSWORD}, config=config)
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    server.wait_listening(["imap", "lmtp"])
    commands = [
        b"UID SORT (SUBJECT) UTF-8 ALL",
        b"UID SORT (REVERSE DATE) UTF-8 ALL",
        b"THREAD REFERENCES UTF-8 ALL",
    ]
    try:
        lmtp_deliver(server, 4)
        sessions = one_on_each_worker(lambda: imap_session(server), server)
        first = [exchange(sessions[0], b"C " + command)[0] for command in commands]
        assert first[0] == b"* SORT 1 2 3 4\r\n", first

        def kept_by_the_other(kind: str) -> bool:
            return any(
                f"kind={kind}" in line and "worker=1" in line
                for line in server.log_text().splitlines()
                if "kept for a peer" in line
            )

        eventually(lambda: kept_by_the_other("order") and kept_by_the_other("thread"))
        assert [exchange(sessions[1], b"C " + command)[0] for command in commands] == first
        lmtp_deliver(server, 2, tag="a")
        for sock in sessions.values():
            assert exchange(sock, b"N NOOP")[-1].startswith(b"N OK")
        again = [[exchange(sock, b"C " + command)[0] for command in commands] for sock in sessions.values()]
        assert again[0] == again[1], again
        assert again[0][0] == b"* SORT 5 6 1 2 3 4\r\n", again
        for sock in sessions.values():
            sock.close()
    finally:
        assert server.stop() == 0
    assert server.failures() == [], server.tail()


def test_a_burst_of_lmtp_sessions_is_shared_between_the_workers(tmp_path: Path) -> None:
    """Ten LMTP sessions opened at once (as an MTA opens them) are served by both workers, about
    half each (server.accept): a worker with more sessions leaves a waiting connection to the other
    for accept_balance_wait (a second here, so that a busy machine cannot decide it) before it takes
    it itself. Without that, the worker awake first took the whole burst."""
    data = tmp_path / "data"
    init_data_dir(
        data, listeners=("lmtp",), accounts={ALICE: PASSWORD}, config="[server]\naccept_balance_wait = 1\n"
    )
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    ports = server.wait_listening(["lmtp"])
    socks = [socket.socket() for _ in range(10)]
    try:
        for sock in socks:
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", ports["lmtp"]))
        for sock in socks:
            sock.setblocking(True)
            sock.settimeout(20)
            assert read_line(sock).startswith(b"220 ")
        served = [worker_of(server, sock) for sock in socks]
        assert min(served.count(0), served.count(1)) >= 3, served
    finally:
        for sock in socks:
            sock.close()
        assert server.stop() == 0


@sqlite_only("the per-process caches SQLite's workers warm for each other (PeerWarmedCaches)")
def test_forms_a_fetch_read_in_one_worker_are_kept_by_the_other(tmp_path: Path) -> None:
    """A FETCH ENVELOPE in a big mailbox (``store.view_snapshot_min_messages`` = 2 here) that read kept
    wire forms from the database in one worker has the other read them into its own cache (peer
    message ``forms``): the same answer from both."""
    data = tmp_path / "data"
    config = '[log]\nlevel = "debug"\n[store]\nview_snapshot_min_messages = 2\n'
    init_data_dir(data, listeners=("imap", "lmtp"), accounts={ALICE: PASSWORD}, config=config)
    server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    server.wait_listening(["imap", "lmtp"])
    try:
        lmtp_deliver(server, 3)
        sessions = one_on_each_worker(lambda: imap_session(server), server)
        first = exchange(sessions[0], b"F FETCH 1:3 (ENVELOPE BODYSTRUCTURE)")
        assert first[-1].startswith(b"F OK"), first
        assert len(first) == 4, first

        def kept_by_the_other() -> bool:
            return any(
                "kind=forms" in line and "worker=1" in line
                for line in server.log_text().splitlines()
                if "kept for a peer" in line
            )

        eventually(kept_by_the_other)
        assert exchange(sessions[1], b"F FETCH 1:3 (ENVELOPE BODYSTRUCTURE)") == first
        for sock in sessions.values():
            sock.close()
    finally:
        assert server.stop() == 0
    assert server.failures() == [], server.tail()
