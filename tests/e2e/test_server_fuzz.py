"""Fuzzing the whole server: hypothesis-driven sessions against a running ``pochta serve``.

One server process (SMTP, submission, LMTP, IMAP, POP3, ManageSieve on 127.0.0.1) serves the whole
module. Each example opens a session, brings it into one protocol state with valid commands (IMAP
before login,
after login, with a mailbox selected, in IDLE, in an AUTHENTICATE exchange, inside an APPEND literal,
and with a hostile MIME message just APPENDed; POP3 in AUTHORIZATION, TRANSACTION and an AUTH
exchange; SMTP, submission and LMTP before EHLO, after MAIL, in DATA, in a BDAT chunk, and
submission in an AUTH exchange; ManageSieve before and after login and in an AUTHENTICATE
exchange), then sends a mix of valid and hostile lines (``tests/fuzz_wire.py``:
random bytes, overlong lines, bad and huge literals, NUL, bare CR and LF, unicode, huge numbers,
deep parentheses, sequence sets like 1:4294967295 ...), and either half-closes and reads every
reply until the server closes, or (one session in four) vanishes with a RST a moment later. A
second test interleaves two IMAP sessions and a POP3 session of one account (FETCH, STORE,
EXPUNGE, MOVE, COPY, IDLE, RENAME, DELETE, DELE + QUIT against each other's changes). Then:

- every reply is well formed for its protocol: tagged, untagged (``*``) or continuation (``+``)
  IMAP responses with their literals; SMTP replies of three digits, multi-line replies with one
  code; POP3 ``+OK``/``-ERR``/``+ `` lines and dot-terminated multi-line bodies; nothing after
  the last CRLF, no NUL or bare CR/LF inside a line;
- the server did not hang: it closed the session within a deadline after the client's EOF;
- the server log holds no traceback and no failed session;
- a probe from another address delivers a message to bob over LMTP (250) and then logs in over
  IMAP and finds every message acknowledged to bob so far, byte for byte (nothing acknowledged is
  lost, and the server keeps serving others).

The default suite runs a few examples per state; the ``slow`` variant many more (300 per state, or
``POCHTA_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_wire import (
    ALICE,
    BOB,
    CHECKS,
    MESSAGES,
    PASSWORD,
    PLAIN,
    SCRIPTS,
    Raw,
    check_imap,
    check_managesieve,
    check_pop3,
    check_smtp,
)
from serve_process import FAILURE_MARKERS, ServeProcess, init_data_dir

LISTENERS = ("smtp", "submission", "lmtp", "imap", "pop3", "managesieve")
# No login throttling (the fuzzer fails logins on purpose) and no outbound delivery (a fuzzed
# submission to a remote domain must stay on this machine: the queue worker is off).
CONFIG = """
[server]
max_connections_per_ip = 10000
idle_timeout_unauthenticated = 20.0

[login]
failures_before_delay = 1000000
lockout_after = 1000000

[smtp]
max_messages_per_connection = 0

