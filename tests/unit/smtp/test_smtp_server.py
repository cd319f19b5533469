"""Server core transcripts: RFC 5321 Appendix D, sequencing, limits, AUTH, STARTTLS, LMTP.

Every transcript is fed whole and byte by byte (the ``bytewise`` fixture)."""

from __future__ import annotations

import pytest
from smtp_helpers import CONFIG, HOST, Session, crlf, session

from pochta.proto.sasl import ClientMechanism, encode_sasl
from pochta.proto.smtp import (
    NEED_DATA,
    ConnectionClosed,
    DataChunk,
    DataEnd,
    MailFrom,
    RcptTo,
    ServerConnection,
    SmtpCoreConfig,
    SmtpStateError,
    State,
    replies,
)

EHLO_REPLY = (
    f"250-{HOST}\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    "250-CHUNKING\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n"
).encode()


@pytest.fixture(params=[False, True], ids=["whole", "bytewise"])
def bytewise(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_greeting_and_ehlo_capabilities(bytewise: bool) -> None:
    s = Session(ServerConnection("smtp", CONFIG))
    assert s.start() == f"220 {HOST} ESMTP pochta\r\n".encode()
    assert s.feed(b"EHLO client.example\r\n", bytewise) == EHLO_REPLY


def test_appendix_d1_typical_transaction(bytewise: bool) -> None:
    # RFC 5321 Appendix D.1, with our reply texts
    s = session()
    s.reject = {"Green@foo.com"}
    script = crlf(
        """EHLO bar.com
MAIL FROM:<Smith@bar.com>
RCPT TO:<Jones@foo.com>
RCPT TO:<Green@foo.com>
RCPT TO:<Brown@foo.com>
DATA
Blah blah blah...
...etc. etc. etc.
.
QUIT"""
    )
    out = s.feed(script, bytewise)
    assert out == EHLO_REPLY + crlf(
        """250 2.1.0 Sender ok
250 2.1.5 Recipient ok
550 5.1.1 No such user here
250 2.1.5 Recipient ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as Q1
221 2.0.0 mx.example.org closing connection"""
    )
    assert s.messages == [b"Blah blah blah...\r\n..etc. etc. etc.\r\n"]
    end = next(e for e in s.events if isinstance(e, DataEnd))
    assert [r.path.local for r in end.recipients] == ["Jones", "Brown"]
    assert s.conn.closed


def test_appendix_d_helo_only_client(bytewise: bool) -> None:
    s = session()
    out = s.feed(
        crlf("HELO bar.com\nMAIL FROM:<a@bar.com>\nRCPT TO:<b@foo.com>\nDATA\nHi\n.\nQUIT"), bytewise
    )
    assert out.startswith(f"250 {HOST}\r\n".encode())
    assert s.messages == [b"Hi\r\n"]
    assert not s.conn.esmtp or s.conn.closed


def test_appendix_d4_verify_then_send(bytewise: bool) -> None:
    s = session()
    out = s.feed(crlf("EHLO bar.com\nVRFY Crispin\nHELP\nNOOP\nRSET\nQUIT"), bytewise)
    assert out == EHLO_REPLY + crlf(
        """252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
214 2.0.0 See RFC 5321
250 2.0.0 Ok
250 2.0.0 Reset
221 2.0.0 mx.example.org closing connection"""
    )


def test_pipelined_group_in_one_packet(bytewise: bool) -> None:
    # RFC 2920 §3.1 example: the whole group arrives at once; replies come in order
    s = session()
    s.reject = {"ned@innosoft.com"}
    s.feed(b"EHLO dbc.mtview.ca.us\r\n")
    batch = crlf(
        """MAIL FROM:<mrose@dbc.mtview.ca.us>
RCPT TO:<ned@innosoft.com>
RCPT TO:<dan@innosoft.com>
RCPT TO:<kvc@innosoft.com>
DATA"""
    )
    out = s.feed(batch + b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", bytewise)
    assert out == crlf(
        """250 2.1.0 Sender ok
550 5.1.1 No such user here
250 2.1.5 Recipient ok
250 2.1.5 Recipient ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as Q1
221 2.0.0 mx.example.org closing connection"""
    )
    assert s.messages == [b"Subject: x\r\n\r\nbody\r\n"]


def test_pipelined_data_refused_when_no_recipient_accepted(bytewise: bool) -> None:
    s = session()
    s.reject = {"x@foo.com"}
    s.feed(b"EHLO a\r\n")
    out = s.feed(crlf("MAIL FROM:<a@b.c>\nRCPT TO:<x@foo.com>\nDATA\nNOOP"), bytewise)
    # RFC 2920 §3.1 / RFC 5321 §3.3: 554 when no recipient was accepted
    assert out == crlf(
        "250 2.1.0 Sender ok\n550 5.1.1 No such user here\n554 5.5.1 No valid recipients\n250 2.0.0 Ok"
    )


def test_two_messages_in_one_session(bytewise: bool) -> None:
    s = session()
    msg = crlf("MAIL FROM:<a@b.c>\nRCPT TO:<d@e.f>\nDATA\none\n.")
    s.feed(b"EHLO a\r\n" + msg + msg.replace(b"one", b"two"), bytewise)
    assert s.messages == [b"one\r\n", b"two\r\n"]


@pytest.mark.parametrize(
    ("commands", "last_reply"),
    [
        ("RCPT TO:<a@b.c>", "503 5.5.1 Need MAIL command"),
        ("DATA", "503 5.5.1 Need RCPT"),
        ("MAIL FROM:<a@b.c>\nMAIL FROM:<a@b.c>", "503 5.5.1 Nested MAIL command"),
        ("MAIL FROM:<a@b.c>\nDATA", "503 5.5.1 Need RCPT"),
        ("BDAT 0 LAST", "503 5.5.1 Need RCPT"),
        ("FOO bar", "500 5.5.1 Command unrecognized"),
        ("LHLO x", "500 5.5.1 Command unrecognized"),
        ("EXPN staff", "502 5.5.1 EXPN not available"),
        ("STARTTLS", "502 5.5.1 STARTTLS not available"),
        ("AUTH PLAIN", "502 5.5.1 AUTH not available"),
        ("DATA x", "501 5.5.4 DATA takes no arguments"),
        ("MAIL FROM:a@b.c", "501 5.1.3 Address must be enclosed in <>"),
        ("MAIL FROM:<a@b.c> FOO=1", "555 5.5.4 Parameter FOO not supported"),
        ("MAIL FROM:<a@b.c> BODY=BINARYMIME", "555 5.5.4 BODY=BINARYMIME not supported"),
        ("MAIL FROM:<a@b.c> SIZE=10001", "552 5.3.4 Message size exceeds fixed maximum message size"),
        ("MAIL FROM:<a@b.c>\nRCPT TO:<>", "501 5.1.3 Null recipient"),
        ("MAIL FROM:<δ@b.c>", "550 5.6.7 Non-ASCII addresses not permitted without SMTPUTF8"),
        (
            "MAIL FROM:<a@b.c>\nRCPT TO:<δ@b.c>",
            "553 5.6.7 Non-ASCII addresses not permitted without SMTPUTF8",
        ),
    ],
)
def test_sequence_and_syntax_errors(commands: str, last_reply: str, bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    out = s.feed(crlf(commands), bytewise)
    assert out.decode().split("\r\n")[-2] == last_reply


def test_commands_before_ehlo(bytewise: bool) -> None:
    s = session()
    out = s.feed(b"MAIL FROM:<a@b.c>\r\nNOOP\r\n", bytewise)
    assert out == b"503 5.5.1 Send HELO/EHLO first\r\n250 2.0.0 Ok\r\n"


def test_postmaster_without_domain_and_smtputf8(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    out = s.feed(
        "MAIL FROM:<δ@b.c> SMTPUTF8\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<ж@b.c>\r\n".encode(), bytewise
    )
    assert out == crlf("250 2.1.0 Sender ok\n250 2.1.5 Recipient ok\n250 2.1.5 Recipient ok")
    rcpts = [e for e in s.events if isinstance(e, RcptTo)]
    assert rcpts[0].path.local == "postmaster"
    assert rcpts[0].path.domain == ""
    assert rcpts[1].path.utf8


def test_dsn_parameters(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    out = s.feed(
        b"MAIL FROM:<a@b.c> RET=HDRS ENVID=QQ314159+2Bx SIZE=100 BODY=8BITMIME\r\n"
        b"RCPT TO:<d@e.f> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;d+2Bx@e.f\r\n"
        b"RCPT TO:<g@e.f> NOTIFY=NEVER\r\n"
        b"RCPT TO:<h@e.f> NOTIFY=NEVER,SUCCESS\r\n"
        b"RCPT TO:<h@e.f> ORCPT=rfc822;bad+zz\r\n",
        bytewise,
    )
    assert out.decode().split("\r\n")[3:5] == ["501 5.5.4 Malformed NOTIFY", "501 5.5.4 Malformed ORCPT"]
    mail = next(e for e in s.events if isinstance(e, MailFrom))
    assert (mail.params.ret, mail.params.envid, mail.params.size, mail.params.body) == (
        "HDRS",
        "QQ314159+x",
        100,
        "8BITMIME",
    )
    rcpts = [e for e in s.events if isinstance(e, RcptTo)]
    assert rcpts[0].params.notify == ("SUCCESS", "FAILURE")
    assert rcpts[0].params.orcpt == ("rfc822", "d+x@e.f")
    assert rcpts[1].params.notify == ("NEVER",)


def test_max_recipients_452(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\n")
    out = s.feed(b"".join(b"RCPT TO:<r%d@e.f>\r\n" % i for i in range(12)), bytewise)
    # RFC 5321 §4.5.3.1.10: the client retries the rest later; 452 does not spend the error budget
    assert out.decode().split("\r\n")[5:12] == ["452 4.5.3 Too many recipients"] * 7
    assert s.conn.errors == 0
    assert s.conn.transaction is not None
    assert len(s.conn.transaction.recipients) == 5


def test_command_line_too_long_500(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    out = s.feed(b"NOOP " + b"x" * 600 + b"\r\nNOOP\r\n", bytewise)
    assert out == b"500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n"
    # MAIL/RCPT get the RFC 1870/3461/4954 allowance; a runaway line does not
    out = s.feed(b"MAIL FROM:<a@b.c> ENVID=" + b"x" * 90 + b"\r\n", bytewise)
    assert out == b"250 2.1.0 Sender ok\r\n"
    out = s.feed(b"RCPT TO:<d@e.f> " + b"x" * 5000 + b"\r\nRSET\r\n", bytewise)
    assert out == b"500 5.5.2 Line too long\r\n250 2.0.0 Reset\r\n"


def test_configurable_line_limit(bytewise: bool) -> None:
    s = session(max_command_line=20)
    out = s.feed(b"EHLO aaaaaaaaaaaaaaaaaaaaaaa\r\nEHLO a\r\n", bytewise)
    assert out.startswith(b"500 5.5.2 Line too long\r\n250-")


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"NO\x00OP", "500 5.5.2 NUL character in command"),
        (b"NOOP \x00", "500 5.5.2 NUL character in command"),
        (b"NO\xffOP", "500 5.5.1 Command unrecognized"),
        (b"VRFY \xc3\xa9", "500 5.5.2 8-bit characters in command"),
        (b"MAIL FROM:<\xff@b.c>", "500 5.5.2 Invalid UTF-8 in command"),
        (b"NOOP \x01", "500 5.5.2 Control characters in command"),
        (b"NOOP\nNOOP", "500 5.5.2 Bare LF in command; lines end with CRLF"),
    ],
)
def test_nul_and_8bit_in_commands(line: bytes, reply: str, bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    out = s.feed(line + b"\r\n", bytewise)
    assert out.decode().split("\r\n")[0] == reply


def test_error_budget_421(bytewise: bool) -> None:
    s = session()
    out = s.feed(b"BAD\r\n" * 7, bytewise)
    lines = out.decode().split("\r\n")
    assert lines[:5] == ["500 5.5.1 Command unrecognized"] * 5
    assert lines[5] == f"421 4.7.0 {HOST} too many errors, closing connection"
    assert s.conn.closed
    assert len(lines) == 7


def test_rejected_recipients_count_towards_the_budget() -> None:
    s = session()
    s.reject = {f"u{i}@foo.com" for i in range(10)}
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\n")
    out = s.feed(b"".join(b"RCPT TO:<u%d@foo.com>\r\n" % i for i in range(10)))
    assert out.decode().split("\r\n")[5].startswith("421 4.7.0")


def test_submission_requires_auth_530(bytewise: bool) -> None:
    s = session("submission", auth_mechanisms=("PLAIN", "LOGIN", "SCRAM-SHA-256"), tls=True)
    out = s.feed(b"EHLO a\r\nMAIL FROM:<alice@b.c>\r\n", bytewise)
    assert b"250 AUTH PLAIN LOGIN SCRAM-SHA-256\r\n" in out
    assert out.endswith(b"530 5.7.0 Authentication required\r\n")


def test_auth_plain_initial_response(bytewise: bool) -> None:
    s = session("submission", auth_mechanisms=("PLAIN",), tls=True)
    s.feed(b"EHLO a\r\n")
    ir = encode_sasl(b"\x00alice\x00secret")
    out = s.feed(b"AUTH PLAIN " + ir + b"\r\nMAIL FROM:<alice@b.c>\r\nAUTH PLAIN =\r\n", bytewise)
    assert out == crlf(
        "235 2.7.0 Authentication successful\n250 2.1.0 Sender ok\n503 5.5.1 Already authenticated"
    )
    assert s.conn.authenticated
    capabilities = s.conn.capabilities()
    assert not any(c.startswith("AUTH") for c in capabilities)


def test_auth_plain_wrong_password_and_cancel(bytewise: bool) -> None:
    s = session("submission", auth_mechanisms=("PLAIN", "LOGIN"), tls=True, max_errors=10)
    s.feed(b"EHLO a\r\n")
    out = s.feed(b"AUTH PLAIN\r\n" + encode_sasl(b"\x00alice\x00nope") + b"\r\nAUTH LOGIN\r\n*\r\n", bytewise)
    assert out == crlf(
        "334 \n535 5.7.8 Authentication credentials invalid\n"
        "334 VXNlcm5hbWU6\n501 5.0.0 Authentication cancelled"
    )
    out = s.feed(b"AUTH PLAIN !!!!\r\nAUTH LOGIN\r\n%%%\r\nAUTH FOO\r\n", bytewise)
    assert out == crlf(
        "501 5.5.2 Invalid base64 data\n334 VXNlcm5hbWU6\n501 5.5.2 Invalid base64 data\n"
        "504 5.5.4 Unrecognized authentication mechanism"
    )


def test_auth_login(bytewise: bool) -> None:
    s = session("submission", auth_mechanisms=("LOGIN",), tls=True)
    s.feed(b"EHLO a\r\n")
    out = s.feed(
        b"AUTH LOGIN\r\n" + encode_sasl(b"alice") + b"\r\n" + encode_sasl(b"secret") + b"\r\n", bytewise
    )
    assert out == crlf("334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n235 2.7.0 Authentication successful")


def test_auth_scram_sha256_with_client_mechanism() -> None:
    s = session("submission", auth_mechanisms=("SCRAM-SHA-256",))
    s.feed(b"EHLO a\r\n")
    client = ClientMechanism.start("SCRAM-SHA-256", "alice", "secret", nonce="clientnonce")
    first = client.initial_response()
    assert first is not None
    out = s.feed(b"AUTH SCRAM-SHA-256 " + encode_sasl(first) + b"\r\n")
    assert out.startswith(b"334 ")
    import base64

    final = client.respond(base64.b64decode(out[4:-2]))
    out = s.feed(encode_sasl(final) + b"\r\n")
    assert out.startswith(b"334 ")  # RFC 4954 §4: the server's v= as a challenge
    assert client.respond(base64.b64decode(out[4:-2])) == b""
    out = s.feed(b"\r\n")
    assert out == b"235 2.7.0 Authentication successful\r\n"
    client.finish()


def test_plaintext_auth_hidden_without_tls(bytewise: bool) -> None:
    s = session("submission", auth_mechanisms=("SCRAM-SHA-256", "PLAIN"))
    out = s.feed(b"EHLO a\r\nAUTH PLAIN =\r\n", bytewise)
    assert b"250 AUTH SCRAM-SHA-256\r\n" in out
    assert out.endswith(b"538 5.7.11 Encryption required for requested authentication mechanism\r\n")


def test_auth_not_during_transaction(bytewise: bool) -> None:
    s = session("smtp", auth_mechanisms=("PLAIN",), tls=True)
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nAUTH PLAIN =\r\n", bytewise)
    assert out.endswith(b"503 5.5.1 AUTH not permitted during a mail transaction\r\n")


def test_starttls_discards_pipelined_plaintext(bytewise: bool) -> None:
    # RFC 3207 §4.2 / CVE-2011-0411: commands behind STARTTLS in the same packet are never run
    s = session(starttls=True)
    out = s.feed(b"EHLO a\r\n", bytewise)
    assert b"250 STARTTLS\r\n" in out
    out = s.feed(b"STARTTLS\r\nMAIL FROM:<evil@x.y>\r\nRCPT TO:<v@foo.com>\r\n", bytewise=False)
    assert out == b"220 2.0.0 Ready to start TLS\r\n"
    assert s.conn.tls
    assert s.conn.state is State.READY
    assert not any(isinstance(e, MailFrom) for e in s.events)
    # after TLS, EHLO again: STARTTLS is no longer offered; MAIL before EHLO is out of sequence
    out = s.feed(b"MAIL FROM:<a@b.c>\r\nEHLO a\r\n", bytewise)
    assert out.startswith(b"503 5.5.1 Send HELO/EHLO first\r\n")
    assert b"STARTTLS" not in out


def test_starttls_byte_by_byte_discard() -> None:
    s = session(starttls=True)
    s.feed(b"EHLO a\r\n")
    out = s.feed(b"STARTTLS\r\nNOOP\r\n", bytewise=True)
    # fed byte by byte, NOOP arrives after the 220 and belongs to the "TLS" stream
    assert out == b"220 2.0.0 Ready to start TLS\r\n250 2.0.0 Ok\r\n"
    assert s.conn.discard_buffered() == 0


def test_require_tls_before_mail_and_auth(bytewise: bool) -> None:
    s = session("submission", starttls=True, require_tls=True, auth_mechanisms=("PLAIN",))
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nAUTH PLAIN =\r\n", bytewise)
    assert b"AUTH" not in out.split(b"\r\n530")[0]
    assert out.endswith(b"530 5.7.0 Must issue a STARTTLS command first\r\n" * 2)


def test_refused_greeting_allows_only_quit(bytewise: bool) -> None:
    s = Session(ServerConnection("smtp", CONFIG))
    s.greeting = replies.greeting_refused(HOST)
    assert s.start().startswith(b"554 5.3.2")
    out = s.feed(b"EHLO a\r\nQUIT\r\n", bytewise)
    assert out == crlf(f"503 5.5.1 No service here; only QUIT\n221 2.0.0 {HOST} closing connection")


def test_size_exceeded_while_streaming_552(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c> SIZE=100\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
    body = (b"x" * 998 + b"\r\n") * 12
    out = s.feed(body + b".\r\nNOOP\r\n", bytewise)
    assert out == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n"
    assert s.messages == []
    assert sum(len(e.data) for e in s.events if isinstance(e, DataChunk)) <= 10_000


def test_header_limits(bytewise: bool) -> None:
    s = session(max_header_count=3)
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
    body = b"A: 1\r\nB: 2\r\n folded\r\nC: 3\r\n\r\nD: not a header\r\n.\r\n"
    assert s.feed(body, bytewise) == b"250 2.0.0 Ok: queued as Q1\r\n"
    s.feed(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
    out = s.feed(b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nbody\r\n.\r\n", bytewise)
    assert out == b"552 5.3.4 Message header section exceeds the limits\r\n"
    s2 = session(max_header_size=20)
    s2.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
    out = s2.feed(b"Subject: " + b"x" * 30 + b"\r\n\r\n.\r\n", bytewise)
    assert out == b"552 5.3.4 Message header section exceeds the limits\r\n"


def test_data_refused_by_handler_keeps_command_mode(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    s.conn.receive_data(b"DATA\r\nNOOP\r\n")
    event = s.conn.next_event()
    assert s.conn.send(replies.insufficient_storage()) == b"452 4.3.1 Insufficient system storage\r\n"
    assert event.__class__.__name__ == "DataStart"
    assert s.drain() == b"250 2.0.0 Ok\r\n"
    assert s.conn.state is State.RCPT


def test_handler_replies_for_issue_codes() -> None:
    assert replies.loop_detected().to_bytes() == b"554 5.4.6 Too many Received header fields: mail loop\r\n"
    assert replies.relay_denied().to_bytes() == b"554 5.7.1 Relay access denied\r\n"
    assert replies.unknown_user().to_bytes() == b"550 5.1.1 No such user here\r\n"
    assert replies.sender_not_owned().to_bytes().startswith(b"553 5.7.1 ")
    assert replies.mailbox_full(permanent=True).to_bytes() == b"552 5.2.2 Mailbox full\r\n"
    assert replies.mailbox_full(permanent=False).to_bytes() == b"452 4.2.2 Mailbox full\r\n"
    assert replies.timeout(HOST).to_bytes().startswith(b"421 4.4.2 ")


def test_421_at_any_time_closes() -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    assert s.conn.send(replies.shutting_down(HOST)).startswith(b"421 4.3.2")
    assert s.conn.closed
    assert isinstance(s.conn.next_event(), ConnectionClosed)


def test_handler_misuse_raises() -> None:
    conn = ServerConnection("smtp", CONFIG)
    with pytest.raises(SmtpStateError):
        conn.next_event()
    conn.send(replies.greeting(HOST))
    with pytest.raises(SmtpStateError):
        conn.send(replies.ok())
    conn.receive_data(b"NOOP\r\nNOOP\r\n")
    conn.next_event()
    with pytest.raises(SmtpStateError):
        conn.next_event()
    with pytest.raises(ValueError, match="role"):
        ServerConnection("imap", CONFIG)  # type: ignore[arg-type]


def test_peer_close_mid_data() -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\npartial")
    s.conn.receive_data(b"")
    assert s.drain() == b""
    assert s.events[-1] == ConnectionClosed(in_transaction=True)
    assert s.conn.closed


def test_max_messages_per_connection() -> None:
    s = session(max_messages=1)
    msg = crlf("MAIL FROM:<a@b.c>\nRCPT TO:<d@e.f>\nDATA\none\n.")
    out = s.feed(b"EHLO a\r\n" + msg + b"MAIL FROM:<a@b.c>\r\n")
    assert out.decode().split("\r\n")[-2].startswith("421 4.7.0")


def test_ehlo_resets_transaction_and_helo_reply_has_no_capabilities(bytewise: bool) -> None:
    s = session()
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nHELO b\r\nRCPT TO:<d@e.f>\r\n", bytewise)
    assert out.endswith(f"250 {HOST}\r\n503 5.5.1 Need MAIL command\r\n".encode())
    assert s.conn.client_name == "b"


def test_config_switches_capabilities() -> None:
    cfg = SmtpCoreConfig(
        hostname="h", pipelining=False, chunking=False, dsn=False, smtputf8=False, max_message_size=0
    )
    s = session(config=cfg)
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c> RET=FULL\r\nBDAT 3\r\nabc")
    assert out.startswith(b"250-h\r\n250-SIZE 0\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n")
    assert out.endswith(b"555 5.5.4 Parameter RET not supported\r\n500 5.5.1 Command unrecognized\r\n")
    assert s.drain() == b""
    assert s.conn.next_event() is NEED_DATA


def test_pipelining_violations_are_counted() -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    s.feed(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
    assert s.conn.pipelining_violations == 0  # a legal RFC 2920 group
    s.feed(b"body\r\n.\r\n")
    s.feed(b"NOOP\r\nMAIL FROM:<a@b.c>\r\n")  # NOOP must end a group
    assert s.conn.pipelining_violations == 1
    h = session()
    h.feed(b"HELO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")  # no PIPELINING after HELO
    assert h.conn.pipelining_violations == 2


def test_appendix_d2_aborted_transaction(bytewise: bool) -> None:
    s = session()
    s.reject = {"Green@foo.com"}
    script = crlf(
        "EHLO bar.com\nMAIL FROM:<Smith@bar.com>\nRCPT TO:<Jones@foo.com>\n"
        "RCPT TO:<Green@foo.com>\nRSET\nQUIT"
    )
    assert s.feed(script, bytewise) == EHLO_REPLY + crlf(
        """250 2.1.0 Sender ok
250 2.1.5 Recipient ok
550 5.1.1 No such user here
250 2.0.0 Reset
221 2.0.0 mx.example.org closing connection"""
    )
    assert s.messages == []


@pytest.mark.parametrize(
    ("path", "local", "domain", "route"),
    [
        ("<v%remote.example@foo.com>", "v%remote.example", "foo.com", ()),
        ("<@foo.com:v@remote.example>", "v", "remote.example", ("foo.com",)),
        ('<"v@remote.example"@foo.com>', "v@remote.example", "foo.com", ()),
        ("<remote.example!v@foo.com>", "remote.example!v", "foo.com", ()),
    ],
    ids=["percent", "source-route", "quoted-at", "bang"],
)
def test_relay_tricks_are_parsed_not_judged(
    path: str, local: str, domain: str, route: tuple[str, ...], bytewise: bool
) -> None:
    # The relay decision belongs to the handler; the core hands it the exact parsed path.
    s = session()
    out = s.feed(f"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:{path}\r\n".encode(), bytewise)
    assert out.endswith(b"250 2.1.5 Recipient ok\r\n")
    rcpt = next(e for e in s.events if isinstance(e, RcptTo))
    assert (rcpt.path.local, rcpt.path.domain, rcpt.path.route) == (local, domain, route)


def test_relay_trick_double_at_is_a_syntax_error(bytewise: bool) -> None:
    s = session()
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<v@remote.example@foo.com>\r\n", bytewise)
    assert out.decode().split("\r\n")[-2].startswith("501 5.1.3 Bad address")


def test_auth_line_limit(bytewise: bool) -> None:
    s = session("submission", auth_mechanisms=("PLAIN",), tls=True)
    s.feed(b"EHLO a\r\n")
    long_ok = encode_sasl(b"\x00alice\x00" + b"x" * 6000)
    out = s.feed(b"AUTH PLAIN " + long_ok + b"\r\n", bytewise)
    assert out == b"535 5.7.8 Authentication credentials invalid\r\n"
    out = s.feed(b"AUTH PLAIN " + b"A" * 12300 + b"\r\nNOOP\r\n", bytewise=False)
    assert out == b"500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n"


def test_auth_is_forgotten_after_starttls() -> None:
    s = session("submission", starttls=True, auth_mechanisms=("PLAIN",), auth_plaintext_without_tls=True)
    s.feed(b"EHLO a\r\nAUTH PLAIN " + encode_sasl(b"\x00alice\x00secret") + b"\r\n")
    assert s.conn.authenticated
    s.feed(b"STARTTLS\r\n")
    assert not s.conn.authenticated  # RFC 3207 §4.2: all knowledge from before TLS is discarded
    assert s.feed(b"AUTH PLAIN =\r\n") == b"503 5.5.1 Send HELO/EHLO first\r\n"


def test_peer_close_during_auth() -> None:
    s = session("submission", auth_mechanisms=("LOGIN",), tls=True)
    s.feed(b"EHLO a\r\nAUTH LOGIN\r\n")
    assert s.conn.state is State.AUTH
    s.conn.receive_data(b"")
    assert s.drain() == b""
    assert s.events[-1] == ConnectionClosed(in_transaction=False)


def test_smtputf8_not_offered(bytewise: bool) -> None:
    s = session(smtputf8=False)
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c> SMTPUTF8\r\n", bytewise)
    assert b"SMTPUTF8\r\n" not in out.split(b"\r\n555")[0]
    assert out.endswith(b"555 5.5.4 Parameter SMTPUTF8 not supported\r\n")


def test_requiretls_only_over_tls(bytewise: bool) -> None:
    # RFC 8689 section 2: the keyword is offered inside TLS only; MAIL ... REQUIRETLS in cleartext
    # gets 530 5.7.10 (section 4.1), inside TLS it is taken and the event carries it.
    s = session(starttls=True, requiretls=True)
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c> REQUIRETLS\r\n", bytewise)
    assert b"REQUIRETLS" not in out.split(b"\r\n530")[0]
    assert out.endswith(b"530 5.7.10 REQUIRETLS needs a TLS connection\r\n")
    s.feed(b"STARTTLS\r\n", bytewise=False)
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c> REQUIRETLS=yes\r\nMAIL FROM:<a@b.c> REQUIRETLS\r\n", bytewise)
    assert b"250-REQUIRETLS\r\n" in out or b"250 REQUIRETLS\r\n" in out
    assert b"501 5.5.4 REQUIRETLS takes no value\r\n" in out
    assert out.endswith(b"250 2.1.0 Sender ok\r\n")
    [mail] = [e for e in s.events if isinstance(e, MailFrom)]
    assert mail.params.requiretls


def test_requiretls_not_configured_is_an_unknown_parameter(bytewise: bool) -> None:
    s = session(tls=True)
    out = s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c> REQUIRETLS\r\n", bytewise)
    assert b"REQUIRETLS\r\n" not in out.split(b"\r\n555")[0]
    assert out.endswith(b"555 5.5.4 Parameter REQUIRETLS not supported\r\n")
