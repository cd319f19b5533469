"""ManageSieve (RFC 5804) end to end over real sockets: every command with its exact answers,
response codes, SASL (PLAIN, LOGIN, SCRAM with the SASL response code, cancel), STARTTLS with the
capabilities re-sent, limits, errors, UNAUTHENTICATE, autologout."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from managesieve_env import ALICE, BOB, PASSWORD, SieveClient, SieveEnv, literal, managesieve_server
from managesieve_env import managesieve_settings as settings_with
from pochta.proto.sasl import ClientMechanism, encode_sasl
from pochta.sieve import SUPPORTED_EXTENSIONS

SCRIPT = b'require "fileinto";\r\nif header :contains "subject" "x" { fileinto "X"; }\r\n'


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SieveEnv]:
    async with managesieve_server(tmp_path) as running:
        yield running


def capability_lines(response: bytes) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for line in response.split(b"\r\n"):
        if not line.startswith(b'"'):
            continue
        parts = line.split(b'" "', 1)
        name = parts[0].strip(b'"').decode()
        out[name] = parts[1].rstrip(b'"').decode() if len(parts) == 2 else None
    return out


async def test_greeting_lists_the_capabilities(env: SieveEnv) -> None:
    def run() -> bytes:
        client, greeting = env.connect()
        client.close()
        return greeting

    greeting = await asyncio.to_thread(run)
    caps = capability_lines(greeting)
    assert caps["IMPLEMENTATION"] is not None
    assert caps["IMPLEMENTATION"].startswith("pochta ")
    assert caps["SASL"] == "SCRAM-SHA-256 PLAIN LOGIN"  # loopback: plaintext allowed
    assert set((caps["SIEVE"] or "").split()) == set(SUPPORTED_EXTENSIONS)
    assert "STARTTLS" in caps
    assert caps["NOTIFY"] == "mailto"
    assert caps["MAXREDIRECTS"] == str(env.settings.sieve.max_redirects)
    assert caps["VERSION"] == "1.0"
    assert "OWNER" not in caps
    assert greeting.endswith(f'OK "{env.settings.hostname} pochta ManageSieve ready"\r\n'.encode())


async def test_script_lifecycle(env: SieveEnv) -> None:
    def run() -> list[bytes]:
        client = env.session()
        answers = [
            client.command(b"LISTSCRIPTS"),
            client.command(b'PUTSCRIPT "first" ' + literal(SCRIPT)),
            client.command(b'PUTSCRIPT "second" "keep;"'),
            client.command(b'SETACTIVE "first"'),
            client.command(b"LISTSCRIPTS"),
            client.command(b'GETSCRIPT "first"'),
            client.command(b'GETSCRIPT "second"'),
            client.command(b'DELETESCRIPT "first"'),
            client.command(b'RENAMESCRIPT "first" "renamed"'),
            client.command(b'RENAMESCRIPT "first" "second"'),
            client.command(b'RENAMESCRIPT "nope" "x"'),
            client.command(b"LISTSCRIPTS"),
            client.command(b'SETACTIVE ""'),
            client.command(b"LISTSCRIPTS"),
            client.command(b'DELETESCRIPT "renamed"'),
            client.command(b'GETSCRIPT "renamed"'),
            client.command(b'DELETESCRIPT "renamed"'),
            client.command(b'SETACTIVE "nope"'),
            client.command(b"LOGOUT"),
        ]
        client.close()
        return answers

    answers = await asyncio.to_thread(run)
    assert answers == [
        b'OK "Listscripts completed"\r\n',
        b'OK "Putscript completed"\r\n',
        b'OK "Putscript completed"\r\n',
        b'OK "Setactive completed"\r\n',
        b'"first" ACTIVE\r\n"second"\r\nOK "Listscripts completed"\r\n',
        b"{%d}\r\n" % len(SCRIPT) + SCRIPT + b'\r\nOK "Getscript completed"\r\n',
        b'{5}\r\nkeep;\r\nOK "Getscript completed"\r\n',
        b'NO (ACTIVE) "The active script cannot be deleted; deactivate it first"\r\n',
        b'OK "Renamescript completed"\r\n',
        b'NO (NONEXISTENT) "There is no script by that name"\r\n',
        b'NO (NONEXISTENT) "There is no script by that name"\r\n',
        b'"renamed" ACTIVE\r\n"second"\r\nOK "Listscripts completed"\r\n',
        b'OK "No script is active now"\r\n',
        b'"renamed"\r\n"second"\r\nOK "Listscripts completed"\r\n',
        b'OK "Deletescript completed"\r\n',
        b'NO (NONEXISTENT) "There is no script by that name"\r\n',
        b'NO (NONEXISTENT) "There is no script by that name"\r\n',
        b'NO (NONEXISTENT) "There is no script by that name"\r\n',
        b'OK "Logout completed"\r\n',
    ]
    # What the service stored is what the store holds.
    assert [info.name for info in await env.store.sieve_scripts(env.alice.id)] == ["second"]
    assert await env.store.sieve_scripts(env.bob.id) == []


async def test_rename_to_an_existing_name(env: SieveEnv) -> None:
    def run() -> bytes:
        client = env.session()
        client.command(b'PUTSCRIPT "a" "keep;"')
        client.command(b'PUTSCRIPT "b" "keep;"')
        return client.command(b'RENAMESCRIPT "a" "b"')

    answer = await asyncio.to_thread(run)
    assert answer == b'NO (ALREADYEXISTS) "A script with the new name already exists"\r\n'


async def test_compile_errors_are_reported_and_nothing_is_stored(env: SieveEnv) -> None:
    def run() -> list[bytes]:
        client = env.session()
        return [
            client.command(b'PUTSCRIPT "bad" "fileinto \\"x\\";"'),
            client.command(b'CHECKSCRIPT "if true {"'),
            client.command(b'CHECKSCRIPT "keep;"'),
            client.command(b'PUTSCRIPT "bad" ' + literal(b"\xff\xfe")),
            client.command(b"LISTSCRIPTS"),
        ]

    bad, check_bad, check_good, not_utf8, listing = await asyncio.to_thread(run)
    assert bad.startswith(b'NO "line 1, column 1: ')
    assert b"fileinto" in bad
    assert check_bad.startswith(b'NO "line 1')
    assert check_good == b'OK "Script is valid"\r\n'
    assert not_utf8 == b'NO "The script is not valid UTF-8 (at octet 0)"\r\n'
    assert listing == b'OK "Listscripts completed"\r\n'


async def test_warnings_for_included_scripts_that_do_not_exist_yet(env: SieveEnv) -> None:
    script = b'require "include"; include :personal "later"; include :optional "maybe"; include "first";'

    def run() -> list[bytes]:
        client = env.session()
        return [
            client.command(b'PUTSCRIPT "first" ' + literal(script)),
            client.command(b'PUTSCRIPT "later" "keep;"'),
            client.command(b"CHECKSCRIPT " + literal(script)),
        ]

    warned, stored, checked = await asyncio.to_thread(run)
    # RFC 6609 §3.2: never an error at upload time; RFC 5804 §1.3: OK (WARNINGS).
    assert warned == b'OK (WARNINGS) "include: script \\"later\\" does not exist (yet)"\r\n'
    assert stored == b'OK "Putscript completed"\r\n'
    assert checked == b'OK "Script is valid"\r\n'


async def test_quota_codes(tmp_path: Path) -> None:
    settings = settings_with(sieve={"max_scripts": 2, "max_script_size": 1024, "max_storage": 1500})
    async with managesieve_server(tmp_path, settings) as env:

        def run() -> list[bytes]:
            client = env.session()
            return [
                client.command(b'HAVESPACE "a" 1024'),
                client.command(b'HAVESPACE "a" 1025'),
                client.command(b'PUTSCRIPT "a" ' + literal(b"keep;" + b" " * 1019)),
                client.command(b'PUTSCRIPT "big" ' + literal(b"keep;" + b" " * 1020)),
                client.command(b'HAVESPACE "b" 600'),
                client.command(b'PUTSCRIPT "b" "keep;"'),
                client.command(b'HAVESPACE "c" 1'),
                client.command(b'PUTSCRIPT "c" "keep;"'),
                client.command(b'HAVESPACE "b" 10'),
                client.command(b"NOOP"),
            ]

        answers = await asyncio.to_thread(run)
    assert answers[0] == b'OK "Putscript would succeed"\r\n'
    assert answers[1].startswith(b"NO (QUOTA/MAXSIZE) ")
    assert answers[2] == b'OK "Putscript completed"\r\n'
    # Over the literal limit: read and dropped, answered with the code (RFC 5804 §2.6).
    assert answers[3] == b'NO (QUOTA/MAXSIZE) "Script too large"\r\n'
    assert answers[4].startswith(b"NO (QUOTA/MAXSIZE) ")
    assert answers[5] == b'OK "Putscript completed"\r\n'
    assert answers[6].startswith(b"NO (QUOTA/MAXSCRIPTS) ")
    assert answers[7].startswith(b"NO (QUOTA/MAXSCRIPTS) ")
    assert answers[8] == b'OK "Putscript would succeed"\r\n'  # replacing b: no new script
    assert answers[9] == b'OK "NOOP completed"\r\n'


async def test_noop_tag_and_commands_in_the_wrong_state(env: SieveEnv) -> None:
    def run() -> list[bytes]:
        client, _ = env.connect()
        answers = [
            client.command(b'NOOP "tag 1"'),
            client.command(b"LISTSCRIPTS"),
            client.command(b"FROB"),
            client.command(b'NOOP "a" "b"'),
        ]
        client.login()
        answers += [client.command(b'AUTHENTICATE "PLAIN" "AA=="'), client.command(b"STARTTLS")]
        return answers

    assert await asyncio.to_thread(run) == [
        b'OK (TAG "tag 1") "NOOP completed"\r\n',
        b'NO "LISTSCRIPTS is not allowed in the not authenticated state"\r\n',
        b'NO "Unknown command"\r\n',
        b'NO "Wrong number of arguments for NOOP"\r\n',
        b'NO "Already authenticated"\r\n',  # RFC 5804 §2.1: no reauthentication
        b'NO "STARTTLS is not allowed in the authenticated state"\r\n',
    ]


async def test_login_failures_and_mechanisms(env: SieveEnv) -> None:
    def run() -> list[bytes]:
        client, _ = env.connect()
        token = base64.b64encode(f"\0{ALICE}\0wrong".encode())
        answers = [
            client.command(b'AUTHENTICATE "PLAIN" "' + token + b'"'),
            client.command(b'AUTHENTICATE "CRAM-MD5"'),
            client.command(b'AUTHENTICATE "PLAIN" "!!"'),
        ]
        client.send(b'AUTHENTICATE "PLAIN"\r\n')
        answers.append(client.line())  # an empty challenge first
        answers.append(client.command(b'"*"'))
        client.send(b'AUTHENTICATE "LOGIN"\r\n')
        answers.append(client.line())
        client.send(b'"' + base64.b64encode(ALICE.encode()) + b'"\r\n')
        answers.append(client.line())
        answers.append(client.command(literal(base64.b64encode(PASSWORD.encode()))))
        answers.append(client.command(b"CAPABILITY"))
        return answers

    answers = await asyncio.to_thread(run)
    assert answers[:3] == [
        b'NO "Authentication failed"\r\n',
        b'NO "Unsupported authentication mechanism"\r\n',
        b'NO "Invalid base64 in initial response"\r\n',
    ]
    # PLAIN without an initial response: an empty challenge; "*" is answered NO (RFC 5804 §2.1).
    assert answers[3] == b'""\r\n'
    assert answers[4] == b'NO "Authentication cancelled"\r\n'
    assert answers[5] == b'"VXNlcm5hbWU6"\r\n'  # "Username:"
    assert answers[6] == b'"UGFzc3dvcmQ6"\r\n'  # "Password:"
    assert answers[7] == b'OK "Logged in"\r\n'
    caps = capability_lines(answers[8])
    assert caps["OWNER"] == ALICE
    assert caps["SASL"] == ""
    assert "STARTTLS" not in caps


async def test_scram_final_rides_on_the_ok(env: SieveEnv) -> None:
    def run() -> bytes:
        client, _ = env.connect()
        mech = ClientMechanism.start("SCRAM-SHA-256", BOB, PASSWORD)
        first = mech.initial_response()
        assert first is not None
        client.send(b'AUTHENTICATE "SCRAM-SHA-256" "' + encode_sasl(first) + b'"\r\n')
        challenge = client.line().strip().strip(b'"')
        client.send(b'"' + encode_sasl(mech.respond(base64.b64decode(challenge))) + b'"\r\n')
        final = client.response()
        code = final.split(b'(SASL "', 1)[1].split(b'"', 1)[0]
        mech.finish(base64.b64decode(code))  # raises unless the server proved itself
        return final

    final = await asyncio.to_thread(run)
    assert final.startswith(b'OK (SASL "')
    assert final.endswith(b'"Logged in"\r\n')


async def test_starttls_resends_capabilities_and_drops_pipelined_plaintext(env: SieveEnv) -> None:
    def run() -> tuple[bytes, bytes, bytes]:
        client, _ = env.connect()
        client.send(b"STARTTLS\r\nLOGOUT\r\n")  # LOGOUT arrives in plaintext: never executed
        assert client.response() == b'OK "Begin TLS negotiation now"\r\n'
        client.buffer = b""
        client.sock = env.client_context().wrap_socket(client.sock, server_hostname="localhost")
        caps = client.response()
        login = client.login()
        return caps, login, client.command(b"CAPABILITY")

    caps, login, after = await asyncio.to_thread(run)
    assert caps.endswith(b'OK "TLS negotiation successful"\r\n')
    assert "STARTTLS" not in capability_lines(caps)
    assert "IMPLEMENTATION" in capability_lines(caps)
    assert login == b'OK "Logged in"\r\n'
    assert capability_lines(after)["OWNER"] == ALICE


async def test_plaintext_refused_without_tls_from_elsewhere(tmp_path: Path) -> None:
    settings = settings_with(login={"plaintext_on_insecure": "never"})
    async with managesieve_server(tmp_path, settings) as env:

        def run() -> tuple[bytes, bytes, bytes]:
            client, greeting = env.connect()
            refused = client.login()
            client.starttls(env.client_context())
            return greeting, refused, client.login()

        greeting, refused, ok = await asyncio.to_thread(run)
    assert capability_lines(greeting)["SASL"] == "SCRAM-SHA-256"
    assert refused == b'NO (ENCRYPT-NEEDED) "Use STARTTLS first"\r\n'
    assert ok == b'OK "Logged in"\r\n'


async def test_unauthenticate(env: SieveEnv) -> None:
    def run() -> list[bytes]:
        client = env.session()
        return [
            client.command(b"UNAUTHENTICATE"),
            client.command(b"LISTSCRIPTS"),
            client.command(b"UNAUTHENTICATE"),
            client.login(BOB),
            client.command(b"LISTSCRIPTS"),
        ]

    assert await asyncio.to_thread(run) == [
        b'OK "Unauthenticate completed"\r\n',
        b'NO "LISTSCRIPTS is not allowed in the not authenticated state"\r\n',
        # RFC 5804 §2.14.1: NO in the wrong state.
        b'NO "UNAUTHENTICATE is not allowed in the not authenticated state"\r\n',
        b'OK "Logged in"\r\n',
        b'OK "Listscripts completed"\r\n',
    ]


async def test_names_and_strings(env: SieveEnv) -> None:
    def run() -> list[bytes]:
        client = env.session()
        return [
            client.command(b'PUTSCRIPT "" "keep;"'),
            client.command(b'PUTSCRIPT "a\\\\b \\"q\\" \xc3\xbc" "keep;"'),
            client.command(b"LISTSCRIPTS"),
            client.command(b'PUTSCRIPT "\xff" "keep;"'),
            client.command(b"PUTSCRIPT " + literal(b"line\r\nbreak") + b' "keep;"'),
            client.command(b'GETSCRIPT "a\\\\b \\"q\\" \xc3\xbc"'),
        ]

    answers = await asyncio.to_thread(run)
    assert answers[0] == b'NO "A script name must not be empty"\r\n'
    assert answers[1] == b'OK "Putscript completed"\r\n'
    assert answers[2] == b'"a\\\\b \\"q\\" \xc3\xbc"\r\nOK "Listscripts completed"\r\n'
    assert answers[3] == b'NO "A script name must be valid UTF-8"\r\n'
    assert answers[4] == b'NO "A script name must not contain control characters or line separators"\r\n'
    assert answers[5] == b'{5}\r\nkeep;\r\nOK "Getscript completed"\r\n'


async def test_errors_and_their_limit(tmp_path: Path) -> None:
    settings = settings_with(managesieve={"max_errors": 3}, limits={"max_line_length": 2000})
    async with managesieve_server(tmp_path, settings) as env:

        def run() -> list[bytes]:
            client, _ = env.connect()
            answers = [
                client.command(b"NOOP (x)"),
                client.command(b'NOOP "unterminated'),
                client.command(b"NOOP"),
                client.command(b'NOOP "' + b"x" * 1025 + b'"'),
                client.command(b"("),
                client.command(b"("),
            ]
            answers.append(client.sock.recv(10))  # closed after BYE
            return answers

        answers = await asyncio.to_thread(run)
    assert answers == [
        b"NO \"Unexpected character '('\"\r\n",
        b'NO "Unterminated quoted string"\r\n',
        b'OK "NOOP completed"\r\n',
        b'NO "Quoted string longer than 1024 octets"\r\n',
        b"NO \"Unexpected character '('\"\r\n",
        b'BYE "Too many errors"\r\n',
        b"",
    ]


async def test_line_too_long_ends_the_session(tmp_path: Path) -> None:
    settings = settings_with(limits={"max_line_length": 1000})
    async with managesieve_server(tmp_path, settings) as env:

        def run() -> tuple[bytes, bytes]:
            client, _ = env.connect()
            return client.command(b"NOOP " + b"a" * 2000), client.sock.recv(10)

        assert await asyncio.to_thread(run) == (b'BYE "Line too long"\r\n', b"")

        def in_authenticate() -> tuple[bytes, bytes, bytes]:
            client, _ = env.connect()
            client.send(b'AUTHENTICATE "PLAIN"\r\n')
            challenge = client.line()
            return challenge, client.command(b'"' + b"A" * 2000 + b'"'), client.sock.recv(10)

        # An answer to a challenge is bounded as a command line is.
        assert await asyncio.to_thread(in_authenticate) == (b'""\r\n', b'BYE "Line too long"\r\n', b"")


async def test_autologout_before_login(tmp_path: Path) -> None:
    settings = settings_with(server={"idle_timeout_unauthenticated": 0.5})
    async with managesieve_server(tmp_path, settings) as env:

        def run() -> bytes:
            client, _ = env.connect()
            return client.response()

        assert await asyncio.to_thread(run) == b'BYE "Autologout; idle for too long"\r\n'


async def test_shutdown_says_bye_trylater(env: SieveEnv) -> None:
    def connect() -> SieveClient:
        return env.session()

    client = await asyncio.to_thread(connect)
    await env.server.stop()
    assert await asyncio.to_thread(client.response) == b'BYE (TRYLATER) "Server shutting down"\r\n'
