"""The outbound SMTP client (pochta.queue.client.deliver) against a scripted sink (tests/smtp_sink.py)."""

from __future__ import annotations

import io
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from pochta.queue.client import (
    CHUNK,
    AttemptResult,
    ClientOptions,
    OutboundMessage,
    OutboundRecipient,
    deliver,
)
from pochta.queue.route import Hop
from smtp_sink import DEFAULT_CAPABILITIES, Script, SmtpSink

OPTIONS = ClientOptions("client.test", connect_timeout=5, command_timeout=5, data_timeout=5)
MESSAGE = b"Subject: hi\r\n\r\nHello.\r\n.leading dot\r\n..two dots\r\n.\r\nBye.\r\n"
NO_PIPELINING = tuple(c for c in DEFAULT_CAPABILITIES if c != "PIPELINING")
NO_DSN = tuple(c for c in DEFAULT_CAPABILITIES if c != "DSN")


def hop(port: int, host: str = "mx1.test", preference: int = 10) -> Hop:
    return Hop(host, port, ("127.0.0.1",), preference)


def outbound(
    *recipients: str | OutboundRecipient, data: bytes = MESSAGE, sender: str = "alice@a.test", **kw: object
) -> OutboundMessage:
    rcpts = tuple(r if isinstance(r, OutboundRecipient) else OutboundRecipient(r) for r in recipients)
    return OutboundMessage(sender, rcpts, len(data), lambda: io.BytesIO(data), **kw)  # type: ignore[arg-type]


def codes(result: AttemptResult) -> dict[str, tuple[int, str | None]]:
    return {address: (reply.code, reply.enhanced) for address, reply in result.replies.items()}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1", "mx1.test").configure_cert(context)
    return context


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


# --- plain delivery --------------------------------------------------------------------------------


async def test_simple_delivery_restores_dots_and_ends_last_line() -> None:
    data = b".first line starts with a dot\r\nSubject: x\r\n\r\n.leading dot\r\n..two\r\nno final CRLF"
    async with SmtpSink() as sink:
        result = await deliver([hop(sink.port)], outbound("bob@b.test", data=data), OPTIONS)
    assert codes(result) == {"bob@b.test": (250, "2.0.0")}
    assert result.replies["bob@b.test"].text == "queued as 1"
    assert result.remote_mta == "mx1.test"
    assert result.remote_dsn is True
    assert sink.messages == [data + b"\r\n"]
    [transaction] = sink.transactions
    assert transaction.helo == "client.test"
    assert transaction.tls is False
    assert transaction.mail == f"MAIL FROM:<alice@a.test> SIZE={len(data)}"
    assert transaction.rcpts == ["RCPT TO:<bob@b.test>"]
    assert sink.connections[0].commands[0] == "EHLO client.test"
    assert sink.connections[0].commands[-1] == "QUIT"


async def test_null_sender_and_exact_bytes() -> None:
    async with SmtpSink() as sink:
        result = await deliver([hop(sink.port)], outbound("bob@b.test", sender=""), OPTIONS)
    assert codes(result) == {"bob@b.test": (250, "2.0.0")}
    assert sink.messages == [MESSAGE]
    assert sink.transactions[0].mail.startswith("MAIL FROM:<> ")


async def test_pipelining_when_offered() -> None:
    async with SmtpSink() as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0"), "c@b.test": (250, "2.0.0")}
    batches = sink.connections[0].batches()
    assert batches[0] == ["EHLO"]
    assert ["MAIL", "RCPT", "RCPT", "DATA"] in batches
    assert sink.messages == [MESSAGE]


async def test_one_command_per_packet_without_pipelining() -> None:
    async with SmtpSink(Script(capabilities=NO_PIPELINING)) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0"), "c@b.test": (250, "2.0.0")}
    batches = sink.connections[0].batches()
    assert all(len(batch) == 1 for batch in batches), batches
    assert [b[0] for b in batches] == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    assert sink.messages == [MESSAGE]


# --- per-recipient replies -------------------------------------------------------------------------


