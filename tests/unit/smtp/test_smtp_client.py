"""Client core: reply parsing (whole and byte by byte), RFC 5321 Appendix D from the client side,
and a client <-> server round trip in memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_helpers import HOST, Session, session

from pochta.proto.sasl import ClientMechanism
from pochta.proto.smtp import NEED_DATA, ClientConnection, Reply, Response, SmtpClientError
from pochta.proto.smtp.replies import split_enhanced


@pytest.fixture(params=[False, True], ids=["whole", "bytewise"])
def bytewise(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def responses(client: ClientConnection, data: bytes, bytewise: bool = False) -> list[Response]:
    out: list[Response] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        client.receive_data(piece)
        while (event := client.next_event()) is not NEED_DATA:
            assert isinstance(event, Response)
            out.append(event)
    return out


def test_appendix_d1_client_side(bytewise: bool) -> None:
    c = ClientConnection("bar.com")
    [greeting] = responses(c, b"220 foo.com Simple Mail Transfer Service Ready\r\n", bytewise)
    assert greeting == Response("GREETING", Reply(220, ("foo.com Simple Mail Transfer Service Ready",)))
    assert c.ehlo() == b"EHLO bar.com\r\n"
    [ehlo] = responses(
        c, b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n", bytewise
    )
    assert ehlo.reply.lines[0] == "foo.com greets bar.com"
    assert c.has("8BITMIME")
    assert c.has("dsn")
    assert not c.can_pipeline
    assert c.max_size is None
    sent = (
        c.mail("Smith@bar.com")
        + c.rcpt("Jones@foo.com")
        + c.rcpt("Green@foo.com")
        + c.rcpt("<Brown@foo.com>")
    )
    assert sent == (
        b"MAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\nRCPT TO:<Green@foo.com>\r\n"
        b"RCPT TO:<Brown@foo.com>\r\n"
    )
    got = responses(c, b"250 OK\r\n250 OK\r\n550 No such user here\r\n250 OK\r\n", bytewise)
    assert [(r.command, r.reply.code, r.recipient) for r in got] == [
        ("MAIL", 250, None),
        ("RCPT", 250, "<Jones@foo.com>"),
        ("RCPT", 550, "<Green@foo.com>"),
        ("RCPT", 250, "<Brown@foo.com>"),
    ]
    assert c.accepted == ["<Jones@foo.com>", "<Brown@foo.com>"]
    assert c.data() == b"DATA\r\n"
    [go] = responses(c, b"354 Start mail input; end with <CRLF>.<CRLF>\r\n", bytewise)
    assert go.reply.code == 354
    assert b"".join(c.data_body([b"Blah blah blah...\r\n", b"...etc. etc. etc.\r\n"])) == (
        b"Blah blah blah...\r\n....etc. etc. etc.\r\n.\r\n"
    )
    [done] = responses(c, b"250 OK\r\n", bytewise)
    assert done.command == "DATA-END"
    assert c.quit() == b"QUIT\r\n"
    [bye] = responses(c, b"221 foo.com Service closing transmission channel\r\n", bytewise)
    assert bye.command == "QUIT"
    assert c.waiting == 0


def test_multiline_enhanced_codes(bytewise: bool) -> None:
    c = ClientConnection("me")
    [r] = responses(c, b"554-5.7.1 first\r\n554-5.7.1 second\r\n554 5.7.1 third\r\n", bytewise)
    assert r.reply == Reply(554, ("first", "second", "third"), "5.7.1")
    assert split_enhanced(250, ["2.0.0", "2.0.0 x"]) == Reply(250, ("", "x"), "2.0.0")
    assert split_enhanced(250, ["2.0.0 a", "b"]).enhanced is None


@pytest.mark.parametrize(
    "data",
    [b"hello\r\n", b"250-a\r\n251 b\r\n", b"099 x\r\n", b"250-" + b"x" * 5000 + b"\r\n"],
    ids=["garbage", "code-changes", "bad-code", "too-long"],
)
def test_malformed_replies_raise(data: bytes) -> None:
    c = ClientConnection("me")
    with pytest.raises(SmtpClientError):
        responses(c, data)


def test_unexpected_reply_and_eof() -> None:
    c = ClientConnection("me")
    responses(c, b"220 hi\r\n")
    with pytest.raises(SmtpClientError, match="unexpected"):
        responses(c, b"250 extra\r\n")
    c2 = ClientConnection("me")
    c2.receive_data(b"")
    with pytest.raises(SmtpClientError, match="closed"):
        c2.next_event()


def test_client_parameters_follow_capabilities() -> None:
    c = ClientConnection("me")
    responses(c, b"220 hi\r\n")
    c.ehlo()
    responses(c, b"250-x\r\n250-SIZE 1000\r\n250-DSN\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n")
    line = c.mail("a@b.c", size=10, body="8BITMIME", ret="HDRS", envid="id+1=", auth="a@b.c")
    assert line == b"MAIL FROM:<a@b.c> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=id+2B1+3D AUTH=a@b.c\r\n"
    assert c.rcpt("d@e.f", notify=["SUCCESS", "DELAY"], orcpt=("rfc822", "d+x@e.f")) == (
        b"RCPT TO:<d@e.f> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;d+2Bx@e.f\r\n"
    )
    assert c.max_size == 1000
    with pytest.raises(SmtpClientError):
        c.mail("a@b.c", smtputf8=True)
    with pytest.raises(SmtpClientError):
        c.bdat(b"x")


# --- round trip: both cores against each other ------------------------------------------------


def pump(client: ClientConnection, server: Session, data: bytes) -> list[Response]:
    return responses(client, server.feed(data))


def test_round_trip_starttls_auth_pipelining_data_bdat() -> None:
    server = session(
        "submission", starttls=True, auth_mechanisms=("SCRAM-SHA-256", "PLAIN"), max_message_size=100_000
    )
    server.reject = {"nobody@e.f"}
    client = ClientConnection("client.example")
    assert responses(client, f"220 {HOST} ESMTP pochta\r\n".encode())[0].command == "GREETING"
    pump(client, server, client.ehlo())
    assert client.has("STARTTLS")
    assert client.auth_mechanisms == ("SCRAM-SHA-256",)
    [tls] = pump(client, server, client.starttls())
    assert tls.reply.code == 220
    assert client.tls
    assert server.conn.tls
    pump(client, server, client.ehlo())
    assert not client.has("STARTTLS")
    assert client.auth_mechanisms == ("SCRAM-SHA-256", "PLAIN")
    mechanism = ClientMechanism.start("SCRAM-SHA-256", "alice", "secret")
    [step] = pump(client, server, client.auth(mechanism))
    while step.reply.code == 334:
        [step] = pump(client, server, client.auth_continue(step.reply))
    assert step.reply.code == 235
    assert client.authenticated
    assert server.conn.authenticated

    assert client.can_pipeline
    body = [b"Subject: hi\r\n\r\n", b".leading dot\r\n", b"end\r\n"]
    got = pump(
        client,
        server,
        client.mail("alice@b.c", size=40) + client.rcpt("x@e.f") + client.rcpt("nobody@e.f") + client.data(),
    )
    assert [r.reply.code for r in got] == [250, 250, 550, 354]
    got = pump(client, server, b"".join(client.data_body(body)))
    assert [(r.command, r.reply.code) for r in got] == [("DATA-END", 250)]
    assert server.messages == [b"".join(body)]

    pump(client, server, client.mail("alice@b.c") + client.rcpt("y@e.f"))
    got = pump(client, server, client.bdat(b"Subject: 2\r\n") + client.bdat(b"\r\nbody\r\n", last=True))
    assert [(r.command, r.reply.code) for r in got] == [("BDAT", 250), ("DATA-END", 250)]
    assert server.messages[-1] == b"Subject: 2\r\n\r\nbody\r\n"
    [bye] = pump(client, server, client.quit())
    assert bye.reply.code == 221
    assert server.conn.closed


def test_round_trip_lmtp_per_recipient() -> None:
    from pochta.proto.smtp import replies

    server = session("lmtp")
    server.reject = {"gone@e.f"}
    server.lmtp_results = {"full@e.f": replies.mailbox_full(permanent=True)}
    client = ClientConnection("mta", lmtp=True)
    responses(client, f"220 {HOST} ESMTP pochta\r\n".encode())
    pump(client, server, client.ehlo())
    assert client.has("PIPELINING")
    batch = client.mail("a@b.c") + client.rcpt("ok@e.f") + client.rcpt("gone@e.f") + client.rcpt("full@e.f")
    got = pump(client, server, batch + client.data())
    assert [r.reply.code for r in got] == [250, 250, 550, 250, 354]
    got = pump(client, server, b"".join(client.data_body([b"hello\r\n"])))
    assert [(r.command, r.recipient, r.reply.code) for r in got] == [
        ("DATA-END", "<ok@e.f>", 250),
        ("DATA-END", "<full@e.f>", 552),
    ]
    assert client.waiting == 0
    pump(client, server, client.mail("a@b.c") + client.rcpt("ok@e.f") + client.rcpt("full@e.f"))
    got = pump(client, server, client.bdat(b"x\r\n", last=True))
    assert [(r.recipient, r.reply.code) for r in got] == [("<ok@e.f>", 250), ("<full@e.f>", 552)]


def test_round_trip_helo_only_server_without_pipelining() -> None:
    server = session(pipelining=False, chunking=False, dsn=False)
    client = ClientConnection("c")
    responses(client, f"220 {HOST} ESMTP pochta\r\n".encode())
    pump(client, server, client.ehlo())
    assert not client.can_pipeline
    for command in (client.mail("a@b.c", ret="FULL"), client.rcpt("d@e.f", notify=["NEVER"]), client.data()):
        [r] = pump(client, server, command)
        assert r.reply.code in (250, 354)
    got = pump(client, server, b"".join(client.data_body([b"no newline at end"])))
    assert got[0].reply.code == 250
    assert server.messages == [b"no newline at end\r\n"]


_LINES = st.lists(
    st.one_of(st.sampled_from([b"", b".", b"..", b".x", b"x"]), st.text(max_size=20).map(str.encode)),
    max_size=15,
).map(lambda lines: [line.replace(b"\r", b"").replace(b"\n", b"") for line in lines])


@settings(max_examples=100, deadline=None)
@given(_LINES, st.integers(1, 50))
def test_round_trip_arbitrary_bodies(lines: list[bytes], piece: int) -> None:
    body = b"".join(line + b"\r\n" for line in lines)
    server = session(max_message_size=0)
    client = ClientConnection("c")
    responses(client, f"220 {HOST} ESMTP pochta\r\n".encode())
    pump(client, server, client.ehlo())
    pump(client, server, client.mail("a@b.c") + client.rcpt("d@e.f") + client.data())
    wire = b"".join(client.data_body([body[i : i + piece] for i in range(0, len(body), piece)]))
    got = pump(client, server, wire)
    assert [r.reply.code for r in got] == [250]
    assert server.messages == [body]
