"""Milters on the MX and submission over real sockets, against a scripted milter
(tests/milter_fake.py): each step reaches the milter as the SMTP session goes, with its macros;
its answers become the SMTP replies (reject 550 5.7.1, tempfail 451 4.7.1, its own reply code, a
recipient refused alone, discard: 250 and nothing stored); its modifications are in the stored
message (headers with libmilter's index rules, a replaced body, recipients added and removed,
quarantine into Junk); two milters in order, the second seeing the first's changes; a milter
down or hung: default_action."""

from __future__ import annotations

import asyncio
import smtplib
import struct
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from milter_fake import ACCEPT, DISCARD, REJECT, TEMPFAIL, FakeMilter, header, replycode
from pochta.proto.milter import frame
from smtp_env import ALICE, BOB, PASSWORD, SmtpEnv, converse, message, smtp_server, smtp_settings


def milter_settings(*milters: FakeMilter | dict[str, Any], **extra: Any) -> Any:
    tables = [m if isinstance(m, dict) else {"socket": m.socket, "name": "fake"} for m in milters]
    return smtp_settings(milters=tables, **extra)


def send(
    env: SmtpEnv, rcpts: Sequence[str], data: bytes, role: str = "smtp"
) -> tuple[int, list[int], int | None, str]:
    """MAIL, each RCPT, DATA: (MAIL code, RCPT codes, DATA code or None, last reply text)."""
    with smtplib.SMTP(*env.address(role), timeout=20) as client:
        client.ehlo("client.example.net")
        sender = "carol@example.net"
        if role == "submission":
            client.starttls(context=env.client_context())
            client.ehlo("client.example.net")
            client.login(ALICE, PASSWORD)
            sender = ALICE
        code, text = client.mail(sender)
        if code != 250:
            return code, [], None, text.decode()
        codes = [client.docmd(f"RCPT TO:<{r}>")[0] for r in rcpts]
        if 250 not in codes:
            return code, codes, None, ""
        try:
            data_code, text = client.data(data)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            data_code, text = exc.smtp_code, error if isinstance(error, bytes) else error.encode()
        return code, codes, data_code, text.decode()


@pytest.fixture
async def fake() -> AsyncIterator[FakeMilter]:
    async with FakeMilter().running() as milter:
        yield milter


async def test_steps_macros_and_header_changes(tmp_path: Any, fake: FakeMilter) -> None:
    fake.script["E"] = [
        header("X-Filtered", "yes"),
        frame(b"i", struct.pack("!I", 0) + b"X-Top\0first\0"),
        frame(b"m", struct.pack("!I", 1) + b"Subject\0[checked] hello\0"),
        frame(b"m", struct.pack("!I", 1) + b"Message-ID\0\0"),  # an empty value deletes
        ACCEPT,
    ]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        result = await asyncio.to_thread(send, env, [ALICE], message())
        assert result[:3] == (250, [250], 250)
        (stored,) = await env.messages()
    assert stored.startswith(b"X-Top: first\r\nReceived: ")
    assert b"\r\nSubject: [checked] hello\r\n" in stored
    assert b"Message-ID" not in stored
    head = stored.split(b"\r\n\r\n")[0]
    assert head.endswith(b"\r\nX-Filtered: yes")
    assert stored.endswith(b"\r\n\r\nHello.\r\n.A line with a leading dot\r\nBye.\r\n")
    letters = [letter for letter, _ in fake.received if letter not in "DLB"]
    assert letters == ["O", "C", "H", "M", "R", "T", "N", "E", "Q"]
    (connect,) = fake.commands("C")
    assert connect == b"unknown\x004" + connect[9:11] + b"127.0.0.1\0"
    assert fake.commands("H") == [b"client.example.net\0"]
    assert fake.commands("M")[0].startswith(b"<carol@example.net>\0")
    assert fake.commands("R") == [b"<alice@example.org>\0"]
    names = [data.split(b"\0")[0] for data in fake.commands("L")]
    assert names == [b"Received", b"From", b"To", b"Subject", b"Message-ID", b"Date"]
    assert b"Subject\0hello\0" in fake.commands("L")  # no leading space without HDR_LEADSPC
    assert b"".join(fake.commands("B")) == b"Hello.\r\n.A line with a leading dot\r\nBye.\r\n"
    macros = fake.macros()
    assert macros["j"] == "mx.example.org"
    assert macros["{client_addr}"] == "127.0.0.1"
    assert macros["{mail_addr}"] == "carol@example.net"
    assert macros["{rcpt_addr}"] == ALICE
    assert len(macros["i"]) > 4
    assert macros["{daemon_name}"] == "smtp"