@pytest.mark.parametrize("capabilities", [DEFAULT_CAPABILITIES, NO_PIPELINING], ids=["pipe", "nopipe"])
async def test_mixed_recipient_replies(capabilities: tuple[str, ...]) -> None:
    rcpt = {"bad@b.test": "550 5.1.1 no such user\n550 5.1.1 here", "later@b.test": "451 4.2.1 try later"}
    async with SmtpSink(Script(capabilities=capabilities, rcpt_reply=rcpt)) as sink:
        message = outbound("ok@b.test", "bad@b.test", "later@b.test", "ok2@b.test")
        result = await deliver([hop(sink.port)], message, OPTIONS)
    assert codes(result) == {
        "ok@b.test": (250, "2.0.0"),
        "bad@b.test": (550, "5.1.1"),
        "later@b.test": (451, "4.2.1"),
        "ok2@b.test": (250, "2.0.0"),
    }
    assert result.replies["bad@b.test"].lines == ("no such user", "here")  # a multi-line reply
    [transaction] = sink.transactions
    assert len(transaction.rcpts) == 4
    assert transaction.accepted == ["ok@b.test", "ok2@b.test"]
    assert sink.messages == [MESSAGE]


@pytest.mark.parametrize("capabilities", [DEFAULT_CAPABILITIES, NO_PIPELINING], ids=["pipe", "nopipe"])
async def test_every_recipient_refused_sends_no_data(capabilities: tuple[str, ...]) -> None:
    async with SmtpSink(Script(capabilities=capabilities, rcpt_reply="550 5.1.1 nobody")) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (550, "5.1.1"), "c@b.test": (550, "5.1.1")}
    assert sink.messages == []
    assert sink.transactions[0].data is None
    if capabilities is NO_PIPELINING:
        assert "DATA" not in sink.commands


@pytest.mark.parametrize("mail_reply", ["451 4.3.0 busy", "550 5.7.1 go away"])
@pytest.mark.parametrize("capabilities", [DEFAULT_CAPABILITIES, NO_PIPELINING], ids=["pipe", "nopipe"])
async def test_mail_refused(mail_reply: str, capabilities: tuple[str, ...]) -> None:
    code, enhanced = int(mail_reply[:3]), mail_reply[4:9]
    async with SmtpSink(Script(capabilities=capabilities, mail_reply=mail_reply)) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (code, enhanced), "c@b.test": (code, enhanced)}
    assert sink.messages == []
    if capabilities is NO_PIPELINING:
        assert sink.transactions[0].rcpts == []
        verbs = [c.split(" ")[0].split(":")[0] for c in sink.commands]
        assert verbs == ["EHLO", "MAIL", "QUIT"]


@pytest.mark.parametrize("final", ["554 5.6.0 content rejected", "451 4.3.0 disk full"])
async def test_final_reply_refused(final: str) -> None:
    code, enhanced = int(final[:3]), final[4:9]
    script = Script(final_reply=final, rcpt_reply={"bad@b.test": "550 5.1.1 no"})
    async with SmtpSink(script) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "bad@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (code, enhanced), "bad@b.test": (550, "5.1.1")}
    assert sink.messages == [MESSAGE]  # it got the data, and refused it


@pytest.mark.parametrize("capabilities", [DEFAULT_CAPABILITIES, NO_PIPELINING], ids=["pipe", "nopipe"])
async def test_data_command_refused(capabilities: tuple[str, ...]) -> None:
    async with SmtpSink(Script(capabilities=capabilities, data_reply="452 4.3.1 no space")) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (452, "4.3.1")}
    assert sink.messages == []


async def test_scripts_change_between_attempts() -> None:
    async with SmtpSink(Script(mail_reply="451 4.3.0 busy"), Script()) as sink:
        first = await deliver([hop(sink.port)], outbound("a@b.test"), OPTIONS)
        second = await deliver([hop(sink.port)], outbound("a@b.test"), OPTIONS)
    assert codes(first) == {"a@b.test": (451, "4.3.0")}
    assert codes(second) == {"a@b.test": (250, "2.0.0")}
    assert len(sink.connections) == 2
    assert sink.messages == [MESSAGE]


# --- extensions ------------------------------------------------------------------------------------


