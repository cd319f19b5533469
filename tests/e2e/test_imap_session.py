"""IMAP sessions end to end over real sockets: greeting, CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE,
ENABLE, ID, NAMESPACE, unimplemented commands, limits and autologout."""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

import imapclient
import pytest

from imap_env import ALICE, PASSWORD, ImapEnv, exchange, imap_server, imap_session, imap_settings, read_line
from pochta.proto.sasl import ClientMechanism, encode_sasl
from pochta.server.imap import commands
from server_env import drip


def caps_of(line: bytes) -> set[str]:
    start = line.index(b"[CAPABILITY ") + len(b"[CAPABILITY ")
    return set(line[start : line.index(b"]", start)].decode().split())


async def test_greeting_and_capabilities(env: ImapEnv) -> None:
    def run() -> tuple[bytes, set[str], set[str], set[str]]:
        sock = socket.create_connection(env.plain, timeout=10)
        greeting = read_line(sock)
        before = set(exchange(sock, b"a CAPABILITY")[0].split()[2:])
        after_login = caps_of(exchange(sock, b"b LOGIN alice@example.org PASSWORD")[-1])
        after = set(exchange(sock, b"c CAPABILITY")[0].split()[2:])
        sock.close()
        return greeting, before, after_login, after

    greeting, before, after_login, after = await asyncio.to_thread(run)
    assert greeting.startswith(b"* OK [CAPABILITY IMAP4rev2 IMAP4rev1 ")
    assert greeting.endswith(b"pochta IMAP ready\r\n")
    assert caps_of(greeting) == {c.decode() for c in before}
    assert {"IMAP4rev2", "IMAP4rev1", "STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=SCRAM-SHA-256"} <= {
        c.decode() for c in before
    }
    expected = {"SASL-IR", "ID", "ENABLE", "UTF8=ACCEPT", "LITERAL+", "NAMESPACE", "UNSELECT", "CHILDREN"}
    expected |= {"LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "STATUS=SIZE"}
    assert expected <= after_login
    assert after_login == {c.decode() for c in after}
    # After login: no STARTTLS, no AUTH=.
    assert not {c for c in after_login if c.startswith("AUTH=") or c == "STARTTLS"}
    assert any(c.startswith("APPENDLIMIT") for c in after_login) == ("APPEND" in commands.TABLE)
    assert "LOGINDISABLED" not in after_login


@pytest.mark.parametrize("kind", ["plain", "starttls", "imaps"])
async def test_login_with_imaplib(env: ImapEnv, kind: str) -> None:
    def run() -> tuple[tuple[str, ...], str]:
        client = env.connect(kind)
        caps = client.capabilities
        typ, _ = client.login(ALICE, PASSWORD)
        client.logout()
        return caps, typ

    caps, typ = await asyncio.to_thread(run)
    assert typ == "OK"
    # STARTTLS is offered only where it can be used: not after STARTTLS, not on IMAPS.
    assert ("STARTTLS" in caps) is (kind == "plain")


async def test_starttls_drops_pipelined_plaintext(env: ImapEnv) -> None:
    def run() -> tuple[list[bytes], list[bytes]]:
        sock = env.raw()
        # A command pipelined behind STARTTLS in the same packet must never run (RFC 9051 §6.2.1).
        sock.sendall(b"a STARTTLS\r\nb LOGIN alice@example.org PASSWORD\r\n")
        assert read_line(sock) == b"a OK Begin TLS negotiation now\r\n"
        tls = env.client_context().wrap_socket(sock, server_hostname="localhost")
        caps = exchange(tls, b"c CAPABILITY")  # type: ignore[arg-type]
        noop = exchange(tls, b"d NOOP")  # type: ignore[arg-type]
        tls.close()
        return caps, noop

    caps, noop = await asyncio.to_thread(run)
    assert b"STARTTLS" not in caps[0]
    assert caps[-1] == b"c OK CAPABILITY completed\r\n"
    assert noop == [b"d OK NOOP completed\r\n"]  # no answer to "b": it was dropped


async def test_login_failures(env: ImapEnv) -> None:
    await env.store.set_account_settings("bob@example.org", {"imap.enabled": False})

    def run() -> list[list[bytes]]:
        sock = env.raw()
        out = [
            exchange(sock, b"a LOGIN alice@example.org wrong"),
            exchange(sock, b"b LOGIN nobody@example.org PASSWORD"),
            exchange(sock, b"c LOGIN bob@example.org PASSWORD"),
            exchange(sock, b"d SELECT INBOX"),
        ]
        sock.close()
        return out

    wrong, unknown, disabled, select = await asyncio.to_thread(run)
    assert wrong == [b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"]
    assert unknown == [b"b NO [AUTHENTICATIONFAILED] Authentication failed\r\n"]
    assert disabled == [b"c NO [AUTHORIZATIONFAILED] IMAP access is disabled for this account\r\n"]
    assert select == [b"d BAD Log in first\r\n"]


async def test_logindisabled_by_policy(tmp_path: Path) -> None:
    settings = imap_settings(login={"plaintext_on_insecure": "never"})
    async with imap_server(tmp_path, settings) as env:

        def run() -> tuple[bytes, list[bytes], list[bytes], set[str]]:
            sock = socket.create_connection(env.plain, timeout=10)
            greeting = read_line(sock)
            login = exchange(sock, b"a LOGIN alice@example.org PASSWORD")
            plain = exchange(sock, b"b AUTHENTICATE PLAIN " + _plain_ir())
            sock.close()
            client = env.connect("starttls")  # after STARTTLS, LOGIN works again
            caps = set(client.capabilities)
            client.login(ALICE, PASSWORD)
            client.logout()
            return greeting, login, plain, caps

        greeting, login, plain, caps = await asyncio.to_thread(run)
    assert "LOGINDISABLED" in caps_of(greeting)
    assert not {"AUTH=PLAIN", "AUTH=LOGIN"} & caps_of(greeting)
    assert "AUTH=SCRAM-SHA-256" in caps_of(greeting)
    assert login == [b"a NO [PRIVACYREQUIRED] Use STARTTLS or IMAPS first\r\n"]
    assert plain == [b"b NO [PRIVACYREQUIRED] Use STARTTLS or IMAPS first\r\n"]
    assert "LOGINDISABLED" not in caps
    assert "AUTH=PLAIN" in caps


def _plain_ir(user: str = ALICE, password: str = PASSWORD) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


async def test_authenticate_plain_with_and_without_initial_response(env: ImapEnv) -> None:
    def run() -> tuple[list[bytes], list[bytes], bytes, list[bytes], list[bytes]]:
        sock = env.raw()
        with_ir = exchange(sock, b"a AUTHENTICATE PLAIN " + _plain_ir())
        sock.close()
        sock = env.raw()
        sock.sendall(b"b AUTHENTICATE PLAIN\r\n")
        challenge = read_line(sock)
        without_ir = exchange(sock, _plain_ir(), tag=b"b")
        sock.close()
        sock = env.raw()
        sock.sendall(b"c AUTHENTICATE PLAIN\r\n")
        read_line(sock)
        cancelled = exchange(sock, b"*", tag=b"c")
        bad_ir = exchange(sock, b"d AUTHENTICATE PLAIN QUJD=")
        sock.close()
        return with_ir, without_ir, challenge, cancelled, bad_ir

    with_ir, without_ir, challenge, cancelled, bad_ir = await asyncio.to_thread(run)
    assert with_ir[-1].startswith(b"a OK [CAPABILITY IMAP4rev2 ")
    assert challenge == b"+ \r\n"
    assert without_ir[-1].startswith(b"b OK [CAPABILITY ")
    assert cancelled == [b"c BAD Authentication cancelled\r\n"]  # RFC 9051 §6.2.2
    assert bad_ir == [b"d BAD Invalid base64 in initial response\r\n"]


async def test_authenticate_login_and_wrong_password(env: ImapEnv) -> None:
    def run() -> list[bytes]:
        sock = env.raw()
        sock.sendall(b"a AUTHENTICATE LOGIN\r\n")
        out = [read_line(sock)]
        sock.sendall(base64.b64encode(ALICE.encode()) + b"\r\n")
        out.append(read_line(sock))
        out += exchange(sock, base64.b64encode(b"nope"), tag=b"a")
        sock.close()
        return out

    out = await asyncio.to_thread(run)
    assert out[0] == b"+ " + base64.b64encode(b"Username:") + b"\r\n"
    assert out[1] == b"+ " + base64.b64encode(b"Password:") + b"\r\n"
    assert out[2] == b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


@pytest.mark.parametrize("password", [PASSWORD, "wrong"])
async def test_authenticate_scram_sha_256(env: ImapEnv, password: str) -> None:
    def run() -> list[bytes]:
        mech = ClientMechanism.start("SCRAM-SHA-256", ALICE, password)
        sock = env.raw()
        first = mech.initial_response()
        assert first is not None
        sock.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " + encode_sasl(first) + b"\r\n")
        challenge = read_line(sock)
        assert challenge.startswith(b"+ ")
        final = mech.respond(base64.b64decode(challenge[2:].strip()))
        sock.sendall(encode_sasl(final) + b"\r\n")
        reply = read_line(sock)
        if reply.startswith(b"+ "):
            mech.finish(base64.b64decode(reply[2:].strip()))  # the server proved itself
            sock.sendall(b"\r\n")
            reply = read_line(sock)
        sock.close()
        return [reply]

    (reply,) = await asyncio.to_thread(run)
    if password == PASSWORD:
        assert reply.startswith(b"a OK [CAPABILITY IMAP4rev2 ")
    else:
        assert reply == b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


async def test_imapclient_login_enable_id_namespace(env: ImapEnv) -> None:
    def run() -> tuple[object, object, object]:
        client = imapclient.IMAPClient(
            env.tls[0], port=env.tls[1], ssl_context=env.client_context(), timeout=10
        )
        client.login(ALICE, PASSWORD)
        ns = client.namespace()
        ident = client.id_({"name": "pytest"})
        enabled = client.enable("UTF8=ACCEPT", "X-UNKNOWN")
        client.logout()
        return ns, ident, enabled

    ns, ident, enabled = await asyncio.to_thread(run)
    assert ns.personal == (("", "/"),)  # type: ignore[attr-defined]
    assert ns.other == (("Other Users/", "/"),)  # RFC 2342 §2: mailboxes shared by other users
    assert ns.shared == (("Shared/", "/"),)  # type: ignore[attr-defined]  # RFC 2342 §5: public mailboxes
    assert ident[0][:2] == (b"name", b"pochta")  # type: ignore[index]
    assert enabled == [b"UTF8=ACCEPT"]


async def test_enable_lists_only_what_is_newly_enabled(env: ImapEnv) -> None:
    def run() -> list[list[bytes]]:
        sock = imap_session(env, select=b"")
        out = [
            exchange(sock, b"a ENABLE IMAP4rev2"),
            exchange(sock, b"b ENABLE IMAP4rev2 UTF8=ACCEPT"),
            exchange(sock, b"c ENABLE FOO"),
        ]
        sock.close()
        return out

    first, second, third = await asyncio.to_thread(run)
    assert first == [b"* ENABLED IMAP4rev2\r\n", b"a OK ENABLE completed\r\n"]
    assert second == [b"* ENABLED UTF8=ACCEPT\r\n", b"b OK ENABLE completed\r\n"]
    assert third == [b"* ENABLED\r\n", b"c OK ENABLE completed\r\n"]


async def test_bad_input_and_limits(env: ImapEnv) -> None:
    def run() -> dict[str, list[bytes]]:
        sock = imap_session(env, select=b"")
        out = {
            "long": exchange(sock, b"a NOOP " + b"x" * 70_000, tag=b"a"),
        }
        sock.close()
        sock = imap_session(env, select=b"")
        out["nul"] = exchange(sock, b'b STATUS "IN\x00BOX" (MESSAGES)')
        out["after_nul"] = exchange(sock, b"c NOOP")
        # A synchronising literal over APPENDLIMIT is refused before the client sends it.
        out["toobig"] = exchange(sock, b"d APPEND INBOX {999999999}")
        out["still"] = exchange(sock, b"e NOOP")
        # A non-synchronising literal over a limit is read, dropped and refused (RFC 7888 §4).
        sock.sendall(b"f STATUS {70000+}\r\n" + b"x" * 70_000)
        out["nonsync"] = exchange(sock, b" (MESSAGES)", tag=b"f")
        out["after_nonsync"] = exchange(sock, b"g NOOP")
        # One the server would have to read 1 GB of, only to drop it: BYE (imap.max_discarded_literal).
        out["huge"] = exchange(sock, b"h APPEND INBOX {999999999+}", tag=b"*")
        out["closed"] = [sock.recv(10)]
        sock.close()
        return out

    out = await asyncio.to_thread(run)
    assert out["long"] == [b"* BYE [TOOBIG] Command line too long\r\n"]
    assert out["nul"] == [b"b BAD NUL in command\r\n"]
    assert out["after_nul"] == [b"c OK NOOP completed\r\n"]
    assert out["toobig"] == [b"d NO [TOOBIG] Literal too big\r\n"]
    assert out["still"] == [b"e OK NOOP completed\r\n"]
    assert out["nonsync"] == [b"f NO [TOOBIG] Literal too big\r\n"]
    assert out["after_nonsync"] == [b"g OK NOOP completed\r\n"]
    assert out["huge"] == [b"* BYE [TOOBIG] Literal too big\r\n"]
    assert out["closed"] == [b""]


async def test_literal_minus_by_config(tmp_path: Path) -> None:
    # imap.literal_plus = false: LITERAL- instead of LITERAL+ (RFC 7888 §5, never both), and a
    # non-synchronising literal over 4096 octets gets BAD [TOOBIG] after it was read past.
    async with imap_server(tmp_path, imap_settings(imap={"literal_plus": False})) as minus:

        def run() -> tuple[set[str], list[bytes], list[bytes], list[bytes]]:
            sock = minus.raw()
            caps = caps_of(exchange(sock, b"L LOGIN alice@example.org PASSWORD")[-1])
            message = b"Subject: x\r\n\r\n" + b"y" * 5000
            sock.sendall(b"a APPEND INBOX {%d+}\r\n" % len(message) + message)
            over = exchange(sock, b"", tag=b"a")
            small = b"Subject: x\r\n\r\nsmall\r\n"
            sock.sendall(b"b APPEND INBOX {%d+}\r\n" % len(small) + small)
            under = exchange(sock, b"", tag=b"b")
            after = exchange(sock, b"c NOOP")
            sock.close()
            return caps, over, under, after

        caps, over, under, after = await asyncio.to_thread(run)
    assert "LITERAL-" in caps
    assert "LITERAL+" not in caps
    assert over == [b"a BAD [TOOBIG] Non-synchronizing literal over 4096 octets\r\n"]
    assert under[-1].startswith(b"b OK [APPENDUID ")
    assert after == [b"c OK NOOP completed\r\n"]


async def test_too_many_errors_close_with_bye(env: ImapEnv) -> None:
    def run() -> list[bytes]:
        sock = env.raw()
        out = []
        for n in range(env.settings.limits.max_errors):
            out += exchange(sock, b"x%d FROBNICATE" % n, tag=b"x%d" % n)
        out.append(sock.recv(10))
        sock.close()
        return out

    out = await asyncio.to_thread(run)
    assert out[0] == b"x0 BAD Unknown command\r\n"
    assert out[-2] == b"* BYE Too many invalid commands\r\n"
    assert out[-1] == b""


async def test_logout_and_autologout(tmp_path: Path) -> None:
    settings = imap_settings(server={"idle_timeout_unauthenticated": 0.3})
    async with imap_server(tmp_path, settings) as env:

        def run() -> tuple[list[bytes], bytes, bytes]:
            sock = env.raw()
            logout = exchange(sock, b"a LOGOUT")
            sock.close()
            sock = env.raw()
            bye = read_line(sock)  # nothing sent: the unauthenticated timeout expires
            eof = sock.recv(10)
            sock.close()
            return logout, bye, eof

        logout, bye, eof = await asyncio.to_thread(run)
    assert logout == [b"* BYE Logging out\r\n", b"a OK LOGOUT completed\r\n"]
    assert bye == b"* BYE Autologout; idle for too long\r\n"
    assert eof == b""


async def test_deadlines_before_login(tmp_path: Path) -> None:
    # The idle timer restarts with every octet: one every 0.3 s kept a session forever.
    settings = imap_settings(server={"line_timeout": 1.0, "login_timeout": 2.0})
    login = b"L LOGIN alice@example.org PASSWORD\r\n"
    async with imap_server(tmp_path, settings) as env:
        dripped, noops, logged_in = await asyncio.gather(
            asyncio.to_thread(drip, env.plain, b"a NOOP\r\n"),
            asyncio.to_thread(drip, env.plain, b"a NOOP\r\n", octets=8),  # whole lines, no login
            asyncio.to_thread(drip, env.plain, b"a NOOP\r\n", octets=8, start=login, seconds=3.5),
        )
    said, seconds = dripped
    assert said.endswith(b"* BYE Autologout; command line not completed within 1 second\r\n")
    assert 0.9 < seconds < 2.5
    said, seconds = noops
    assert said.endswith(b"a OK NOOP completed\r\n* BYE Autologout; not logged in within 2 seconds\r\n")
    assert 1.9 < seconds < 3
    said, seconds = logged_in
    assert b"BYE" not in said  # logged in: the login deadline is over
    assert said.count(b"a OK NOOP completed\r\n") > 5
    assert seconds >= 3.5
