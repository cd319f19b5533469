"""The sans-IO POP3 client (pochta.proto.pop3.client): transcripts fed whole and byte by byte."""

from __future__ import annotations

import pytest

from pochta.proto.pop3.client import (
    NEED_DATA,
    Capabilities,
    Err,
    Greeting,
    Listing,
    Message,
    NeedData,
    Ok,
    Pop3Client,
    Pop3ClientError,
    Pop3Response,
    UniqueIds,
)


def events(client: Pop3Client, data: bytes, *, bytewise: bool) -> list[Pop3Response]:
    out: list[Pop3Response] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        client.receive_data(piece)
        while True:
            event = client.next_event()
            if isinstance(event, NeedData):
                break
            out.append(event)
    return out


@pytest.fixture(params=[False, True], ids=["whole", "bytewise"])
def bytewise(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_session_transcript(bytewise: bool) -> None:
    client = Pop3Client()
    sent = b"".join(
        [client.capa(), client.user("alice"), client.pass_("a secret word"), client.uidl(), client.list_()]
    )
    assert sent == b"CAPA\r\nUSER alice\r\nPASS a secret word\r\nUIDL\r\nLIST\r\n"
    sent = client.retr(2) + client.top(1, 0) + client.dele(2) + client.quit()
    assert sent == b"RETR 2\r\nTOP 1 0\r\nDELE 2\r\nQUIT\r\n"
    wire = (
        b"+OK Dovecot ready. <1896.697170952@dbc.mtview.ca.us>\r\n"
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nSASL PLAIN LOGIN\r\nSTLS\r\n.\r\n"
        b"+OK\r\n"
        b"+OK Logged in.\r\n"
        b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"
        b"+OK 2 messages:\r\n1 120\r\n2 200\r\n.\r\n"
        # RFC 1939 §3: the stuffed ".." comes back as "."; a lone LF line end becomes CRLF.
        b"+OK 200 octets\r\nSubject: x\r\n\r\n..leading dot\r\n...\r\nlast\n.\r\n"
        b"+OK\r\nSubject: y\r\n\r\n.\r\n"
        b"-ERR [SYS/TEMP] try again\r\n"
        b"+OK Logging out.\r\n"
    )
    got = events(client, wire, bytewise=bytewise)
    assert got == [
        Greeting("Dovecot ready. <1896.697170952@dbc.mtview.ca.us>", "<1896.697170952@dbc.mtview.ca.us>"),
        Capabilities({"TOP": (), "UIDL": (), "SASL": ("PLAIN", "LOGIN"), "STLS": ()}),
        Ok("USER", ""),
        Ok("PASS", "Logged in."),
        UniqueIds({1: "whqtswO00WBw418f9t5JxYwZ", 2: "QhdPYR:00WBw1Ph7x7"}),
        Listing({1: 120, 2: 200}),
        Message(2, b"Subject: x\r\n\r\n.leading dot\r\n..\r\nlast\r\n"),
        Message(1, b"Subject: y\r\n\r\n", 0),
        Err("DELE", "[SYS/TEMP] try again", "SYS/TEMP"),
        Ok("QUIT", "Logging out."),
    ]
    assert client.closed
    caps = got[1]
    assert isinstance(caps, Capabilities)
    assert caps.has("stls")
    assert caps.sasl == ("PLAIN", "LOGIN")


def test_auth_errors_and_codes(bytewise: bool) -> None:
    client = Pop3Client()
    sent = client.auth_plain("alice", "pw")
    assert sent == b"AUTH PLAIN AGFsaWNlAHB3\r\n"  # RFC 4616: "\0alice\0pw"
    client.user("bob")
    client.pass_("wrong")
    wire = b"+OK hi\r\n-ERR [AUTH] Authentication failed.\r\n+OK\r\n-ERR [IN-USE] locked\r\n"
    assert events(client, wire, bytewise=bytewise) == [
        Greeting("hi"),
        Err("AUTH", "[AUTH] Authentication failed.", "AUTH"),
        Ok("USER", ""),
        Err("PASS", "[IN-USE] locked", "IN-USE"),
    ]


def test_multiline_error_has_no_body(bytewise: bool) -> None:
    client = Pop3Client()
    client.uidl()
    client.retr(9)
    wire = b"+OK\r\n-ERR UIDL not supported\r\n-ERR no such message\r\n"
    assert events(client, wire, bytewise=bytewise) == [
        Greeting(""),
        Err("UIDL", "UIDL not supported"),
        Err("RETR", "no such message"),
    ]


def test_stls_drops_plaintext_after_the_answer() -> None:
    # RFC 2595 §4 (and CVE-2011-0411's lesson): bytes after +OK to STLS are not TLS session data.
    client = Pop3Client()
    client.stls()
    client.receive_data(b"+OK\r\n+OK Begin TLS\r\n")
    assert client.next_event() == Greeting("")
    assert client.next_event() == Ok("STLS", "Begin TLS")
    client.receive_data(b"+OK injected\r\n")
    client.start_tls()
    assert client.next_event() is NEED_DATA


def test_garbage_and_unasked_data_raise() -> None:
    client = Pop3Client()
    client.receive_data(b"* OK IMAP4rev1 ready\r\n")
    with pytest.raises(Pop3ClientError, match="not a POP3 status line"):
        client.next_event()
    client = Pop3Client()
    client.receive_data(b"+OK hi\r\n+OK surprise\r\n")
    assert client.next_event() == Greeting("hi")
    with pytest.raises(Pop3ClientError, match="nobody asked"):
        client.next_event()


def test_bad_listings_raise() -> None:
    client = Pop3Client()
    client.uidl()
    client.receive_data(b"+OK\r\n+OK\r\n1 bad\x01id\r\n.\r\n")
    client.next_event()
    with pytest.raises(Pop3ClientError, match="unique-id"):
        client.next_event()
    client = Pop3Client()
    client.list_()
    client.receive_data(b"+OK\r\n+OK\r\nx 12\r\n.\r\n")
    client.next_event()
    with pytest.raises(Pop3ClientError, match="number value"):
        client.next_event()


def test_message_size_limit_and_line_limit() -> None:
    client = Pop3Client(max_message_size=100)
    client.retr(1)
    client.receive_data(b"+OK\r\n+OK\r\n" + b"x" * 60 + b"\r\n" + b"y" * 60 + b"\r\n.\r\n")
    client.next_event()
    with pytest.raises(Pop3ClientError, match="longer than 100"):
        client.next_event()
    client = Pop3Client()
    client.receive_data(b"+OK " + b"z" * 5000)
    with pytest.raises(Pop3ClientError, match="too long"):
        client.next_event()


def test_command_arguments_are_checked() -> None:
    client = Pop3Client()
    with pytest.raises(Pop3ClientError):
        client.user("two words")
    with pytest.raises(Pop3ClientError):
        client.pass_("line\r\nDELE 1")
    with pytest.raises(Pop3ClientError):
        client.retr(0)
    with pytest.raises(Pop3ClientError):
        client.top(1, -1)
    assert client.waiting == 1  # only the greeting is due: refused commands left no expectation