async def test_size_limit_sends_no_mail() -> None:
    capabilities = tuple("SIZE 20" if c.startswith("SIZE") else c for c in DEFAULT_CAPABILITIES)
    async with SmtpSink(Script(capabilities=capabilities)) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (552, "5.3.4"), "c@b.test": (552, "5.3.4")}
    assert not any(c.startswith("MAIL") for c in sink.commands)
    assert sink.transactions == []


async def test_smtputf8_to_server_without_it() -> None:
    capabilities = tuple(c for c in DEFAULT_CAPABILITIES if c != "SMTPUTF8")
    async with SmtpSink(Script(capabilities=capabilities)) as sink:
        message = outbound("jöhn@b.test", sender="ålice@a.test", smtputf8=True)
        result = await deliver([hop(sink.port)], message, OPTIONS)
    assert codes(result) == {"jöhn@b.test": (553, "5.6.7")}
    assert sink.transactions == []


async def test_smtputf8_when_offered() -> None:
    async with SmtpSink() as sink:
        message = outbound("jöhn@b.test", sender="ålice@a.test", smtputf8=True, body="8BITMIME")
        result = await deliver([hop(sink.port)], message, OPTIONS)
    assert codes(result) == {"jöhn@b.test": (250, "2.0.0")}
    [transaction] = sink.transactions
    assert transaction.mail == f"MAIL FROM:<ålice@a.test> SIZE={len(MESSAGE)} BODY=8BITMIME SMTPUTF8"
    assert transaction.accepted == ["jöhn@b.test"]


DSN_RECIPIENT = OutboundRecipient(
    "bob@b.test", notify=("SUCCESS", "FAILURE"), orcpt=("rfc822", "Bob+x@b.test")
)


async def test_dsn_parameters_when_offered() -> None:
    async with SmtpSink() as sink:
        message = outbound(DSN_RECIPIENT, "c@b.test", ret="HDRS", envid="q1 =x+", body="8BITMIME")
        result = await deliver([hop(sink.port)], message, OPTIONS)
    assert result.remote_dsn is True
    assert codes(result) == {"bob@b.test": (250, "2.0.0"), "c@b.test": (250, "2.0.0")}
    [transaction] = sink.transactions
    assert transaction.mail == (
        f"MAIL FROM:<alice@a.test> SIZE={len(MESSAGE)} BODY=8BITMIME RET=HDRS ENVID=q1+20+3Dx+2B"
    )
    assert transaction.rcpts == [
        "RCPT TO:<bob@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Bx@b.test",
        "RCPT TO:<c@b.test>",
    ]


async def test_dsn_parameters_left_out_without_dsn() -> None:
    async with SmtpSink(Script(capabilities=NO_DSN)) as sink:
        message = outbound(DSN_RECIPIENT, ret="FULL", envid="q1")
        result = await deliver([hop(sink.port)], message, OPTIONS)
    assert result.remote_dsn is False
    assert codes(result) == {"bob@b.test": (250, "2.0.0")}
    [transaction] = sink.transactions
    assert transaction.mail == f"MAIL FROM:<alice@a.test> SIZE={len(MESSAGE)}"
    assert transaction.rcpts == ["RCPT TO:<bob@b.test>"]


async def test_body_left_out_without_8bitmime() -> None:
    capabilities = tuple(c for c in DEFAULT_CAPABILITIES if c != "8BITMIME")
    async with SmtpSink(Script(capabilities=capabilities)) as sink:
        await deliver([hop(sink.port)], outbound("a@b.test", body="8BITMIME"), OPTIONS)
    assert "BODY=" not in sink.transactions[0].mail


async def test_ehlo_refused_falls_back_to_helo() -> None:
    async with SmtpSink(Script(ehlo_reply="502 5.5.2 what is EHLO")) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test", ret="FULL"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0"), "c@b.test": (250, "2.0.0")}
    assert result.remote_dsn is False
    connection = sink.connections[0]
    assert connection.commands[:2] == ["EHLO client.test", "HELO client.test"]
    assert all(len(batch) == 1 for batch in connection.batches())  # no extensions: no pipelining
    assert sink.transactions[0].mail == "MAIL FROM:<alice@a.test>"
    assert sink.transactions[0].helo == "client.test"
    assert sink.messages == [MESSAGE]


# --- TLS -------------------------------------------------------------------------------------------