[queue]
worker = false
"""
EOF_DEADLINE = 20.0  # seconds the server may take to answer everything and close after our EOF
SEED_MESSAGES = [
    b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: plain\r\n"
    b"Message-ID: <plain@fuzz.example>\r\n\r\nHello, Alice.\r\n",
    b"From: =?utf-8?q?B=C3=B6b?= <bob@example.org>\r\nTo: alice@example.org\r\nSubject: mixed\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n"
    b"--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "почта".encode() + b"\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
    b"--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n"
    b"--inner\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--inner--\r\n"
    b"--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"AAECAwQFBgcICQ==\r\n--outer--\r\n",
]


# -- the server ----------------------------------------------------------------------------------------


@dataclass
class FuzzServer:
    process: ServeProcess
    ports: dict[str, int]
    ledger: dict[str, bytes] = field(default_factory=dict)  # token -> message acknowledged to bob
    log_checked: int = 0  # characters of the log already checked

    def new_failures(self) -> list[str]:
        text = self.process.log_text()
        fresh, self.log_checked = text[self.log_checked :], len(text)
        return [line for line in fresh.splitlines() if _is_failure(line)]


def _is_failure(line: str) -> bool:
    return any(marker in line for marker in FAILURE_MARKERS)


def _lmtp_deliver(port: int, recipient: str, message: bytes, source: str) -> None:
    raw = Raw(port, source)
    try:
        raw.until(rb"^220 .*\r\n")
        for command, code in (
            (b"LHLO probe.example", rb"\r\n250 [^\r\n]*\r\n$"),
            (b"MAIL FROM:<probe@example.net>", rb"250 [^\r\n]*\r\n$"),
            (f"RCPT TO:<{recipient}>".encode(), rb"250 [^\r\n]*\r\n$"),
            (b"DATA", rb"354 [^\r\n]*\r\n$"),
        ):
            raw.received = b""
            raw.send(command + b"\r\n")
            raw.until(code)
        raw.received = b""
        raw.send(message + b".\r\n")
        reply = raw.until(rb"\d{3} [^\r\n]*\r\n$")
        assert reply.startswith(b"250 "), reply
        raw.send(b"QUIT\r\n")
    finally:
        raw.close()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    data = root / "data"
    init_data_dir(data, listeners=LISTENERS, accounts={ALICE: PASSWORD, BOB: PASSWORD}, config=CONFIG)
    process = ServeProcess(data, root / "server.log")
    try:
        server = FuzzServer(process, process.wait_listening(LISTENERS))
        for message in SEED_MESSAGES:  # something for FETCH, SEARCH, RETR ... to work on
            _lmtp_deliver(server.ports["lmtp"], ALICE, message, "127.0.0.2")
        yield server
        probe(server, everything=True)
    finally:
        status = process.stop()
    assert status == 0, process.tail()
    assert not [line for line in process.log_text().splitlines() if _is_failure(line)]


def probe(server: FuzzServer, everything: bool = False) -> None:
    """Deliver one more message to bob, then find it over IMAP, from 127.0.0.2. Every 25th probe
    (and with ``everything``) finds every message acknowledged to bob so far, byte for byte."""
    token = secrets.token_hex(8)
    message = (
        f"From: <probe@example.net>\r\nTo: <{BOB}>\r\nSubject: ledger {token}\r\n"
        f"X-Ledger: {token}\r\n\r\nledger message {token}\r\n"
    ).encode()
    _lmtp_deliver(server.ports["lmtp"], BOB, message, "127.0.0.2")
    server.ledger[token] = message
    everything = everything or len(server.ledger) % 25 == 0
    raw = Raw(server.ports["imap"], "127.0.0.2")
    try:
        raw.until(rb"^\* OK .*\r\n")
        which = b"1:*" if everything else b"*"
        raw.send(
            f"a LOGIN {BOB} {PASSWORD}\r\nb SELECT INBOX\r\n".encode()
            + b"c FETCH "
            + which
            + b" BODY.PEEK[]\r\n"
        )
        text = raw.until(rb"\r\nc (OK|NO|BAD) [^\r\n]*\r\n", timeout=30)
        for tag in (b"a", b"b", b"c"):
            assert b"\r\n" + tag + b" OK" in text, text[-1000:]
        raw.send(b"d LOGOUT\r\n")
    finally:
        raw.close()
    wanted = server.ledger if everything else {token: message}
    missing = [key for key, value in wanted.items() if value not in text]
    assert not missing, f"acknowledged messages missing: {missing}"


# -- reaching a state --------------------------------------------------------------------------------------


def _imap_enter(raw: Raw, state: str, message: bytes) -> None:
    raw.until(rb"^\* OK [^\r\n]*\r\n")
    if state == "authenticate":
        raw.send(b"a1 AUTHENTICATE PLAIN\r\n")
        raw.until(rb"\r\n\+[^\r\n]*\r\n$")
        return
    if state == "greeting":
        return
    raw.send(f"a1 LOGIN {ALICE} {PASSWORD}\r\n".encode())
    raw.until(rb"\r\na1 OK[^\r\n]*\r\n")
    if state in ("selected", "idle", "message"):
        raw.send(b"a2 SELECT INBOX\r\n")
        raw.until(rb"\r\na2 OK[^\r\n]*\r\n")
    if state == "message":  # a hostile message, then the script FETCHes and SEARCHes it
        raw.send(b"a3 APPEND INBOX {%d}\r\n" % len(message))
        answer = raw.until(rb"\r\n(\+|a3 (NO|BAD))[^\r\n]*\r\n$")
        if answer.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1].startswith(b"+"):  # a NO: too big or empty
            raw.send(message + b"\r\n")
            raw.until(rb"\r\na3 (OK|NO|BAD)[^\r\n]*\r\n")
    if state == "idle":
        raw.send(b"a3 IDLE\r\n")
        raw.until(rb"\r\n\+[^\r\n]*\r\n$")
    if state == "append":
        raw.send(b"a3 APPEND INBOX (\\Seen) {300}\r\n")
        raw.until(rb"\r\n\+[^\r\n]*\r\n$")


def _pop3_enter(raw: Raw, state: str) -> None:
    raw.until(rb"^\+OK [^\r\n]*\r\n")
    if state == "transaction":
        raw.send(f"USER {ALICE}\r\nPASS {PASSWORD}\r\n".encode())
        raw.until(rb"\r\n\+OK[^\r\n]*\r\n\+OK[^\r\n]*\r\n$")
    elif state == "auth":
        raw.send(b"AUTH PLAIN\r\n")
        raw.until(rb"\r\n\+ [^\r\n]*\r\n$")


def _sieve_enter(raw: Raw, state: str) -> None:
    raw.until(rb"\r\nOK [^\r\n]*\r\n$")
    if state == "authenticated":
        raw.send(f'AUTHENTICATE "PLAIN" "{PLAIN}"\r\n'.encode())
        raw.until(rb"\r\nOK [^\r\n]*\r\n$")
    elif state == "authenticate":
        raw.send(b'AUTHENTICATE "PLAIN"\r\n')
        raw.until(rb'\r\n""\r\n$')


def _smtp_enter(raw: Raw, state: str, listener: str) -> None:
    raw.until(rb"^220 [^\r\n]*\r\n")
    if state == "greeting":
        return
    hello = b"LHLO" if listener == "lmtp" else b"EHLO"
    raw.send(hello + b" fuzz.example\r\n")
    raw.until(rb"\r\n250 [^\r\n]*\r\n$")
    if state == "auth":
        raw.send(b"AUTH PLAIN\r\n")
        raw.until(rb"\r\n334 [^\r\n]*\r\n$")
        return
    sender = ALICE if listener == "submission" else "carol@example.net"
    if listener == "submission":
        raw.send(f"AUTH PLAIN {PLAIN}\r\n".encode())
        raw.until(rb"\r\n235 [^\r\n]*\r\n$")
    raw.send(f"MAIL FROM:<{sender}>\r\n".encode())
    raw.until(rb"\r\n250 [^\r\n]*\r\n$")
    if state == "mail":
        return
    raw.send(f"RCPT TO:<{ALICE}>\r\n".encode())
    raw.until(rb"\r\n250 [^\r\n]*\r\n$")
    if state == "data":
        raw.send(b"DATA\r\n")
        raw.until(rb"\r\n354 [^\r\n]*\r\n$")
    elif state == "bdat":
        raw.send(b"BDAT 300\r\n")  # the fuzz bytes are the chunk (and whatever follows it)


# -- the tests ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    listener: str
    state: str

    @property
    def protocol(self) -> str:
        return {"imap": "imap", "pop3": "pop3", "managesieve": "managesieve"}.get(self.listener, "smtp")


CASES = [
    *(
        Case("imap", s)
        for s in ("greeting", "authenticated", "selected", "idle", "authenticate", "append", "message")
    ),
    *(Case("pop3", s) for s in ("authorization", "transaction", "auth")),
    *(
        Case(listener, s)
        for listener in ("smtp", "lmtp", "submission")
        for s in ("greeting", "mail", "data", "bdat")
    ),
    Case("submission", "auth"),
    *(Case("managesieve", s) for s in ("greeting", "authenticated", "authenticate")),
]


@dataclass(frozen=True)
class Session:
    """What one example does after reaching its state."""

    script: list[bytes]
    reset_after: float | None  # None: half-close and read every reply; else drop with a RST
    message: bytes  # for the IMAP "message" state: APPENDed first, then the script works on it


def sessions(case: Case) -> st.SearchStrategy[Session]:
    return st.builds(
        Session,
        SCRIPTS[case.protocol],
        st.one_of(st.none(), st.none(), st.none(), st.sampled_from([0.0, 0.001, 0.01, 0.05])),
        MESSAGES if case.state == "message" else st.just(b""),
    )


def run_session(server: FuzzServer, case: Case, session: Session) -> None:
    raw = Raw(server.ports[case.listener])
    try:
        if case.protocol == "imap":
            _imap_enter(raw, case.state, session.message)
        elif case.protocol == "pop3":
            _pop3_enter(raw, case.state)
        elif case.protocol == "managesieve":
            _sieve_enter(raw, case.state)
        else:
            _smtp_enter(raw, case.state, case.listener)
        try:
            for chunk in session.script:
                raw.send(chunk)
            if session.reset_after is None:
                raw.sock.shutdown(socket.SHUT_WR)
        except OSError:  # EPIPE, ECONNRESET, ENOTCONN
            pass  # the server may close first (too many errors, an overlong line): its replies are read
        if session.reset_after is not None:
            time.sleep(session.reset_after)
            raw.abort()  # the client vanishes in the middle of whatever the server is doing
        else:
            closed = raw.to_eof(EOF_DEADLINE)
            assert closed, f"{case}: the server did not close the session {EOF_DEADLINE}s after EOF"
            CHECKS[case.protocol](raw.received, complete=not raw.reset)
    finally:
        raw.close()
    failures = server.new_failures()
    assert not failures, f"{case}: the server logged:\n" + "\n".join(failures)
    probe(server)


# -- two IMAP sessions and a POP3 session of one account, interleaved -----------------------------------

SHARED_COMMANDS = [
    b"FETCH 1:* (FLAGS UID)", b"FETCH 2 (BODY[] ENVELOPE)", b"FETCH * (BODYSTRUCTURE BINARY[1])",
    b"FETCH 1,3 BODY.PEEK[HEADER]", b"STORE 1 +FLAGS (\\Deleted)", b"STORE 2:3 -FLAGS.SILENT (\\Seen)",
    b"STORE * +FLAGS ($Fuzz)", b"UID STORE 1:* +FLAGS (\\Deleted)", b"EXPUNGE", b"UID EXPUNGE 1:*",
    b"MOVE 1 Trash", b"COPY 1:* Archive", b"UID MOVE * Archive", b"UID COPY 1:2 INBOX", b"SEARCH ALL",
    b"UID SEARCH DELETED", b"NOOP", b"CHECK", b"SELECT INBOX", b"EXAMINE INBOX", b"SELECT Archive",
    b"CLOSE", b"UNSELECT", b"STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)", b"IDLE", b"DELETE Archive",
    b"CREATE Archive", b"RENAME Archive Archive2", b"RENAME Archive2 Archive", b"DELETE INBOX",
    b"APPEND INBOX {26+}\r\nSubject: new\r\n\r\nnew mail\r\n",  # the step adds the final CRLF
    b"LIST \"\" * RETURN (STATUS (MESSAGES))",
    b"REPLACE 1 INBOX {26+}\r\nSubject: new\r\n\r\nnew mail\r\n",  # RFC 8508
    b"UID REPLACE * Archive {26+}\r\nSubject: new\r\n\r\nnew mail\r\n",
    b"ESEARCH IN (personal) RETURN (MIN COUNT) UNSEEN", b"ESEARCH RETURN (PARTIAL -1:-2) ALL",  # 7377, 9394
    b"UID FETCH 1:* (FLAGS) (PARTIAL 1:2)", b"SEARCH YOUNGER 3600",  # RFC 9394, RFC 5032
]  # fmt: skip
POP3_SHARED = [b"STAT", b"LIST", b"UIDL", b"RETR 1", b"TOP 2 0", b"DELE 1", b"DELE 2", b"RSET", b"QUIT"]
STEPS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["A", "B"]), st.sampled_from(SHARED_COMMANDS)),
        st.tuples(st.just("P"), st.sampled_from(POP3_SHARED)),
    ),
    min_size=1,
    max_size=25,
)


class ImapActor:
    """One logged-in IMAP session with INBOX selected; each step waits for its tagged reply."""

    def __init__(self, port: int) -> None:
        self.raw = Raw(port)
        self.raw.until(rb"^\* OK [^\r\n]*\r\n")
        self.tags = 0
        self.idling: bytes | None = None
        self.step(f"LOGIN {ALICE} {PASSWORD}".encode())
        self.step(b"SELECT INBOX")

    def step(self, command: bytes) -> None:
        if self.idling is not None:
            self.raw.send(b"DONE\r\n")
            self.raw.until(rb"\r\n" + self.idling + rb" (OK|NO|BAD)[^\r\n]*\r\n", timeout=EOF_DEADLINE)
            self.idling = None
        self.tags += 1
        tag = b"s%d" % self.tags
        start = len(self.raw.received)
        self.raw.send(tag + b" " + command + b"\r\n")
        if command == b"IDLE":
            pattern = rb"(^|\r\n)(\+|" + tag + rb" (NO|BAD))[^\r\n]*\r\n"
            found = self.raw.until(pattern, timeout=EOF_DEADLINE, start=start)[start:]
            if not re.search(rb"(^|\r\n)" + tag + rb" (NO|BAD)", found):
                self.idling = tag
            return
        self.raw.until(rb"(^|\r\n)" + tag + rb" (OK|NO|BAD)[^\r\n]*\r\n", timeout=EOF_DEADLINE, start=start)

    def finish(self) -> None:
        self.step(b"LOGOUT")
        assert self.raw.to_eof(EOF_DEADLINE), "no close after LOGOUT"
        check_imap(self.raw.received, complete=not self.raw.reset)
        self.raw.close()


class Pop3Actor:
    """A POP3 session of the same account, (re)connected as needed; QUIT commits its DELEs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.raw: Raw | None = None
        self.transcript = b""

    def step(self, command: bytes) -> None:
        if self.raw is None:
            self.raw = Raw(self.port)
            self.raw.until(rb"^\+OK [^\r\n]*\r\n")
            self.raw.send(f"USER {ALICE}\r\nPASS {PASSWORD}\r\n".encode())
            reply = self.raw.until(rb"\r\n(\+OK|-ERR)[^\r\n]*\r\n(\+OK|-ERR)[^\r\n]*\r\n$")
            if b"\r\n-ERR" in reply:  # the maildrop is locked by another session: try later
                self.finish()
                return
        self.transcript += self.raw.received
        self.raw.received = b""
        self.raw.send(command + b"\r\n")
        multi = command in (b"LIST", b"UIDL", b"RETR 1", b"TOP 2 0")
        self.raw.until(
            rb"(?s)\A(-ERR[^\r\n]*|\+OK[^\r\n]*" + (rb"\r\n(.*\r\n)?\." if multi else b"") + rb")\r\n\Z"
        )
        if command == b"QUIT":
            self.finish()

    def finish(self) -> None:
        if self.raw is None:
            return
        with contextlib.suppress(OSError):
            self.raw.sock.shutdown(socket.SHUT_WR)
        assert self.raw.to_eof(EOF_DEADLINE), "no close after QUIT"
        check_pop3(self.transcript + self.raw.received, complete=not self.raw.reset)
        self.transcript = b""
        self.raw.close()
        self.raw = None


