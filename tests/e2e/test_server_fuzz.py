"""Fuzzing the whole server: hypothesis-driven sessions against a running ``pochta serve``.

One server process (SMTP, submission, LMTP, IMAP, POP3 on 127.0.0.1) serves the whole module. Each
example opens a session, brings it into one protocol state with valid commands (IMAP before login,
after login, with a mailbox selected, in IDLE, in an AUTHENTICATE exchange, inside an APPEND literal;
POP3 in AUTHORIZATION, TRANSACTION and an AUTH exchange; SMTP, submission and LMTP before EHLO,
after MAIL, in DATA, in a BDAT chunk, and submission in an AUTH exchange), then sends a mix of
valid and hostile lines (random bytes, overlong lines, bad and huge literals, NUL, bare CR and LF,
unicode, huge numbers, deep parentheses, sequence sets like 1:4294967295 ...), half-closes and
reads every reply until the server closes. Then:

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
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serve_process import FAILURE_MARKERS, ServeProcess, init_data_dir

ALICE, BOB = "alice@example.org", "bob@example.org"
PASSWORD = "fuzz-pass-word"
LISTENERS = ("smtp", "submission", "lmtp", "imap", "pop3")
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
PLAIN = "AGFsaWNlQGV4YW1wbGUub3JnAGZ1enotcGFzcy13b3Jk"  # base64("\0alice@example.org\0fuzz-pass-word")
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


class Raw:
    """A blocking socket with a receive buffer, from a chosen loopback source address."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        self.received = b""
        self.reset = False

    def until(self, pattern: bytes, timeout: float = 10.0, start: int = 0) -> bytes:
        """Read until ``pattern`` matches what was received (from ``start`` on); everything received."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.received[start:]):
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no {pattern!r} in {self.received[-500:]!r}") from None
            assert chunk, f"closed while waiting for {pattern!r}: {self.received[-500:]!r}"
            self.received += chunk
        return self.received

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def to_eof(self, timeout: float) -> bool:
        """Read until the server closes; False if it did not within ``timeout`` (a hang)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            except ConnectionResetError:
                self.reset = True
                return True
            if not chunk:
                return True
            self.received += chunk

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """Close with a RST (SO_LINGER 0), as a client that crashed or lost its network."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


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


# -- what a session sends --------------------------------------------------------------------------------

HOSTILE_PIECES = [
    b"\x00",
    b"\r",
    b"\n",
    b"\r\r\n",
    b"\xff\xfe\xfd",
    "ünïcödé почта 郵便 🙂".encode(),
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999999999999999",
    b"-1",
    b"0",
    b"(" * 3000,
    b")" * 50,
    b"((((((((((((((((((((((((((((((((((((((((((((((((((",
    b"1:4294967295",
    b"4294967295:1",
    b"*:*",
    b"0:0",
    b"1,2,3,4,5,6,7,8,9,10:*,$",
    b"{4294967295}",
    b"{99999999999999}",
    b"{10}",
    b"{0}",
    b"{5+}",
    b"{-1}",
    b"~{3}",
    b'"unterminated',
    b'"a\\"b"',
    b"\\",
    b"%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%",
    b"*" * 60,
    b"=?utf-8?q?=00?=",
    b"<>",
    b"<" * 300,
    b"@@",
    b":",
    b" " * 200,
    b"\t",
    b"=",
    b"*",
    b"+",
    b".",
]

hostile = st.one_of(
    st.sampled_from(HOSTILE_PIECES),
    st.binary(max_size=64),
    st.text(max_size=24).map(str.encode),
    st.integers(min_value=0, max_value=2**70).map(lambda n: str(n).encode()),
    st.integers(min_value=1000, max_value=80_000).map(lambda n: b"x" * n),  # overlong
)
terminator = st.sampled_from([b"\r\n"] * 8 + [b"\n", b"\r", b"", b"\r\n\r\n", b"\n\r"])


def _line(words: st.SearchStrategy[bytes], head: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    parts = st.lists(st.one_of(words, words, hostile), max_size=5)
    separator = st.sampled_from([b" "] * 5 + [b"", b"  ", b"\t"])
    return st.builds(lambda h, p, sep, end: sep.join([h, *p]) + end, head, parts, separator, terminator)


IMAP_COMMANDS = [
    b"CAPABILITY", b"NOOP", b"LOGOUT", b"LOGIN", b"AUTHENTICATE", b"STARTTLS", b"ENABLE", b"ID",
    b"NAMESPACE", b"CREATE", b"DELETE", b"RENAME", b"SUBSCRIBE", b"UNSUBSCRIBE", b"LIST", b"LSUB",
    b"STATUS", b"SELECT", b"EXAMINE", b"CLOSE", b"UNSELECT", b"EXPUNGE", b"APPEND", b"FETCH", b"STORE",
    b"SEARCH", b"COPY", b"MOVE", b"UID FETCH", b"UID STORE", b"UID SEARCH", b"UID COPY", b"UID MOVE",
    b"UID EXPUNGE", b"IDLE", b"CHECK", b"DONE", b"XYZZY",
]  # fmt: skip
IMAP_WORDS = [
    b"INBOX", b"Trash", b'"Archive"', b"a/b/c", b"&Jjo-", b"&-", b"&", b'""', b"%", b"*", b"1", b"1:*",
    b"*", b"1,3", b"$", b"(FLAGS)", b"(UID FLAGS ENVELOPE BODYSTRUCTURE)", b"BODY[]", b"BODY.PEEK[1.2]",
    b"BODY[2.1.HEADER]", b"BODY[1.MIME]", b"BODY[]<0.10>", b"BINARY[3]", b"BINARY.SIZE[1]",
    b"BODY[HEADER.FIELDS (SUBJECT FROM)]", b"RFC822.SIZE", b"+FLAGS", b"-FLAGS.SILENT", b"FLAGS",
    b"(\\Seen \\Deleted)", b"(\\Flagged $Junk)", b"(\\Bogus)", b"TEXT", b"SUBJECT", b"OR", b"NOT",
    b"ALL", b"UNSEEN", b"SINCE", b"1-Jan-2020", b"LARGER", b"HEADER", b"CHARSET", b"UTF-8", b"RETURN",
    b"(MIN MAX COUNT ALL SAVE)", b"(MESSAGES UIDNEXT SIZE UNSEEN)", b"(SUBSCRIBED RECURSIVEMATCH)",
    b"(SPECIAL-USE)", b"(\\Archive)", b"{5}", b"{3+}", b"IMAP4rev2", b"UTF8=ACCEPT", b"NIL",
    b'("name" "fuzz")', b"PLAIN", b"LOGIN", b"SCRAM-SHA-256", PLAIN.encode(), b"=", ALICE.encode(),
    PASSWORD.encode(), b'"' + PASSWORD.encode() + b'"',
]  # fmt: skip
VALID_IMAP = [
    b"f FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER] BINARY.PEEK[1])\r\n",
    b"s UID SEARCH RETURN (ALL COUNT) OR TEXT hello SUBJECT mixed\r\n",
    b"t STORE 1:* +FLAGS (\\Seen $Fuzz)\r\n",
    b'l LIST "" * RETURN (STATUS (MESSAGES UNSEEN) SPECIAL-USE)\r\n',
    b"c CREATE Fuzz/Child\r\n",
    b"r RENAME Fuzz/Child Fuzz/Other\r\n",
    b"y COPY 1:2 Fuzz\r\n",
    b"m UID MOVE 1:* Trash\r\n",
    b"e UID EXPUNGE 1:*\r\n",
    b"x SELECT INBOX\r\n",
    b"q STATUS INBOX (MESSAGES UIDNEXT)\r\n",
    b"p APPEND INBOX (\\Seen) {24+}\r\nSubject: fuzz\r\n\r\nfuzz\r\n\r\n",
    b"i IDLE\r\n",
    b"DONE\r\n",
    b"n FETCH * (BODY[1] BODY[1.MIME] BODY[2.1] BODY[1.1.1.1] BODY[TEXT]<0.100> BODY[HEADER])\r\n",
    b"b FETCH * (BINARY[1] BINARY.SIZE[1] BINARY[2] BINARY.SIZE[2.1] BINARY[1]<3.7>)\r\n",
    b"v FETCH * (ENVELOPE BODY BODYSTRUCTURE RFC822.SIZE BODY[HEADER.FIELDS.NOT (X-LONG)])\r\n",
    b'h SEARCH OR FROM a HEADER Content-Type mixed TEXT "\xd0\xbf\xd0\xbe" \r\n',
    b"k UID SEARCH CHARSET UTF-8 BODY {8+}\r\n\xd0\xbf\xd0\xbe\xd1\x87\r\n",
    b"d UID STORE 1:* +FLAGS.SILENT (\\Deleted)\r\n",
    b"g EXPUNGE\r\n",
]
SMTP_COMMANDS = [
    b"EHLO", b"HELO", b"LHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"BDAT", b"RSET", b"NOOP", b"QUIT",
    b"VRFY", b"EXPN", b"HELP", b"STARTTLS", b"AUTH", b"XYZZY",
]  # fmt: skip
SMTP_WORDS = [
    b"fuzz.example", b"[127.0.0.1]", b"[IPv6:::1]", b"<alice@example.org>", b"<>", b"<postmaster>",
    b"<bob@example.org>", b"<someone@remote.example>", b'<"quoted local"@example.org>',
    b"<@route.example:alice@example.org>", b"<alice@[127.0.0.1]>", "<алиса@пример.рф>".encode(), b"SIZE=100",
    b"SIZE=99999999999999999999", b"BODY=8BITMIME", b"BODY=BINARYMIME", b"SMTPUTF8", b"RET=FULL",
    b"ENVID=abc+2Bdef", b"NOTIFY=SUCCESS,FAILURE", b"NOTIFY=NEVER", b"ORCPT=rfc822;alice@example.org",
    b"AUTH=<>", b"100", b"0", b"LAST", b"PLAIN", b"LOGIN", b"SCRAM-SHA-256", PLAIN.encode(), b"=", b"*",
]  # fmt: skip
VALID_SMTP = [
    b"RSET\r\n",
    b"MAIL FROM:<carol@example.net> SIZE=100\r\n",
    b"RCPT TO:<alice@example.org> NOTIFY=SUCCESS\r\n",
    b"DATA\r\n",
    b"Subject: fuzz\r\n\r\nfuzzed body\r\n.\r\n",
    b"..leading dot\r\n",
    b".\r\n",
    b"BDAT 5 LAST\r\nabcde",
    b"BDAT 0 LAST\r\n",
    b"NOOP\r\n",
]
POP3_COMMANDS = [
    b"USER", b"PASS", b"APOP", b"STAT", b"LIST", b"RETR", b"DELE", b"NOOP", b"RSET", b"QUIT", b"TOP",
    b"UIDL", b"CAPA", b"AUTH", b"STLS", b"LAST", b"XYZZY",
]  # fmt: skip
POP3_WORDS = [
    b"1", b"2", b"0", b"-1", b"3", b"4294967296", b"1 0", b"1 99999999999", ALICE.encode(),
    PASSWORD.encode(), b"recent:" + ALICE.encode(), b"PLAIN", b"LOGIN", b"SCRAM-SHA-256", PLAIN.encode(),
    b"=", b"*", b"abcdef0123456789abcdef0123456789",
]  # fmt: skip
VALID_POP3 = [
    b"STAT\r\n", b"LIST\r\n", b"UIDL 1\r\n", b"RETR 1\r\n", b"TOP 2 3\r\n", b"DELE 1\r\n", b"RSET\r\n",
]  # fmt: skip

MIME_LINES = [
    b"Content-Type: multipart/mixed; boundary=b", b'Content-Type: multipart/alternative; boundary="b"',
    b"Content-Type: multipart/mixed", b"Content-Type: message/rfc822", b"Content-Type: message/global",
    b"Content-Type: multipart/digest; boundary=b", b"Content-Type: text/plain; charset=utf-8",
    b"Content-Type: text/plain; charset=x-bogus", b"Content-Type: text/html; charset=utf-16",
    b"Content-Type: application/octet-stream; name*0*=utf-8''%FF%FE; name*1=x; name*9=y",
    b"Content-Type: text/plain;;; a=; =b; c=\"", b"Content-Type: /", b"Content-Type: multipart/",
    b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: x-uuencode", b"Content-Transfer-Encoding: binary",
    b"Content-Disposition: attachment; filename*=''%ZZ", b"Content-Disposition: inline; size=-1",
    b"From: =?utf-8?b?!!!?= <a@b>", b'To: "unterminated <e@f>, <>, @, a@, @b, <<a@b>>',
    b"Subject: =?utf-8?q?=FF=FE=00?=", b"Date: Mon, 99 Foo 99999 99:99:99 +9999", b"Date: 0",
    b"Message-ID: <<<>>>", b"In-Reply-To: <a@b> <c@d", b"References: " + b"<r@x> " * 200,
    b"Content-Language: \x00", b"Content-ID: <", b"Content-MD5: ", b"MIME-Version: 99.9", b" folded",
    b"\tfolded", b"Bcc:", b"Sender: a@b", b"Reply-To: group: a@b, c@d;", b"X-Long: " + b"y" * 5000,
    b"--b", b"--b--", b"--", b"----", b"", b"", b"", b"!!!!====****", b"=ZZ=", b"=", b"A===",
    b"AAECAwQFBgcICQ==", b"2D3YPQ==", b"begin 644 x", b"plain text line", "почта 郵便".encode(),
    b"\xff\xfe\x00", b".", b"..",
]  # fmt: skip
MESSAGES = st.lists(st.sampled_from(MIME_LINES), min_size=1, max_size=40).map(
    lambda lines: b"\r\n".join(lines)
)

_tag = st.sampled_from([b"a", b"A1", b"*", b"+", b"", b"tag!", b"t" * 300, b"\x00t"])
IMAP_LINE = _line(
    st.sampled_from(IMAP_WORDS),
    st.builds(lambda t, c: t + b" " + c, _tag, st.sampled_from(IMAP_COMMANDS)),
)
SMTP_LINE = _line(st.sampled_from(SMTP_WORDS), st.sampled_from(SMTP_COMMANDS))
POP3_LINE = _line(st.sampled_from(POP3_WORDS), st.sampled_from(POP3_COMMANDS))


def _script(line: st.SearchStrategy[bytes], valid: list[bytes]) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.one_of(line, line, st.sampled_from(valid), hostile), min_size=1, max_size=8)


SCRIPTS = {
    "imap": _script(IMAP_LINE, VALID_IMAP),
    "smtp": _script(SMTP_LINE, VALID_SMTP),
    "pop3": _script(POP3_LINE, VALID_POP3),
}


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


# -- checking the replies ----------------------------------------------------------------------------------

_BAD_IN_LINE = re.compile(rb"[\x00\r\n]")


def _lines(data: bytes, complete: bool) -> tuple[list[bytes], bytes]:
    """Split into CRLF lines; the rest after the last CRLF (must be empty on a clean close)."""
    *lines, rest = data.split(b"\r\n")
    assert not complete or rest == b"", f"reply cut short or not CRLF-terminated: {rest[-200:]!r}"
    return lines, rest


def check_imap(data: bytes, complete: bool) -> None:
    position = 0
    while position < len(data):
        end = data.find(b"\r\n", position)
        if end < 0:
            assert not complete, f"IMAP response cut short: {data[position:][-200:]!r}"
            return
        line = data[position:end]
        assert not _BAD_IN_LINE.search(line), f"NUL or bare CR/LF in an IMAP response: {line[:300]!r}"
        assert re.match(rb"(\* |\+ |[^\s*+(){%\"\\\]]+ (OK|NO|BAD)( |$))", line), f"malformed: {line[:300]!r}"
        position = end + 2
        literal = re.search(rb"\{(\d+)\}$", line)
        while literal is not None:  # the response goes on after the literal
            position += int(literal.group(1))
            end = data.find(b"\r\n", position)
            if end < 0:
                assert not complete, "IMAP response cut short after a literal"
                return
            literal = re.search(rb"\{(\d+)\}$", data[position:end])
            position = end + 2


def check_smtp(data: bytes, complete: bool) -> None:
    lines, _ = _lines(data, complete)
    code = None
    for line in lines:
        assert not _BAD_IN_LINE.search(line), f"NUL or bare CR/LF in an SMTP reply: {line[:300]!r}"
        found = re.fullmatch(rb"([2-5][0-5]\d)([ -].*|)", line, re.DOTALL)
        assert found, f"malformed SMTP reply line: {line[:300]!r}"
        if code is not None:
            assert found.group(1) == code, f"multi-line reply changes its code: {line[:300]!r}"
        code = found.group(1) if found.group(2)[:1] == b"-" else None
    assert not complete or code is None, "multi-line SMTP reply without its last line"


def check_pop3(data: bytes, complete: bool) -> None:
    lines, _ = _lines(data, complete)
    in_body = after_ok = False
    for line in lines:
        if not in_body and re.match(rb"(\+OK|-ERR)( |$)|\+ ", line):
            assert not _BAD_IN_LINE.search(line), f"NUL or bare CR/LF in a POP3 reply: {line[:300]!r}"
            after_ok = line.startswith(b"+OK")
            continue
        # Anything else must be the body of a multi-line response right after its +OK, up to "."
        assert in_body or after_ok, f"malformed POP3 reply: {line[:300]!r}"
        in_body, after_ok = line != b".", False
        # RFC 1939 §3: a body line starting with "." is byte-stuffed
        unstuffed = line != b"." and line.startswith(b".") and not line.startswith(b"..")
        assert not unstuffed, f"unstuffed body line: {line[:300]!r}"
    assert not complete or not in_body, "multi-line POP3 response without its final '.'"


CHECKS = {"imap": check_imap, "smtp": check_smtp, "pop3": check_pop3}


# -- the tests ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    listener: str
    state: str

    @property
    def protocol(self) -> str:
        return {"imap": "imap", "pop3": "pop3"}.get(self.listener, "smtp")


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
        else:
            _smtp_enter(raw, case.state, case.listener)
        try:
            for chunk in session.script:
                raw.send(chunk)
            if session.reset_after is None:
                raw.sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
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
        ("smtp", b"250-first\r\n251 second\r\n"),
        ("smtp", b"2500 four digits\r\n"),
        ("smtp", b"250-no last line\r\n"),
        ("smtp", b"250 NUL \x00 inside\r\n"),
        ("pop3", b"+OK\r\n-ERR x\r\nbody after -ERR\r\n"),
        ("pop3", b"+OK list follows\r\n1 100\r\n"),
        ("pop3", b"OK without plus\r\n"),
    ],
)
def test_reply_checks_reject_malformed(protocol: str, reply: bytes) -> None:
    with pytest.raises(AssertionError):
        CHECKS[protocol](reply, complete=True)


def test_reply_checks_accept_well_formed() -> None:
    check_imap(b"* OK hi\r\n+ \r\n* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 3)\r\na1 OK done\r\n", complete=True)
    check_smtp(b"220 hi\r\n250-a\r\n250-b\r\n250 c\r\n354\r\n", complete=True)
    check_pop3(b"+OK\r\n+OK 2\r\n1 1\r\n..dot\r\n.\r\n-ERR no\r\n+ \r\n+OK bye\r\n", complete=True)


@FAST
@given(steps=STEPS)
def test_fuzz_shared_mailbox(fuzz_server: FuzzServer, steps: list[tuple[str, bytes]]) -> None:
    run_shared(fuzz_server, steps)


@pytest.mark.slow
@SLOW
@given(steps=STEPS)
def test_fuzz_shared_mailbox_many(fuzz_server: FuzzServer, steps: list[tuple[str, bytes]]) -> None:
    run_shared(fuzz_server, steps)