async def test_opportunistic_starttls(server_tls: ssl.SSLContext) -> None:
    async with SmtpSink(tls=server_tls) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    connection = sink.connections[0]
    assert connection.tls is True
    assert connection.commands[:3] == ["EHLO client.test", "STARTTLS", "EHLO client.test"]
    assert sink.transactions[0].tls is True
    assert ["MAIL", "RCPT", "DATA"] in connection.batches()  # pipelining learnt again after TLS
    assert sink.messages == [MESSAGE]


async def test_required_tls_with_verified_certificate(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    options = ClientOptions("client.test", command_timeout=5, tls="required", tls_context=client_tls)
    async with SmtpSink(tls=server_tls) as sink:
        result = await deliver([hop(sink.port, host="localhost")], outbound("a@b.test"), options)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    assert sink.transactions[0].tls is True


async def test_required_tls_with_unverifiable_certificate_defers(
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    options = ClientOptions("client.test", command_timeout=5, tls="required", tls_context=client_tls)
    async with SmtpSink(tls=server_tls) as sink:
        result = await deliver([hop(sink.port, host="wrong.test")], outbound("a@b.test"), options)
    assert codes(result) == {"a@b.test": (451, "4.7.5")}
    assert sink.messages == []


@pytest.mark.parametrize("mode", ["garbage", "close"])
async def test_broken_starttls_falls_back_to_plaintext(server_tls: ssl.SSLContext, mode: str) -> None:
    async with SmtpSink(Script(starttls=mode), tls=server_tls) as sink:  # type: ignore[arg-type]
        result = await deliver([hop(sink.port)], outbound("a@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    assert len(sink.connections) == 2
    assert "STARTTLS" in sink.connections[0].commands
    assert "STARTTLS" not in sink.connections[1].commands
    assert sink.transactions[0].tls is False
    assert sink.messages == [MESSAGE]


@pytest.mark.parametrize("mode", ["garbage", "close"])
async def test_broken_starttls_required_defers(server_tls: ssl.SSLContext, mode: str) -> None:
    options = ClientOptions("client.test", connect_timeout=5, command_timeout=5, tls="required")
    async with SmtpSink(Script(starttls=mode), tls=server_tls) as sink:  # type: ignore[arg-type]
        result = await deliver([hop(sink.port)], outbound("a@b.test"), options)
    assert codes(result) == {"a@b.test": (451, "4.7.5")}
    assert "TLS with mx1.test" in result.replies["a@b.test"].text
    assert len(sink.connections) == 1
    assert sink.transactions == []


async def test_starttls_refused_carries_on_in_plaintext(server_tls: ssl.SSLContext) -> None:
    async with SmtpSink(Script(starttls="refuse"), tls=server_tls) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    assert len(sink.connections) == 1
    assert sink.connections[0].commands[:2] == ["EHLO client.test", "STARTTLS"]
    assert ["MAIL", "RCPT", "DATA"] in sink.connections[0].batches()  # the first EHLO still counts
    assert sink.transactions[0].tls is False
    assert sink.messages == [MESSAGE]


async def test_starttls_refused_when_required_defers(server_tls: ssl.SSLContext) -> None:
    options = ClientOptions("client.test", command_timeout=5, tls="required")
    async with SmtpSink(Script(starttls="refuse"), tls=server_tls) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test"), options)
    assert codes(result) == {"a@b.test": (451, "4.7.10")}
    assert "454" in result.replies["a@b.test"].text
    assert sink.transactions == []


async def test_required_tls_not_offered_defers() -> None:
    options = ClientOptions("client.test", command_timeout=5, tls="required")
    async with SmtpSink() as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test"), options)
    assert codes(result) == {"a@b.test": (451, "4.7.10"), "c@b.test": (451, "4.7.10")}
    assert not any(c.startswith("MAIL") for c in sink.commands)


async def test_tls_off_never_starts_tls(server_tls: ssl.SSLContext) -> None:
    options = ClientOptions("client.test", command_timeout=5, tls="off")
    async with SmtpSink(tls=server_tls) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test"), options)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    assert "STARTTLS" not in sink.commands
    assert sink.transactions[0].tls is False


# --- hops and failures -----------------------------------------------------------------------------


async def test_next_hop_when_first_refuses_connection() -> None:
    async with SmtpSink() as sink:
        hops = [hop(closed_port(), "mx1.test", 10), hop(sink.port, "mx2.test", 20)]
        result = await deliver(hops, outbound("a@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    assert result.remote_mta == "mx2.test"
    assert sink.messages == [MESSAGE]


@pytest.mark.parametrize("greeting", ["421 4.3.2 too busy", "554 5.3.2 no service here"])
async def test_next_hop_when_first_greets_with_error(greeting: str) -> None:
    async with SmtpSink(Script(greeting=greeting)) as first, SmtpSink() as second:
        hops = [hop(first.port, "mx1.test", 10), hop(second.port, "mx2.test", 20)]
        result = await deliver(hops, outbound("a@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    assert result.remote_mta == "mx2.test"
    assert first.transactions == []
    assert second.messages == [MESSAGE]


async def test_all_hops_down() -> None:
    async with SmtpSink(Script(greeting="421 4.3.2 busy")) as busy:
        hops = [
            hop(closed_port(), "mx1.test", 10),
            hop(busy.port, "mx2.test", 20),
            hop(closed_port(), "mx3.test"),
        ]
        result = await deliver(hops, outbound("a@b.test", "c@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (451, "4.4.1"), "c@b.test": (451, "4.4.1")}
    assert result.remote_mta is None
    assert "mx3.test" in result.replies["a@b.test"].text  # the last reason


async def test_no_hops() -> None:
    result = await deliver([], outbound("a@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (451, "4.4.1")}


async def test_connection_dropped_during_data() -> None:
    async with SmtpSink(Script(drop_in_data=True)) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test", "c@b.test"), OPTIONS)
    assert codes(result) == {"a@b.test": (451, "4.4.2"), "c@b.test": (451, "4.4.2")}
    assert result.remote_mta == "mx1.test"
    assert sink.messages == []


@pytest.mark.parametrize("point", ["GREETING", "EHLO", "MAIL", "RCPT"])
async def test_server_that_stops_answering(point: str) -> None:
    options = ClientOptions("client.test", connect_timeout=5, command_timeout=0.5)
    async with SmtpSink(Script(hang=point)) as sink:
        started = time.monotonic()
        result = await deliver([hop(sink.port)], outbound("a@b.test"), options)
        elapsed = time.monotonic() - started
    assert codes(result) == {"a@b.test": (451, "4.4.2")}
    assert "timed out" in result.replies["a@b.test"].text
    assert elapsed < 10  # the 0.5 s command timeout, not the 300 s default
    assert sink.messages == []
    if point == "GREETING":
        assert sink.connections[0].commands in ([], ["QUIT"])


async def test_final_reply_never_comes() -> None:
    options = ClientOptions("client.test", command_timeout=5, data_timeout=0.5)
    async with SmtpSink(Script(hang="DATA-END")) as sink:
        result = await deliver([hop(sink.port)], outbound("a@b.test"), options)
    assert codes(result) == {"a@b.test": (451, "4.4.2")}
    assert sink.messages == [MESSAGE]  # it arrived; the answer did not (may be delivered twice)


async def test_big_message_streams_exact_bytes(tmp_path: Path) -> None:
    chunk = CHUNK  # what the client reads from the file at a time
    body = bytearray()
    line = 0
    while len(body) < 1024 * 1024:
        body += b".dotted line %d\r\n" % line if line % 7 == 0 else b"plain line %d with some text\r\n" % line
        line += 1
    # Lines starting with a dot exactly on the client's read boundaries (CRLF whole, and split).
    body[chunk - 2 : chunk + 1] = b"\r\n."
    body[2 * chunk - 1 : 2 * chunk + 2] = b"\r\n."
    data = bytes(body) + b"end\r\n"
    path = tmp_path / "big.eml"
    path.write_bytes(data)
    message = OutboundMessage(
        "alice@a.test", (OutboundRecipient("a@b.test"),), len(data), lambda: path.open("rb")
    )
    async with SmtpSink() as sink:
        result = await deliver([hop(sink.port)], message, OPTIONS)
    assert codes(result) == {"a@b.test": (250, "2.0.0")}
    assert sink.messages == [data]