@pytest.mark.parametrize(
    ("letter", "answer", "expected"),
    [
        ("E", REJECT, (250, [250], 550, "5.7.1 Message rejected by content filter")),
        ("E", TEMPFAIL, (250, [250], 451, "4.7.1 Message temporarily refused")),
        ("E", replycode("554 5.7.1 Gtube pattern"), (250, [250], 554, "5.7.1 Gtube pattern")),
        ("M", TEMPFAIL, (451, [], None, "4.7.1 Sender temporarily refused")),
        ("M", REJECT, (550, [], None, "5.7.1 Sender rejected")),
        ("R", REJECT, (250, [550], None, "")),
        ("T", REJECT, (250, [250], 550, "5.7.1 Message rejected")),
        ("C", replycode("421 4.7.0 go away"), (421, [], None, "4.7.0 go away")),
    ],
)
async def test_refusals(
    tmp_path: Any, fake: FakeMilter, letter: str, answer: bytes, expected: tuple[Any, ...]
) -> None:
    fake.script[letter] = [answer]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        mail, rcpts, data, text = await asyncio.to_thread(send, env, [ALICE], message())
        assert (mail, rcpts, data) == expected[:3]
        assert text.startswith(expected[3])
        assert await env.messages() == []
        assert env.spool_files() == []
    if letter == "E":
        assert fake.commands("A") == []  # end of message closed it


async def test_recipient_refused_alone(tmp_path: Any, fake: FakeMilter) -> None:
    fake.script["R"] = lambda data: [replycode("550 5.1.1 not this one")] if b"bob" in data else [frame(b"c")]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        assert (await asyncio.to_thread(send, env, [BOB, ALICE], message()))[:3] == (250, [550, 250], 250)
        assert len(await env.messages()) == 1
        assert await env.messages(env.bob) == []


async def test_discard_accepts_and_stores_nothing(tmp_path: Any, fake: FakeMilter) -> None:
    fake.script["E"] = [DISCARD]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        assert (await asyncio.to_thread(send, env, [ALICE], message()))[:3] == (250, [250], 250)
        assert await env.messages() == []
        assert env.spool_files() == []


async def test_quarantine_files_into_junk(tmp_path: Any, fake: FakeMilter) -> None:
    fake.script["E"] = [frame(b"q", b"suspicious\0"), frame(b"c")]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        assert (await asyncio.to_thread(send, env, [ALICE], message()))[:3] == (250, [250], 250)
        assert await env.messages() == []
        assert len(await env.messages(mailbox="Junk")) == 1


async def test_body_replaced_and_recipients_changed(tmp_path: Any, fake: FakeMilter) -> None:
    fake.script["E"] = [
        frame(b"b", b"New body\n"),
        frame(b"b", b"second line\r\n"),
        frame(b"+", b"<bob@example.org>\0"),
        frame(b"-", b"<alice@example.org>\0"),
        frame(b"e", b"<other@example.net>\0"),
        frame(b"c"),
    ]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        assert (await asyncio.to_thread(send, env, [ALICE], message()))[:3] == (250, [250], 250)
        assert await env.messages() == []
        (stored,) = await env.messages(env.bob)
    assert stored.endswith(b"\r\n\r\nNew body\r\nsecond line\r\n")


async def test_two_milters_in_order(tmp_path: Any) -> None:
    first = FakeMilter({"E": [header("X-First", "1"), frame(b"c")]})
    second = FakeMilter({"E": [header("X-Second", "2"), frame(b"c")]})
    async with first.running(), second.running():
        settings = milter_settings({"socket": first.socket}, {"socket": second.socket})
        async with smtp_server(tmp_path, settings) as env:
            assert (await asyncio.to_thread(send, env, [ALICE], message()))[:3] == (250, [250], 250)
            (stored,) = await env.messages()
    assert b"X-First: 1\r\nX-Second: 2\r\n\r\n" in stored
    assert b"X-First\0" + b"1\0" in second.commands("L")  # the second saw the first's change


