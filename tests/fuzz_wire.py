"""What the whole-server fuzz tests (tests/e2e/test_server_fuzz.py) send and how they judge replies.

- ``Raw``: a blocking client socket with a receive buffer, from a chosen loopback source address;
- the hypothesis strategies: per protocol, lines mixing its commands and arguments with hostile
  pieces (random bytes, overlong lines, bad literals, NUL, bare CR/LF, unicode, huge numbers, deep
  parentheses, sequence sets like 1:4294967295 ...), a few valid commands, and hostile MIME messages;
- ``check_imap``/``check_smtp``/``check_pop3``/``check_managesieve``: is a server's transcript well
  formed for its protocol.
"""

from __future__ import annotations

import re
import socket
import struct
import time

from hypothesis import strategies as st

ALICE, BOB = "alice@example.org", "bob@example.org"
PASSWORD = "fuzz-pass-word"
PLAIN = "AGFsaWNlQGV4YW1wbGUub3JnAGZ1enotcGFzcy13b3Jk"  # base64("\0alice@example.org\0fuzz-pass-word")


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
    b"UID EXPUNGE", b"IDLE", b"CHECK", b"DONE", b"XYZZY", b"UNAUTHENTICATE", b"REPLACE", b"UID REPLACE",
    b"ESEARCH",
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
    PASSWORD.encode(), b'"' + PASSWORD.encode() + b'"', b"IN", b"(personal)", b"(subtree INBOX)", b"OLDER",
    b"(PARTIAL -1:-5)",
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
SIEVE_COMMANDS = [
    b"CAPABILITY", b"NOOP", b"LOGOUT", b"AUTHENTICATE", b"STARTTLS", b"HAVESPACE", b"PUTSCRIPT",
    b"LISTSCRIPTS", b"SETACTIVE", b"GETSCRIPT", b"DELETESCRIPT", b"RENAMESCRIPT", b"CHECKSCRIPT",
    b"UNAUTHENTICATE", b"XYZZY", b'"NOOP"',
]  # fmt: skip
SIEVE_WORDS = [
    b'"fuzz"', b'"other"', b'""', b'"PLAIN"', b'"SCRAM-SHA-256"', b'"' + PLAIN.encode() + b'"', b'"*"',
    b"100", b"0", b"4294967296", b"01", b'"keep;"', b'"fileinto \\"x\\";"', b'"if true {"',
    b'{5+}\r\nkeep;', b"{0+}\r\n", b'"\xc3\xbc"', b'"a\\b"', b'"\\q"',
    b'{40+}\r\nrequire "include"; include "fuzz"; stop;',
]  # fmt: skip
VALID_SIEVE = [
    b'PUTSCRIPT "fuzz" {23+}\r\nrequire "copy"; keep;\r\n',
    b'SETACTIVE "fuzz"\r\n',
    b"LISTSCRIPTS\r\n",
    b'GETSCRIPT "fuzz"\r\n',
    b'RENAMESCRIPT "fuzz" "other"\r\n',
    b'DELETESCRIPT "other"\r\n',
    b'SETACTIVE ""\r\n',
    b'CHECKSCRIPT "keep;"\r\n',
    b'HAVESPACE "fuzz" 1000\r\n',
    b'NOOP "tag"\r\n',
    b"CAPABILITY\r\n",
]
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
SIEVE_LINE = _line(st.sampled_from(SIEVE_WORDS), st.sampled_from(SIEVE_COMMANDS))


def _script(line: st.SearchStrategy[bytes], valid: list[bytes]) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.one_of(line, line, st.sampled_from(valid), hostile), min_size=1, max_size=8)


SCRIPTS = {
    "imap": _script(IMAP_LINE, VALID_IMAP),
    "smtp": _script(SMTP_LINE, VALID_SMTP),
    "pop3": _script(POP3_LINE, VALID_POP3),
    "managesieve": _script(SIEVE_LINE, VALID_SIEVE),
}


# -- checking the replies ----------------------------------------------------------------------------------

_BAD_IN_LINE = re.compile(rb"[\x00\r\n]")
_NOT_TEXT = re.compile(rb"[^\t\x20-\x7e]")
# RFC 9051 §7: an untagged response, a continuation request, or tag SP (OK / NO / BAD); a tag is 7-bit
# ASTRING-CHARs except "+" (no SP, CTL, "(", ")", "{", "%", "*", quote or backslash; "]" is allowed).
_RESPONSE_START = re.compile(rb'(\* |\+ |(?:(?![(){%*"\\+])[\x21-\x7e])+ (OK|NO|BAD)( |$))')


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
        assert _RESPONSE_START.match(line), f"malformed: {line[:300]!r}"
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
        # RFC 5321 §4.2: textstring = 1*(%d09 / %d32-126): 7-bit, no controls but HT
        assert not _NOT_TEXT.search(line), f"not 7-bit text in an SMTP reply: {line[:300]!r}"
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
            assert not _NOT_TEXT.search(line), f"not 7-bit text in a POP3 status line: {line[:300]!r}"
            after_ok = line.startswith(b"+OK")
            continue
        # Anything else must be the body of a multi-line response right after its +OK, up to "."
        assert in_body or after_ok, f"malformed POP3 reply: {line[:300]!r}"
        in_body, after_ok = line != b".", False
        # RFC 1939 §3: a body line starting with "." is byte-stuffed
        unstuffed = line != b"." and line.startswith(b".") and not line.startswith(b"..")
        assert not unstuffed, f"unstuffed body line: {line[:300]!r}"
    assert not complete or not in_body, "multi-line POP3 response without its final '.'"


# RFC 5804 §4: a string (quoted, or a literal {n}); a response line OK / NO / BYE [(code)] [string].
_SIEVE_STRING = rb'(?:"(?:[^"\\\r\n\x00]|\\["\\])*"|\{\d+\})'
_SIEVE_DATA = re.compile(_SIEVE_STRING + rb"( .*)?$")
_SIEVE_FINAL = re.compile(
    rb"(OK|NO|BYE)( \([A-Z][A-Z0-9/-]*( " + _SIEVE_STRING + rb")?\))?( " + _SIEVE_STRING + rb")?$"
)


def check_managesieve(data: bytes, complete: bool) -> None:
    position, final = 0, True
    while position < len(data):
        end = data.find(b"\r\n", position)
        if end < 0:
            assert not complete, f"ManageSieve response cut short: {data[position:][-200:]!r}"
            return
        line = data[position:end]
        assert not _BAD_IN_LINE.search(line), f"NUL or bare CR/LF in a response: {line[:300]!r}"
        assert _SIEVE_DATA.match(line) or _SIEVE_FINAL.match(line), f"malformed: {line[:300]!r}"
        # A line that is one string alone may be a SASL challenge the client left unanswered.
        final = _SIEVE_FINAL.match(line) is not None or re.fullmatch(_SIEVE_STRING, line) is not None
        position = end + 2
        literal = re.search(rb"\{(\d+)\}$", line)
        while literal is not None:  # the line goes on after the literal
            position += int(literal.group(1))
            end = data.find(b"\r\n", position)
            if end < 0:
                assert not complete, "ManageSieve response cut short after a literal"
                return
            literal = re.search(rb"\{(\d+)\}$", data[position:end])
            position = end + 2
    assert not complete or final, "ManageSieve data without its OK/NO/BYE"  # (or a challenge)


CHECKS = {"imap": check_imap, "smtp": check_smtp, "pop3": check_pop3, "managesieve": check_managesieve}
