"""IMAPSIEVE (RFC 6785, docs/sieve.md "IMAPSIEVE") over real IMAP: the script named by the
/shared/imapsieve/script annotation (set with SETMETADATA) runs on APPEND, COPY, MOVE and flag
changes; administrator rules (sieve.imap_rules) run on matching events; what the scripts do is read
back from the store, over IMAP and from the outbound queue."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from imap_env import (
    ALICE,
    BOB,
    ImapEnv,
    ask,
    imap_server,
    imap_settings,
    message,
    open_session,
    send_append,
)
from pochta.config import Settings
from pochta.server.imap.imapsieve import capability
from pochta.store.model import Account

ENTRY = b"/shared/imapsieve/script"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as env:
        yield env


Opener = Callable[..., Awaitable[socket.socket]]


@pytest.fixture
async def session() -> AsyncIterator[Opener]:
    """``open_session`` whose sockets are closed when the test ends."""
    opened: list[socket.socket] = []

    async def opener(env: ImapEnv, **options: Any) -> socket.socket:
        sock = await open_session(env, **options)
        opened.append(sock)
        return sock

    yield opener
    for sock in opened:
        sock.close()


async def _script(env: ImapEnv, source: str, name: str = "events", account: Account | None = None) -> None:
    """A script of the account (as ManageSieve's PUTSCRIPT stores it, not activated)."""
    await env.store.put_sieve_script((account or env.alice).id, name, source, env.settings.sieve.quota())


async def _flags(env: ImapEnv, mailbox: str = "INBOX", account: Account | None = None) -> list[set[str]]:
    info = await env.mailbox(mailbox, account)
    view = await env.store.open_view(info.id)
    return [set(view.flags[i]) for i in range(len(view))]


async def _annotate(sock: Any, mailbox: bytes, value: bytes = b"events") -> None:
    reply = await ask(sock, b"M SETMETADATA " + mailbox + b" (" + ENTRY + b' "' + value + b'")')
    assert reply[-1].startswith(b"M OK"), reply


async def _append(sock: Any, mailbox: bytes, data: bytes, flags: bytes = b"") -> list[bytes]:
    prefix = b"(" + flags + b") " if flags else b""
    return await asyncio.to_thread(send_append, sock, b"A APPEND " + mailbox, [(prefix, data)])


def test_capability_names_the_managesieve_server() -> None:
    def url(listener: str, **more: Any) -> str | None:
        return capability(Settings.model_validate({"listeners": {"managesieve": listener}} | more))

    # RFC 6785 §2.1: IMAPSIEVE= with a sieveurl-server (RFC 5804 §3: the default port left out).
    assert url("0.0.0.0:4190", hostname="mail.example.org") == "IMAPSIEVE=sieve://mail.example.org"
    assert url("[::]:2000", hostname="mail.example.org") == "IMAPSIEVE=sieve://mail.example.org:2000"
    assert url("off") is None  # no ManageSieve server: the scripts could not be managed
    assert url("0.0.0.0:4190", sieve={"imap_events": False}) is None


async def test_capability_is_advertised_only_with_managesieve(env: ImapEnv, session: Opener) -> None:
    sock = await session(env, select=b"")
    assert b"IMAPSIEVE" not in (await ask(sock, b"C CAPABILITY"))[0]  # the test server has none


async def test_append_runs_the_mailbox_script_with_the_imap_environment(
    env: ImapEnv, session: Opener
) -> None:
    await _script(
        env,
        'require ["imapsieve", "environment", "imap4flags", "variables"];\n'
        'if allof (environment :is "imap.cause" "APPEND", environment :is "imap.mailbox" "INBOX",\n'
        f'          environment :is "imap.user" "{ALICE}", environment :is "imap.email" "{ALICE}",\n'
        '          environment :is "location" "MS", environment :is "phase" "post",\n'
        '          environment :is "imap.changedflags" "", hasflag "$Given") {\n'
        '    addflag "$Ran";\n}\n',
    )
    sock = await session(env)
    await _append(sock, b"INBOX", message(1), b"$Given")  # no annotation yet: nothing runs
    await _annotate(sock, b"INBOX")
    reply = await _append(sock, b"INBOX", message(2), b"$Given")
    assert reply[-1].startswith(b"A OK [APPENDUID"), reply
    # The script's flag change is told before the tagged OK, as if the client had made it.
    assert any(b"$Ran" in line for line in reply[:-1]), reply
    assert await _flags(env) == [{"$Given"}, {"$Given", "$Ran"}]


async def test_copy_and_move_run_the_target_script_with_fileinto_and_redirect(
    env: ImapEnv, session: Opener
) -> None:
    await env.store.create_mailbox(env.alice.id, "Projects")  # Archive is one of the defaults
    await _script(
        env,
        'require ["imapsieve", "environment", "fileinto", "copy"];\n'
        'if environment :is "imap.cause" "COPY" {\n'
        '    fileinto :copy "Archive";\n    redirect :copy "carol@example.net";\n}\n',
    )
    for n in (1, 2):
        await env.deliver(message(n))
    sock = await session(env)
    await _annotate(sock, b"Projects")
    assert (await ask(sock, b"C COPY 1 Projects"))[-1].startswith(b"C OK [COPYUID")
    assert (await ask(sock, b"M MOVE 2 Projects"))[-1].startswith(b"M OK")
    assert len(await env.uids("Projects")) == 2
    assert len(await env.uids("Archive")) == 2  # RFC 6785 §3.3: a new copy, the original kept
    queued = await env.store.queue_entries()
    assert [(q.sender, [r.address for r in q.recipients]) for q in queued] == [
        (ALICE, ["carol@example.net"]),  # RFC 6785 §3.4: MAIL FROM is the mailbox owner
    ] * 2
    with env.store.open_blob(queued[0].blob) as blob:
        assert blob.read().startswith(b"X-Sieve-Redirected-From: " + ALICE.encode() + b"\r\n")
    assert await _flags(env, "Projects") == [set(), set()]


async def test_fileinto_without_keep_marks_the_original_deleted(env: ImapEnv, session: Opener) -> None:
    await env.store.create_mailbox(env.alice.id, "Sorted")
    await _script(env, 'require ["imapsieve", "fileinto"];\nfileinto "Sorted";\n')
    sock = await session(env)
    await _annotate(sock, b"INBOX")
    reply = await _append(sock, b"INBOX", message(1))
    assert reply[-1].startswith(b"A OK"), reply
    # RFC 6785 §3.3, §2.2.4: stored in both; the original marked \Deleted, not expunged.
    assert await _flags(env) == [{"\\Deleted"}]
    assert await _flags(env, "Sorted") == [set()]


async def test_store_runs_the_script_on_the_flag_change_without_a_loop(env: ImapEnv, session: Opener) -> None:
    await _script(
        env,
        'require ["imapsieve", "environment", "imap4flags"];\n'
        'if allof (environment :is "imap.cause" "FLAG", hasflag "\\\\Flagged",\n'
        '          environment :contains "imap.changedflags" "\\\\Flagged") {\n    addflag "$Important";\n}\n'
        'if allof (environment :is "imap.cause" "FLAG",\n'
        '          environment :contains "imap.changedflags" "$Important") {\n    addflag "$Looped";\n}\n',
    )
    for n in (1, 2):
        await env.deliver(message(n))
    sock = await session(env)
    await _annotate(sock, b"INBOX")
    reply = await ask(sock, b"S UID STORE 1:2 +FLAGS (\\Flagged)")
    assert reply[-1].startswith(b"S OK"), reply
    # RFC 6785 §2.2.3: the script's own flag change runs no script again.
    assert await _flags(env) == [{"\\Flagged", "$Important"}] * 2
    # A FETCH setting \Seen is a flag change too; the script sees \Seen changed and does nothing.
    assert (await ask(sock, b"F FETCH 1 BODY[TEXT]"))[-1].startswith(b"F OK")
    assert (await _flags(env))[0] == {"\\Flagged", "$Important", "\\Seen"}


async def test_no_script_no_effect_and_a_named_script_that_is_missing(env: ImapEnv, session: Opener) -> None:
    await env.deliver(message(1))
    sock = await session(env)
    assert (await ask(sock, b"S STORE 1 +FLAGS (\\Seen)"))[-1].startswith(b"S OK")
    await _annotate(sock, b"INBOX", b"nosuchscript")  # RFC 6785 §2.3.1: no such script, none runs
    assert (await ask(sock, b"S STORE 1 -FLAGS (\\Seen)"))[-1].startswith(b"S OK")
    assert await _flags(env) == [set()]
    assert await env.store.sieve_errors(env.alice.id) == []


async def test_mailbox_entry_wins_over_the_server_entry_and_empty_runs_none(
    env: ImapEnv, session: Opener
) -> None:
    await env.store.update_account(ALICE, admin=True)
    await env.store.create_mailbox(env.alice.id, "Quiet")
    await _script(env, 'require ["imapsieve", "imap4flags"];\naddflag "$Global";\n', "global")
    sock = await session(env)
    await _annotate(sock, b'""', b"global")  # the server's entry: every mailbox without its own
    await _annotate(sock, b"Quiet", b"")  # selected and empty: no script, no fall back (§2.3.1)
    await _append(sock, b"INBOX", message(1))
    await _append(sock, b"Quiet", message(2))
    assert await _flags(env) == [{"$Global"}]
    assert await _flags(env, "Quiet") == [set()]


async def test_failing_script_leaves_the_message_alone_and_records_the_error(
    env: ImapEnv, session: Opener
) -> None:
    await env.store.create_mailbox(env.alice.id, "Sorted")
    # RFC 6785 §3.11: reject and vacation are errors on IMAP events; §4.6: so is the envelope test.
    await _script(env, 'require ["imapsieve", "vacation", "fileinto"];\nfileinto "Sorted";\n', "vacation")
    await _script(
        env, 'require ["envelope", "fileinto"];\nif envelope "to" "x@y" {}\nfileinto "Sorted";\n', "env"
    )
    sock = await session(env)
    await _annotate(sock, b"INBOX", b"vacation")
    assert (await _append(sock, b"INBOX", message(1), b"\\Flagged"))[-1].startswith(b"A OK")
    await _annotate(sock, b"INBOX", b"env")
    assert (await _append(sock, b"INBOX", message(2)))[-1].startswith(b"A OK")
    assert await _flags(env) == [{"\\Flagged"}, set()]
    assert await env.uids("Sorted") == []
    errors = " | ".join(error.error for error in await env.store.sieve_errors(env.alice.id))
    assert "RFC 6785 §3.11" in errors
    assert "RFC 6785 §4.6" in errors


async def test_fileinto_a_mailbox_that_does_not_exist_keeps_the_original(
    env: ImapEnv, session: Opener
) -> None:
    await _script(env, 'require ["imapsieve", "fileinto"];\nfileinto "Nowhere";\n')
    sock = await session(env)
    await _annotate(sock, b"INBOX")
    assert (await _append(sock, b"INBOX", message(1)))[-1].startswith(b"A OK")
    assert await _flags(env) == [set()]  # not \Deleted: the copy could not be made
    assert any("Nowhere" in e.error for e in await env.store.sieve_errors(env.alice.id))


async def test_admin_rule_on_junk_runs_for_a_copy_from_inbox(tmp_path: Path, session: Opener) -> None:
    spam = tmp_path / "spam.sieve"
    spam.write_text(
        'require ["imapsieve", "environment", "imap4flags", "variables"];\n'
        'if environment :matches "imap.mailbox" "*" { set "box" "${1}"; }\n'
        'addflag "$Learned-${box}";\n'
    )
    rules = [{"mailbox": "\\Junk", "from": "INBOX", "causes": ["COPY"], "before": str(spam)}]
    async with imap_server(tmp_path, imap_settings(sieve={"imap_rules": rules})) as env:
        # The default mailbox "Junk" holds \\Junk; the rule names the attribute, not the name.
        await env.store.create_mailbox(env.alice.id, "Other")
        for n in (1, 2, 3):
            await env.deliver(message(n))
        sock = await session(env)
        assert (await ask(sock, b"C COPY 1 Junk"))[-1].startswith(b"C OK")
        assert (await ask(sock, b"M MOVE 2 Junk"))[-1].startswith(b"M OK")
        await _append(sock, b"Junk", message(4))  # APPEND: not a cause of the rule
        assert (await ask(sock, b"C COPY 1 Other"))[-1].startswith(b"C OK")  # not \Junk
        assert await _flags(env, "Junk") == [{"$Learned-Junk"}, {"$Learned-Junk"}, set()]
        assert await _flags(env, "Other") == [set()]
        # From another mailbox than INBOX: the rule's from does not match.
        sock2 = await session(env, select=b"Other")
        assert (await ask(sock2, b"C COPY 1 Junk"))[-1].startswith(b"C OK")
        assert (await _flags(env, "Junk"))[-1] == set()


async def test_shared_mailbox_script_needs_the_users_insert_right(env: ImapEnv, session: Opener) -> None:
    # Alice's Projects is shared with bob (lrsw, no i on Archive): bob's APPEND runs alice's script
    # (imap.user is bob), whose fileinto into alice's Archive needs bob's "i" right there.
    projects = await env.store.create_mailbox(env.alice.id, "Projects")
    archive = await env.mailbox("Archive")
    await env.store.set_mailbox_acl(projects.id, BOB, "lrswip")
    await env.store.set_mailbox_acl(archive.id, BOB, "lr")
    await _script(
        env,
        'require ["imapsieve", "environment", "fileinto", "copy", "imap4flags"];\n'
        f'if environment :is "imap.user" "{BOB}" {{ addflag "$ByBob"; fileinto :copy "Archive"; }}\n',
    )
    alice = await session(env)
    await _annotate(alice, b"Projects")
    bob = await session(env, select=b"", user=BOB.encode())
    shared = b'"Other Users/alice@example.org/Projects"'
    # Only the owner names the script of a mailbox (it runs the owner's script on every event).
    refused = await ask(bob, b"M SETMETADATA " + shared + b" (" + ENTRY + b' "other")')
    assert refused[-1].startswith(b"M NO [NOPERM]"), refused
    assert (await ask(bob, b"M SETMETADATA " + shared + b' (/shared/comment "ok")'))[-1].startswith(b"M OK")
    assert (await _append(bob, shared, message(1)))[-1].startswith(b"A OK")
    assert await _flags(env, "Projects") == [{"$ByBob"}]
    assert await env.uids("Archive") == []
    assert any("Archive" in e.error for e in await env.store.sieve_errors(env.alice.id))


async def test_rule_scripts_and_the_mailbox_script_run_in_order_on_the_flags(
    tmp_path: Path, session: Opener
) -> None:
    # The rule's before script takes \Seen off; the mailbox's script, after it, sees that (hasflag)
    # and adds $User; the message ends with the last script's flags (RFC 6785 §3.8).
    before = tmp_path / "before.sieve"
    before.write_text('require ["imapsieve", "imap4flags"];\nremoveflag "\\\\Seen";\n')
    rules = [{"mailbox": "INBOX", "causes": ["APPEND"], "before": str(before)}]
    async with imap_server(tmp_path, imap_settings(sieve={"imap_rules": rules})) as env:
        await _script(
            env, 'require ["imapsieve", "imap4flags"];\nif not hasflag "\\\\Seen" { addflag "$User"; }\n'
        )
        sock = await session(env)
        await _annotate(sock, b"INBOX")
        assert (await _append(sock, b"INBOX", message(1), b"\\Seen $Kept"))[-1].startswith(b"A OK")
        assert await _flags(env) == [{"$Kept", "$User"}]


async def test_fetch_that_sets_seen_is_a_flag_event(env: ImapEnv, session: Opener) -> None:
    await _script(
        env,
        'require ["imapsieve", "environment", "imap4flags"];\n'
        'if allof (environment :is "imap.cause" "FLAG", environment :is "imap.changedflags" "\\\\Seen") {\n'
        '    addflag "$Read";\n}\n',
    )
    await env.deliver(message(1))
    sock = await session(env)
    await _annotate(sock, b"INBOX")
    reply = await ask(sock, b"F FETCH 1 BODY.PEEK[HEADER]")  # PEEK: no flag change, no event
    assert reply[-1].startswith(b"F OK")
    assert await _flags(env) == [set()]
    reply = await ask(sock, b"F FETCH 1 BODY[TEXT]")
    assert reply[-1].startswith(b"F OK"), reply
    assert await _flags(env) == [{"\\Seen", "$Read"}]
    assert any(b"$Read" in line for line in reply[:-1]), reply  # told before the tagged OK


async def test_discard_marks_deleted_and_a_redirect_to_the_owner_keeps_the_message(
    env: ImapEnv, session: Opener
) -> None:
    await _script(env, 'require "imapsieve";\ndiscard;\n', "discard")
    await _script(env, f'require "imapsieve";\nredirect "{ALICE}";\n', "self")
    sock = await session(env)
    await _annotate(sock, b"INBOX", b"discard")
    assert (await _append(sock, b"INBOX", message(1)))[-1].startswith(b"A OK")
    await _annotate(sock, b"INBOX", b"self")
    assert (await _append(sock, b"INBOX", message(2)))[-1].startswith(b"A OK")
    # RFC 6785 §3.5: discard marks the original \Deleted; the redirect that cannot go keeps it.
    assert await _flags(env) == [{"\\Deleted"}, set()]
    assert await env.store.queue_entries() == []
    assert any("owner" in e.error for e in await env.store.sieve_errors(env.alice.id))


async def test_cpu_time_limit_stops_an_event_script_and_leaves_the_message(
    tmp_path: Path, session: Opener
) -> None:
    # The same limit as at delivery: the interpreter ends the run, the message stays as appended.
    settings = imap_settings(sieve={"max_cpu_time": 0.05, "max_run_time": 120})
    async with imap_server(tmp_path, settings) as env:
        await env.store.create_mailbox(env.alice.id, "Sorted")
        patterns = ", ".join(f'"*k{n}?z*"' for n in range(1000))
        await _script(
            env,
            'require ["imapsieve", "fileinto", "foreverypart"];\n'
            f'foreverypart {{ if header :matches "subject" [{patterns}] {{ stop; }} }}\n'
            'fileinto "Sorted";\n',
        )
        parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(2000))
        costly = (
            b"From: <carol@example.net>\r\nSubject: costly\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
        )
        sock = await session(env)
        await _annotate(sock, b"INBOX")
        assert (await _append(sock, b"INBOX", costly))[-1].startswith(b"A OK")
        assert await _flags(env) == [set()]
        assert await env.uids("Sorted") == []
        [error] = await env.store.sieve_errors(env.alice.id)
        assert "CPU time limit of 0.05 s exceeded" in error.error