async def test_milter_down_default_action(tmp_path: Any) -> None:
    down = {"socket": "inet:127.0.0.1:1", "connect_timeout": 2}
    async with smtp_server(tmp_path / "a", milter_settings(down)) as env:
        mail, _, _, text = await asyncio.to_thread(send, env, [ALICE], message())
        assert (mail, text[:5]) == (451, "4.7.1")
    async with smtp_server(tmp_path / "b", milter_settings(down | {"default_action": "accept"})) as env:
        assert (await asyncio.to_thread(send, env, [ALICE], message()))[:3] == (250, [250], 250)
        assert len(await env.messages()) == 1


async def test_hung_milter_times_out(tmp_path: Any) -> None:
    async with FakeMilter(silent=True).running() as hung:
        table = {"socket": hung.socket, "command_timeout": 0.5}
        async with smtp_server(tmp_path, milter_settings(table)) as env:
            mail, _, _, text = await asyncio.to_thread(send, env, [ALICE], message())
            assert (mail, text[:5]) == (451, "4.7.1")


async def test_listeners_choose_the_milter(tmp_path: Any, fake: FakeMilter) -> None:
    fake.script["E"] = [REJECT]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        # Only "smtp" by default: submission is not filtered.
        assert (await asyncio.to_thread(send, env, [BOB], message(sender=ALICE), "submission"))[:3] == (
            250,
            [250],
            250,
        )
    assert fake.connections == 0
    table = {"socket": fake.socket, "listeners": ["submission"]}
    async with smtp_server(tmp_path / "2", milter_settings(table)) as env:
        assert (await asyncio.to_thread(send, env, [BOB], message(sender=ALICE), "submission"))[2] == 550
        assert fake.macros()["{auth_authen}"] == ALICE


@pytest.mark.parametrize(
    ("letter", "answer", "refused_at"),
    [
        ("M", frame(b"Z"), "MAIL"),  # an unknown reply
        ("R", header("X-Early", "1"), "RCPT"),  # a modification before end of message
        ("E", frame(b"s"), "DATA"),  # SKIP not negotiated
        ("E", frame(b"h", b"Bad Name\0v\0"), "DATA"),  # a field name with a space
        ("E", replycode("250 2.0.0 fine"), "DATA"),  # a reply code that is no refusal
        ("E", b"\xff\xff\xff\xff", "DATA"),  # a packet length past the limit
    ],
)
async def test_broken_milter_reply_is_a_failure(
    tmp_path: Any, fake: FakeMilter, letter: str, answer: bytes, refused_at: str
) -> None:
    fake.script[letter] = [answer]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        mail, rcpts, data, text = await asyncio.to_thread(send, env, [ALICE], message())
        replies = {"MAIL": mail, "RCPT": rcpts[0] if rcpts else None, "DATA": data}
        assert replies[refused_at] == 451
        assert text[:5] in ("4.7.1", "")
        assert await env.messages() == []
        assert env.spool_files() == []


async def test_bdat_sends_data_at_end_and_progress_waits(tmp_path: Any, fake: FakeMilter) -> None:
    # SMFIR_PROGRESS restarts the wait: three of them, each within the timeout, then the verdict.
    fake.script["E"] = [frame(b"p"), frame(b"p"), frame(b"p"), header("X-Late", "yes"), frame(b"c")]
    data = message()
    payload = (
        b"EHLO client.example.net\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
        + f"BDAT {len(data)} LAST\r\n".encode()
        + data
        + b"QUIT\r\n"
    )
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        transcript = await converse(env.address("smtp"), payload)
        assert "\r\n250 2.0.0 Delivered as " in transcript, transcript
        (stored,) = await env.messages()
    assert b"\r\nX-Late: yes\r\n\r\n" in stored
    letters = [letter for letter, _ in fake.received if letter not in "DLB"]
    assert letters == ["O", "C", "H", "M", "R", "T", "N", "E", "Q"]  # DATA at the end for BDAT


