"""Submission (STARTTLS) and submissions (implicit TLS): AUTH, sender ownership, local delivery,
remote recipients queued, Message-ID and Date added."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from pochta.proto.sasl import ClientMechanism, encode_sasl
from smtp_env import ALICE, BOB, PASSWORD, SmtpEnv, message, smtp_server, strip_received


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as env:
        yield env


def _client(env: SmtpEnv, *, implicit: bool = False, login: bool = True) -> smtplib.SMTP:
    if implicit:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            *env.address("submissions"), context=env.client_context(), timeout=10
        )
    else:
        client = smtplib.SMTP(*env.address("submission"), timeout=10)
        client.starttls(context=env.client_context())
    client.ehlo("laptop.example.org")
    if login:
        client.login(ALICE, PASSWORD)
    return client


async def test_auth_required_before_mail(env: SmtpEnv) -> None:
    def run() -> tuple[int, bytes]:
        with _client(env, login=False) as client:
            return client.docmd("MAIL FROM:<alice@example.org>")

    assert await asyncio.to_thread(run) == (530, b"5.7.0 Authentication required")


async def test_submission_starttls_auth_delivers_locally(env: SmtpEnv) -> None:
    data = message("sub", sender=ALICE, to=BOB)

    def run() -> dict[str, tuple[int, bytes]]:
        with _client(env) as client:
            return client.sendmail(ALICE, [BOB], data)

    assert await asyncio.to_thread(run) == {}
    stored = await env.messages(env.bob)
    assert b"with ESMTPSA id " in stored[0]
    assert strip_received(stored[0]) == data
    assert env.metrics.logins.labels(protocol="submission", result="ok")._value.get() == 1


async def test_submissions_implicit_tls_with_aiosmtplib(env: SmtpEnv) -> None:
    data = message("implicit", sender=ALICE, to=BOB)
    host, port = env.address("submissions")
    errors, _ = await aiosmtplib.send(
        data,
        sender=ALICE,
        recipients=[BOB],
        hostname=host,
        port=port,
        use_tls=True,
        tls_context=env.client_context(),
        username=ALICE,
        password=PASSWORD,
    )
    assert errors == {}
    assert strip_received((await env.messages(env.bob))[0]) == data


async def test_scram_sha_256_login(env: SmtpEnv) -> None:
    def run() -> tuple[int, bytes]:
        with _client(env, login=False) as client:
            mech = ClientMechanism.start("SCRAM-SHA-256", ALICE, PASSWORD)
            first = mech.initial_response()
            assert first is not None
            code, text = client.docmd("AUTH", "SCRAM-SHA-256 " + encode_sasl(first).decode())
            assert code == 334
            code, text = client.docmd(encode_sasl(mech.respond(base64.b64decode(text))).decode())
            assert code == 334  # RFC 4954 §4: the server-final message as a last challenge
            mech.finish(base64.b64decode(text))  # verifies the server's signature
            return client.docmd("")

    code, _ = await asyncio.to_thread(run)
    assert code == 235


async def test_wrong_password_535(env: SmtpEnv) -> None:
    def run() -> None:
        with _client(env, login=False) as client:
            client.login(ALICE, "wrong")

    with pytest.raises(smtplib.SMTPAuthenticationError) as info:
        await asyncio.to_thread(run)
    assert info.value.smtp_code == 535


async def test_plain_auth_not_offered_without_tls_from_non_loopback_policy(tmp_path: Path) -> None:
    from smtp_env import smtp_settings

    async with smtp_server(tmp_path, smtp_settings(login={"plaintext_on_insecure": "never"})) as env:

        def run() -> str:
            with smtplib.SMTP(*env.address("submission"), timeout=10) as client:
                client.ehlo()
                return client.esmtp_features.get("auth", "")

        assert "PLAIN" not in await asyncio.to_thread(run)


async def test_envelope_sender_must_be_owned(env: SmtpEnv) -> None:
    def run() -> tuple[int, bytes]:
        with _client(env) as client:
            return client.docmd("MAIL FROM:<bob@example.org>")

    assert (await asyncio.to_thread(run))[0] == 553


async def test_alias_of_the_account_may_be_used(env: SmtpEnv) -> None:
    await env.store.add_alias("sales@example.org", [ALICE])
    data = message("alias", sender="sales@example.org", to=BOB)

    def run() -> dict[str, tuple[int, bytes]]:
        with _client(env) as client:
            return client.sendmail("sales@example.org", [BOB], data)

    assert await asyncio.to_thread(run) == {}


async def test_from_header_must_be_owned(env: SmtpEnv) -> None:
    data = message("forged", sender=BOB, to=BOB)

    def run() -> None:
        with _client(env) as client:
            client.sendmail(ALICE, [BOB], data)

    with pytest.raises(smtplib.SMTPDataError) as info:
        await asyncio.to_thread(run)
    assert info.value.smtp_code == 553
    assert await env.messages(env.bob) == []


async def test_remote_recipients_are_queued_with_their_dsn_parameters(env: SmtpEnv) -> None:
    data = message("outbound", sender=ALICE, to="friend@remote.example")

    def run() -> tuple[int, bytes]:
        with _client(env) as client:
            client.ehlo()
            client.mail(ALICE, ["RET=FULL", "ENVID=QQ+2B1"])
            client.rcpt(
                "friend@remote.example", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;friend@remote.example"]
            )
            client.rcpt(BOB)
            return client.data(data)

    code, text = await asyncio.to_thread(run)
    assert code == 250
    assert b"queued as" in text
    assert len(await env.messages(env.bob)) == 1  # local recipients: delivered at once
    [entry] = await env.store.queue_entries()
    assert (entry.origin, entry.sender, entry.ret, entry.envid) == ("submission", ALICE, "FULL", "QQ+1")
    [recipient] = entry.recipients
    assert recipient.address == "friend@remote.example"
    assert recipient.notify == ("SUCCESS", "FAILURE")
    assert recipient.orcpt == ("rfc822", "friend@remote.example")
    assert recipient.status == "pending"


async def test_remote_recipient_without_authentication_is_relay_denied(env: SmtpEnv) -> None:
    def run() -> tuple[int, bytes]:
        with smtplib.SMTP(*env.address("smtp")) as client:
            client.ehlo()
            client.mail(ALICE)
            return client.rcpt("friend@remote.example")

    code, text = await asyncio.to_thread(run)
    assert code == 554
    assert b"5.7.1" in text
    assert await env.store.queue_entries() == []


async def test_message_id_and_date_added_when_missing(env: SmtpEnv) -> None:
    data = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: bare\r\n\r\nHi\r\n"

    def run() -> None:
        with _client(env) as client:
            client.sendmail(ALICE, [BOB], data)

    await asyncio.to_thread(run)
    stored = strip_received((await env.messages(env.bob))[0])
    assert stored.endswith(data)
    head = stored[: -len(data)]
    assert head.startswith(b"Date: ")
    assert b"\r\nMessage-ID: <" in head
    assert b"@mx.example.org>\r\n" in head


async def test_bare_lf_in_header_refused(env: SmtpEnv) -> None:
    host, port = env.address("submissions")
    reader, writer = await asyncio.open_connection(host, port, ssl=env.client_context())
    try:
        await reader.readline()
        token = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()).decode()
        writer.write(
            f"EHLO x\r\nAUTH PLAIN {token}\r\nMAIL FROM:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\nDATA\r\n".encode()
            + b"From: alice@example.org\r\nSubject: a\nBcc: evil@remote.example\r\n\r\nbody\r\n.\r\nQUIT\r\n"
        )
        await writer.drain()
        text = (await reader.read()).decode()
    finally:
        writer.close()
    assert "550 5.6.0" in text
    assert await env.messages(env.bob) == []


def _send_header(env: SmtpEnv, header: bytes) -> tuple[int, bytes]:
    """Alice (logged in) sends a message with ``header`` (raw fields, CRLF-terminated) to bob:
    the reply to the message data."""
    data = header + b"To: bob@example.org\r\nSubject: who?\r\nMessage-ID: <w@x>\r\nDate: x\r\n\r\nHi\r\n"

    def run() -> tuple[int, bytes]:
        with _client(env) as client:
            client.mail(ALICE)
            client.rcpt(BOB)
            return client.data(data)

    return run()


# Logged in as alice, each of these was delivered as if from bob before the strict reader.
FORGED_AUTHORS = {
    "unclosed-angle": b"From: <bob@example.org\r\n",
    "trailing-semicolon": b"From: bob@example.org;\r\n",
    "trailing-dot": b"From: bob@example.org.\r\n",
    "unclosed-comment": b"From: bob@example.org (comment\r\n",
    "empty-angle-after": b"From: bob@example.org <>\r\n",
    "nul-after-address": b"From: bob@example.org\x00\r\n",
    "fold-with-comma": b"From: alice@example.org,\r\n bob@example.org\r\n",
    "fold-without-comma": b"From: alice@example.org\r\n bob@example.org\r\n",
    "unindented-line": b"From: alice@example.org\r\nbob@example.org\r\n",
    "address-after-name-addr": b"From: Alice <alice@example.org> bob@example.org\r\n",
    "encoded-word-display-name": b"From: =?utf-8?q?bob=40example.org?= <alice@example.org>\r\n",
    "encoded-word-with-at": b"From: =?utf-8?q?bob@example.org?= <alice@example.org>\r\n",
    "encoded-word-address": b"From: =?utf-8?q?bob=40example.org?=\r\n",
    "quoted-display-name": b'From: "bob@example.org" <alice@example.org>\r\n',
    "comment-name": b"From: alice@example.org (bob@example.org)\r\n",
    "empty": b"From:\r\n",
    "blank": b"From:   \r\n",
    "two-from-fields": b"From: alice@example.org\r\nFrom: bob@example.org\r\n",
    "group": b"From: Friends: bob@example.org;\r\n",
    "obs-route": b"From: <@example.org:bob@example.org>\r\n",
    "sender-bob": b"From: alice@example.org\r\nSender: bob@example.org\r\n",
    "sender-unparsable": b"From: alice@example.org\r\nSender: <bob@example.org\r\n",
    "sender-two-mailboxes": b"From: alice@example.org\r\nSender: alice@example.org, bob@example.org\r\n",
    "not-utf8": b"From: \xff <alice@example.org>\r\n",
}


@pytest.mark.parametrize("header", FORGED_AUTHORS.values(), ids=FORGED_AUTHORS.keys())
async def test_from_and_sender_must_parse_strictly_and_be_owned(env: SmtpEnv, header: bytes) -> None:
    code, text = await asyncio.to_thread(_send_header, env, header)
    assert (code, text[:5]) == (553, b"5.7.1"), text
    assert await env.messages(env.bob) == []


OWN_AUTHORS = {
    "plain": b"From: alice@example.org\r\n",
    "name-addr": b"From: Alice <alice@example.org>\r\n",
    "quoted-own-address-as-name": b'From: "alice@example.org" <alice@example.org>\r\n',
    "obs-phrase-with-dot": b"From: Dr. Alice <alice@example.org>\r\n",
    "encoded-name": b"From: =?utf-8?q?Al=C3=AFce?= <alice@example.org>\r\n",
    "comment": b"From: alice@example.org (Alice)\r\n",
    "folded": b"From: Alice\r\n <alice@example.org>\r\n",
    "alias-and-sender": b"From: Sales <sales@example.org>\r\nSender: alice@example.org\r\n",
}


@pytest.mark.parametrize("header", OWN_AUTHORS.values(), ids=OWN_AUTHORS.keys())
async def test_own_addresses_in_from_and_sender_are_accepted(env: SmtpEnv, header: bytes) -> None:
    await env.store.add_alias("sales@example.org", [ALICE])
    code, _ = await asyncio.to_thread(_send_header, env, header)
    assert code == 250
    assert len(await env.messages(env.bob)) == 1


async def test_missing_from_is_added_from_the_account(env: SmtpEnv) -> None:
    code, _ = await asyncio.to_thread(_send_header, env, b"")
    assert code == 250
    [stored] = await env.messages(env.bob)
    assert b"\r\nFrom: <alice@example.org>\r\n" in stored
    assert stored.count(b"From:") == 1


MALFORMED_HEADERS = {
    "first-line-folded": b" From: bob@example.org\r\n",
    "first-line-not-a-field": b"garbage\r\nFrom: bob@example.org\r\n",
    "stray-line-before-the-body": b"From: alice@example.org\r\nTo: bob@example.org\r\nnot a field\r\n",
}


@pytest.mark.parametrize("header", MALFORMED_HEADERS.values(), ids=MALFORMED_HEADERS.keys())
async def test_malformed_header_section_is_refused(env: SmtpEnv, header: bytes) -> None:
    # Completing such a header (From:, Date: in front) would make its first line a continuation of
    # ours; the message is refused instead.
    def run() -> tuple[int, bytes]:
        with _client(env) as client:
            client.mail(ALICE)
            client.rcpt(BOB)
            return client.data(header + b"\r\nHi\r\n")

    code, text = await asyncio.to_thread(run)
    assert (code, text[:5]) == (550, b"5.6.0"), text
    assert await env.messages(env.bob) == []
