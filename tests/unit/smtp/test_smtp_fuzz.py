"""Random input into the server core in every state: it never raises, it only answers with replies."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp_helpers import Session, session

from pochta.proto.sasl import encode_sasl
from pochta.proto.smtp.replies import parse_reply_line

PREFIXES = {
    "ready": ("smtp", b""),
    "greeted": ("smtp", b"EHLO a\r\n"),
    "mail": ("smtp", b"EHLO a\r\nMAIL FROM:<a@b.c>\r\n"),
    "rcpt": ("smtp", b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n"),
    "data": ("smtp", b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n"),
    "bdat": ("smtp", b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nBDAT 40\r\n"),
    "auth": ("submission", b"EHLO a\r\nAUTH LOGIN\r\n"),
    "scram": ("submission", b"EHLO a\r\nAUTH SCRAM-SHA-256 " + encode_sasl(b"n,,n=alice,r=abc") + b"\r\n"),
    "helo-mail": ("smtp", b"HELO a\r\nMAIL FROM:<a@b.c>\r\n"),
    "lmtp-data": ("lmtp", b"LHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@e.f>\r\nDATA\r\n"),
}

COMMANDS = [
    b"EHLO x\r\n",
    b"HELO x\r\n",
    b"LHLO x\r\n",
    b"MAIL FROM:<a@b.c> SIZE=10\r\n",
    b"RCPT TO:<d@e.f> NOTIFY=NEVER\r\n",
    b"DATA\r\n",
    b"BDAT 3\r\n",
    b"BDAT 0 LAST\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH LOGIN\r\n",
    b"VRFY x\r\n",
    b"\r\n.\r\n",
    b".\r\n",
    b"\n.\n",
    b"*\r\n",
    b"QUIT\r\n",
]

chunks = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(COMMANDS)), max_size=20)


def check(s: Session, out: bytes) -> None:
    assert out == b"" or out.endswith(b"\r\n")
    for line in out.split(b"\r\n")[:-1]:
        parse_reply_line(line)  # every octet sent is part of a well-formed reply
    assert s.conn.replies_owed == 0


@pytest.mark.parametrize("state", sorted(PREFIXES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=chunks, bytewise=st.booleans())
def test_random_input_in_every_state(state: str, parts: list[bytes], bytewise: bool) -> None:
    role, prefix = PREFIXES[state]
    s = session(
        role,  # type: ignore[arg-type]
        tls=True,
        starttls=True,
        auth_mechanisms=("PLAIN", "LOGIN", "SCRAM-SHA-256"),
        max_errors=1000,
        max_command_line=64,
        max_message_size=200,
    )
    check(s, s.feed(prefix))
    data = b"".join(parts)
    if bytewise:
        data = data[:200]
    check(s, s.feed(data, bytewise))
    s.conn.receive_data(b"")
    check(s, s.drain())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_error_budget_always_closes(data: bytes) -> None:
    s = session(max_errors=3)
    out = s.feed(data + b"X\r\n" * 4)
    check(s, out)
    assert s.conn.closed