def run_shared(server: FuzzServer, steps: list[tuple[str, bytes]]) -> None:
    """Interleave two IMAP sessions and a POP3 session of alice, each step answered before the next."""
    _lmtp_deliver(server.ports["lmtp"], ALICE, SEED_MESSAGES[1], "127.0.0.2")
    imap = {"A": ImapActor(server.ports["imap"]), "B": ImapActor(server.ports["imap"])}
    pop3 = Pop3Actor(server.ports["pop3"])
    try:
        for actor, command in steps:
            (pop3 if actor == "P" else imap[actor]).step(command)
        for session in imap.values():
            session.finish()
        pop3.finish()
    finally:
        for session in imap.values():
            session.raw.close()
        if pop3.raw is not None:
            pop3.raw.close()
    failures = server.new_failures()
    assert not failures, "the server logged:\n" + "\n".join(failures)
    probe(server)


FAST = settings(
    max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=False
)
# POCHTA_FUZZ_EXAMPLES sets the examples per state of the slow variant.
SLOW = settings(
    max_examples=int(os.environ.get("POCHTA_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.listener}-{c.state}")
@FAST
@given(data=st.data())
def test_fuzz_session(fuzz_server: FuzzServer, case: Case, data: st.DataObject) -> None:
    run_session(fuzz_server, case, data.draw(sessions(case), label="session"))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.listener}-{c.state}")
@SLOW
@given(data=st.data())
def test_fuzz_session_many(fuzz_server: FuzzServer, case: Case, data: st.DataObject) -> None:
    run_session(fuzz_server, case, data.draw(sessions(case), label="session"))


@pytest.mark.parametrize(
    ("protocol", "reply"),
    [
        ("imap", b"* OK fine\r\ngarbage\r\n"),
        ("imap", b"a OK done\r\n* partial"),
        ("imap", b"* 1 FETCH (BODY[] {10}\r\n0123\r\n"),
        ("imap", b"a BAD bare \r in a line\r\n"),
        ("imap", b"]\xb0 BAD Expected a space\r\n"),
        ("imap", b"a(b OK fine\r\n"),
        ("smtp", b"250-first\r\n251 second\r\n"),
        ("smtp", b"2500 four digits\r\n"),
        ("smtp", b"250-no last line\r\n"),
        ("smtp", b"250 NUL \x00 inside\r\n"),
        ("pop3", b"+OK\r\n-ERR x\r\nbody after -ERR\r\n"),
        ("pop3", b"+OK list follows\r\n1 100\r\n"),
        ("pop3", b"OK without plus\r\n"),
        ("managesieve", b'OK "fine"\r\ngarbage\r\n'),
        ("managesieve", b'"data" without its end\r\n'),
        ("managesieve", b'NO "unterminated\r\n'),
        ("managesieve", b"{10}\r\n0123\r\n"),
        ("managesieve", b'OK (lower) "code"\r\n'),
    ],
)
def test_reply_checks_reject_malformed(protocol: str, reply: bytes) -> None:
    with pytest.raises(AssertionError):
        CHECKS[protocol](reply, complete=True)


def test_reply_checks_accept_well_formed() -> None:
    check_imap(
        b"a]1 NO x\r\n* OK hi\r\n+ \r\n* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 3)\r\na1 OK done\r\n",
        complete=True,
    )
    check_smtp(b"220 hi\r\n250-a\r\n250-b\r\n250 c\r\n354\r\n", complete=True)
    check_pop3(b"+OK\r\n+OK 2\r\n1 1\r\n..dot\r\n.\r\n-ERR no\r\n+ \r\n+OK bye\r\n", complete=True)
    check_managesieve(
        b'"IMPLEMENTATION" "x"\r\n"STARTTLS"\r\nOK\r\n"a" ACTIVE\r\n{5}\r\nkeep;\r\n'
        b'OK (TAG "t") "done"\r\nNO (QUOTA/MAXSIZE) {3}\r\nbig\r\n""\r\nBYE "bye"\r\n',
        complete=True,
    )


@FAST
@given(steps=STEPS)
def test_fuzz_shared_mailbox(fuzz_server: FuzzServer, steps: list[tuple[str, bytes]]) -> None:
    run_shared(fuzz_server, steps)


@pytest.mark.slow
@SLOW
@given(steps=STEPS)
def test_fuzz_shared_mailbox_many(fuzz_server: FuzzServer, steps: list[tuple[str, bytes]]) -> None:
    run_shared(fuzz_server, steps)