async def test_negotiated_skips_and_no_reply_steps(tmp_path: Any) -> None:
    # The milter skips CONNECT, HELO and the body and does not answer RCPT or headers.
    steps = 0x01 | 0x02 | 0x10 | 0x8000 | 0x80
    milter = FakeMilter({"R": [], "L": []}, steps=steps)
    async with milter.running(), smtp_server(tmp_path, milter_settings(milter)) as env:
        assert (await asyncio.to_thread(send, env, [ALICE, BOB], message()))[:3] == (250, [250, 250], 250)
        assert len(await env.messages()) == 1
    letters = [letter for letter, _ in milter.received if letter != "D"]
    assert letters == ["O", "M", "R", "R", "T", "L", "L", "L", "L", "L", "L", "N", "E", "Q"]


async def test_tls_macros_after_starttls(tmp_path: Any, fake: FakeMilter) -> None:
    table = {"socket": fake.socket, "listeners": ["submission"]}
    async with smtp_server(tmp_path, milter_settings(table)) as env:
        assert (await asyncio.to_thread(send, env, [BOB], message(sender=ALICE), "submission"))[2] == 250
    assert fake.commands("H") == [b"client.example.net\0", b"client.example.net\0"]
    assert fake.macros()["{tls_version}"].startswith("TLSv1")


def change_header(index: int, name: str, value: str) -> bytes:
    return frame(b"m", struct.pack(">I", index) + f"{name}\0{value}\0".encode())


def send_from_outside(env: SmtpEnv, data: bytes) -> int:
    """One message from 127.0.0.2, outside the default trusted_networks (the MX's checks apply)."""
    with smtplib.SMTP(*env.address("smtp"), timeout=20, source_address=("127.0.0.2", 0)) as client:
        client.ehlo("client.example.net")
        client.mail("carol@example.net")
        client.rcpt(ALICE)
        return client.data(data)[0]


NO_CHECKS = {"dkim_verify": False, "spf_verify": False, "dmarc_verify": False}
FORGED = b"X-Spam: No\r\nX-Spamd-Result: default: False [-9.00 / 15.00]\r\n"


async def test_spam_header_set_by_the_milter_files_into_junk(tmp_path: Any, fake: FakeMilter) -> None:
    # rspamd's `add header` action: SMFIR_CHGHEADER X-Spam (index 1) to "Yes".
    fake.script["E"] = [change_header(1, "X-Spam", "Yes"), frame(b"c")]
    settings = milter_settings(fake, mailauth=NO_CHECKS)
    async with smtp_server(tmp_path, settings) as env:
        assert await asyncio.to_thread(send_from_outside, env, FORGED + message("spam")) == 250
        assert await env.messages() == []
        (stored,) = await env.messages(mailbox="Junk")
    head = stored.split(b"\r\n\r\n")[0]
    assert b"\r\nX-Spam: Yes\r\n" in head + b"\r\n"
    assert b"X-Spam: No" not in head
    assert b"X-Spamd-Result" not in head


async def test_spam_header_from_the_client_is_no_verdict(tmp_path: Any, fake: FakeMilter) -> None:
    # The milter changes nothing: a sender's own "X-Spam: Yes" neither files into Junk nor stays.
    fake.script["E"] = [frame(b"c")]
    settings = milter_settings(fake, mailauth=NO_CHECKS)
    async with smtp_server(tmp_path, settings) as env:
        data = b"X-Spam: Yes\r\n" + message("forged")
        assert await asyncio.to_thread(send_from_outside, env, data) == 250
        (stored,) = await env.messages()
        assert await env.messages(mailbox="Junk") == []
    assert b"X-Spam" not in stored.split(b"\r\n\r\n")[0]


async def test_other_header_values_stay_in_inbox(tmp_path: Any, fake: FakeMilter) -> None:
    fake.script["E"] = [change_header(1, "X-Spam", "No"), frame(b"c")]
    async with smtp_server(tmp_path, milter_settings(fake)) as env:
        assert (await asyncio.to_thread(send, env, [ALICE], message()))[:3] == (250, [250], 250)
        assert len(await env.messages()) == 1
