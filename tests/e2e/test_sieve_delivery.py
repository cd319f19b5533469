"""Sieve at delivery (docs/sieve.md "At delivery") end to end: scripts stored with the store API,
mail through LMTP and SMTP, placement read back from the store (and IMAP), the messages the scripts
send observed in the outbound queue."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cli_env import ok, run
from pochta.config import load_settings
from pochta.store.factory import open_store
from pochta.store.model import Account
from serve_process import init_data_dir
from sieve_delivery_env import final_replies, lmtp_session, mailbox_flags, queued
from smtp_env import ALICE, BOB, SmtpEnv, converse, message, smtp_server, smtp_settings


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as env:
        yield env


async def _script(env: SmtpEnv, account: Account, source: str, name: str = "main") -> None:
    await env.store.put_sieve_script(account.id, name, source, env.settings.sieve.quota())
    await env.store.activate_sieve_script(account.id, name)


async def test_fileinto_with_flags_and_create_overlmtp_session(env: SmtpEnv) -> None:
    await _script(
        env,
        env.alice,
        'require ["fileinto", "imap4flags", "mailbox"];\n'
        'if header :contains "subject" "[list]" { fileinto :create :flags "\\\\Seen $Lists" "Lists/Dev"; }\n',
    )
    replies = await final_replies(env, "lmtp", [ALICE, BOB], message("[list] one"))
    assert [r[:9] for r in replies] == ["250 2.0.0", "250 2.0.0"]
    assert len(await env.messages(env.alice, "Lists/Dev")) == 1
    assert await env.messages(env.alice) == []
    assert len(await env.messages(env.bob)) == 1  # bob has no script
    [flags] = await mailbox_flags(env, env.alice, "Lists/Dev")
    assert {"\\Seen", "$Lists"} <= set(flags)
    # Not matching: the implicit keep.
    await final_replies(env, "lmtp", [ALICE], message("other"))
    assert len(await env.messages(env.alice)) == 1


async def test_discard_over_smtp_stores_nothing(env: SmtpEnv) -> None:
    await _script(env, env.alice, 'if header :is "subject" "spam" { discard; }')
    replies = await final_replies(env, "smtp", [ALICE], message("spam"))
    assert replies[0].startswith("250 2.0.0")
    assert await env.messages(env.alice) == []
    await final_replies(env, "smtp", [ALICE], message("ham"))
    assert len(await env.messages(env.alice)) == 1


async def test_reject_at_lmtp_is_a_5xx_for_that_recipient_only(env: SmtpEnv) -> None:
    await _script(env, env.alice, 'require "reject"; reject "I do not want this";')
    replies = await final_replies(env, "lmtp", [ALICE, BOB], message("unwanted"))
    assert replies[0].startswith("550 5.7.1 I do not want this")  # RFC 5429 §2.1
    assert replies[1].startswith("250 2.0.0")
    assert await env.messages(env.alice) == []
    assert len(await env.messages(env.bob)) == 1
    assert await queued(env) == []  # refused in the transaction: no DSN


async def test_ereject_reason_of_several_lines_is_a_multiline_reply(env: SmtpEnv) -> None:
    await _script(env, env.alice, 'require "ereject"; ereject text:\nNot here.\nTry later.\n.\n;')
    text = await converse(env.address("lmtp"), lmtp_session([ALICE], message("multi")))
    assert "550-5.7.1 Not here.\r\n550 5.7.1 Try later.\r\n" in text  # RFC 5429 §2.5


async def test_reject_after_the_transaction_is_a_dsn_in_the_queue(env: SmtpEnv) -> None:
    await _script(env, env.alice, 'require "ereject"; ereject "No thanks";')
    # SMTP with two recipients has one reply for both: the reject becomes a DSN (RFC 5429 §2.1).
    replies = await final_replies(env, "smtp", [ALICE, BOB], message("two"))
    assert replies[0].startswith("250")
    assert len(await env.messages(env.bob)) == 1
    assert await env.messages(env.alice) == []
    [(entry, data)] = await queued(env)
    assert entry.sender == ""
    assert [r.address for r in entry.recipients] == ["carol@example.net"]
    assert b"Status: 5.7.1" in data
    assert b"No thanks" in data


async def test_redirect_through_the_queue_with_copy_and_loop_check(env: SmtpEnv) -> None:
    await _script(env, env.alice, 'require "copy"; redirect :copy "friend@remote.example";')
    await final_replies(env, "lmtp", [ALICE], message("forward me"))
    assert len(await env.messages(env.alice)) == 1  # :copy keeps it
    [(entry, data)] = await queued(env)
    assert [r.address for r in entry.recipients] == ["friend@remote.example"]
    # The original envelope sender, rewritten by SRS for the user's domain.
    assert entry.sender.startswith("SRS0=")
    assert entry.sender.endswith("@example.org")
    assert env.unsrs(entry.sender) == "carol@example.net"
    assert data.startswith(b"X-Sieve-Redirected-From: alice@example.org\r\n")
    assert b"Subject: forward me" in data
    # The same message coming back: not redirected again (RFC 5228 §4.2), kept, the error recorded.
    await _script(env, env.alice, 'redirect "friend@remote.example";')
    await final_replies(env, "lmtp", [ALICE], data)
    assert len(await queued(env)) == 1
    assert len(await env.messages(env.alice)) == 2
    [error] = await env.store.sieve_errors(env.alice.id)
    assert "loop" in error.error


async def test_redirect_to_the_recipient_itself_is_kept(env: SmtpEnv) -> None:
    await _script(env, env.alice, f'redirect "{ALICE}";')
    await final_replies(env, "lmtp", [ALICE], message("self"))
    assert len(await env.messages(env.alice)) == 1
    assert await queued(env) == []


async def test_vacation_once_per_period(env: SmtpEnv) -> None:
    await _script(env, env.alice, 'require "vacation"; vacation :days 3 :subject "Away" "Back on Monday.";')
    await final_replies(env, "lmtp", [ALICE], message("first"))
    [(entry, data)] = await queued(env)
    assert entry.sender == ""  # RFC 5230 §5.1: the null reverse-path
    assert [r.address for r in entry.recipients] == ["carol@example.net"]
    reply = email.message_from_bytes(data, policy=email.policy.default)
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<first@example.net>"
    assert reply["Subject"] == "Away"
    assert "Back on Monday." in reply.get_content()
    assert len(await env.messages(env.alice)) == 1  # the implicit keep stays
    await final_replies(env, "lmtp", [ALICE], message("second"))
    assert len(await queued(env)) == 1  # RFC 5230 §4.2: once in the period
    # No reply to automatic or list mail (RFC 3834 §2), nor to the null sender.
    auto = message("auto", sender="dave@example.net").replace(
        b"\r\n\r\n", b"\r\nAuto-Submitted: auto-generated\r\n\r\n", 1
    )
    await final_replies(env, "lmtp", [ALICE], auto, sender="dave@example.net")
    await final_replies(
        env, "lmtp", [ALICE], message("bounce", sender="mailer-daemon@example.net"), sender=""
    )
    assert len(await queued(env)) == 1


async def test_vacation_record_survives_a_restart(tmp_path: Path) -> None:
    source = 'require "vacation"; vacation :days 3 "Away.";'
    async with smtp_server(tmp_path) as env:
        await _script(env, env.alice, source)
        await final_replies(env, "lmtp", [ALICE], message("one"))
        assert len(await queued(env)) == 1
    async with smtp_server(tmp_path) as env:  # the same data directory, a new server
        await final_replies(env, "lmtp", [ALICE], message("two"))
        assert len(await queued(env)) == 1
        assert len(await env.messages(env.alice)) == 2


async def test_duplicate_is_remembered(env: SmtpEnv) -> None:
    await _script(env, env.alice, 'require "duplicate"; if duplicate { discard; }')
    await final_replies(env, "lmtp", [ALICE], message("dup"))
    await final_replies(env, "lmtp", [ALICE], message("dup"))  # the same Message-ID
    await final_replies(env, "lmtp", [ALICE], message("new"))
    assert len(await env.messages(env.alice)) == 2


async def test_runtime_error_keeps_in_inbox_and_is_recorded(env: SmtpEnv) -> None:
    await _script(
        env,
        env.alice,
        'require ["variables", "fileinto"]; set "a" "not an address"; redirect "${a}";',
    )
    replies = await final_replies(env, "lmtp", [ALICE], message("broken"))
    assert replies[0].startswith("250")
    assert len(await env.messages(env.alice)) == 1
    [error] = await env.store.sieve_errors(env.alice.id)
    assert error.script == "main"
    # A fileinto into a mailbox that does not exist (no :create): INBOX, the error recorded.
    await _script(env, env.alice, 'require "fileinto"; fileinto "Nowhere";')
    await final_replies(env, "lmtp", [ALICE], message("nowhere"))
    assert len(await env.messages(env.alice)) == 2
    errors = await env.store.sieve_errors(env.alice.id)
    assert "Nowhere" in errors[-1].error


async def test_admin_before_and_after_scripts(tmp_path: Path) -> None:
    before = tmp_path / "before.sieve"
    before.write_text('require ["imap4flags"]; addflag "$Checked";')
    after = tmp_path / "after.sieve"
    after.write_text('require "fileinto"; if header :is "subject" "late" { fileinto "Junk"; }')
    settings = smtp_settings(sieve={"before": [str(before)], "after": [str(after)]})
    async with smtp_server(tmp_path, settings) as env:
        await final_replies(env, "lmtp", [BOB], message("late"))
        assert len(await env.messages(env.bob, "Junk")) == 1
        await final_replies(env, "lmtp", [BOB], message("early"))
        [flags] = await mailbox_flags(env, env.bob, "INBOX")
        assert "$Checked" in flags


async def test_each_script_sees_the_message_as_the_scripts_before_left_it(tmp_path: Path) -> None:
    # As Pigeonhole: a before-script's editheader reaches the user's script and what is stored.
    before = tmp_path / "before.sieve"
    before.write_text(
        'require ["editheader"]; if header :is "subject" "tag me" { addheader "X-Checked" "yes"; }'
    )
    after = tmp_path / "after.sieve"
    after.write_text('require ["editheader"]; addheader "X-After" "1";')
    settings = smtp_settings(sieve={"before": [str(before)], "after": [str(after)]})
    async with smtp_server(tmp_path, settings) as env:
        await _script(
            env,
            env.alice,
            'require ["fileinto", "mailbox"];\n'
            'if header :is "x-checked" "yes" { fileinto :create "Checked"; }',
        )
        await final_replies(env, "lmtp", [ALICE], message("tag me"))
        await final_replies(env, "lmtp", [ALICE], message("plain"))
        [checked] = await env.messages(env.alice, "Checked")
        assert b"X-Checked: yes" in checked
        assert b"X-After" not in checked  # the user's fileinto stored it before the after-script ran
        [plain] = await env.messages(env.alice)
        assert b"X-Checked" not in plain
        assert b"X-After: 1" in plain  # the implicit keep stores the last version


async def test_specialuse_notify_fcc_and_editheader_oversmtp_session(env: SmtpEnv) -> None:
    await _script(
        env,
        env.alice,
        'require ["fileinto", "special-use", "enotify", "fcc", "editheader"];\n'
        'addheader "X-Filtered" "by pochta";\n'
        'fileinto :specialuse "\\\\Junk" "Spam";\n'
        'notify :fcc "Sent" :message "You have mail" "mailto:pager@example.net";\n',
    )
    replies = await final_replies(env, "smtp", [ALICE], message("junk"))
    assert replies[0].startswith("250")
    [filed] = await env.messages(env.alice, "Junk")  # RFC 8579: the mailbox holding \Junk
    assert filed.startswith(b"X-Filtered: by pochta\r\n")  # RFC 5293: the edited message
    assert await env.messages(env.alice) == []
    [(entry, data)] = await queued(env)
    assert [r.address for r in entry.recipients] == ["pager@example.net"]
    note = email.message_from_bytes(data, policy=email.policy.default)
    assert note["Subject"] == "You have mail"
    assert note["Auto-Submitted"] == "auto-notified; owner-email=alice@example.org"
    [sent] = await env.messages(env.alice, "Sent")  # RFC 8580: the notification's copy
    assert sent == data


async def test_fileinto_another_users_mailbox_needs_the_post_right(env: SmtpEnv) -> None:
    shared = await env.store.create_mailbox(env.bob.id, "Team")
    await _script(env, env.alice, 'require "fileinto"; fileinto "Other Users/bob@example.org/Team";')
    await final_replies(env, "lmtp", [ALICE], message("no right"))
    assert await env.messages(env.bob, "Team") == []
    assert len(await env.messages(env.alice)) == 1  # RFC 4314: no p right, kept in INBOX
    [error] = await env.store.sieve_errors(env.alice.id)
    assert "Team" in error.error
    await env.store.set_mailbox_acl(shared.id, ALICE, "lp")
    await final_replies(env, "lmtp", [ALICE], message("with right"))
    assert len(await env.messages(env.bob, "Team")) == 1
    assert len(await env.messages(env.alice)) == 1


async def test_fileinto_a_public_mailbox_needs_the_post_right(env: SmtpEnv) -> None:
    # docs/imap.md "Shared mailboxes": the domain's Shared/support, a mailbox of its hidden owner.
    owner = await env.store.add_shared_owner("example.org")
    support = await env.store.create_mailbox(owner.id, "support")
    await _script(env, env.alice, 'require "fileinto"; fileinto "Shared/support";')
    await final_replies(env, "lmtp", [ALICE], message("no right"))
    assert await env.messages(owner, "support") == []
    assert len(await env.messages(env.alice)) == 1  # RFC 4314: no p right, kept in INBOX
    await env.store.set_mailbox_acl(support.id, ALICE, "p")
    await final_replies(env, "lmtp", [ALICE], message("with right"))
    assert len(await env.messages(owner, "support")) == 1
    assert len(await env.messages(env.alice)) == 1


def _many_parts(parts: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(parts))
    return (
        b"From: <carol@example.net>\r\nTo: <alice@example.org>\r\nSubject: costly\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + body + b"--b--\r\n"
    )


# A script far costlier than the limits below: 2000 parts, each matched against 1000 patterns.
_PATTERNS = ", ".join(f'"*k{n}?z*"' for n in range(1000))
_COSTLY = (
    'require ["foreverypart", "fileinto"];\n'
    "foreverypart {\n"
    f'  if header :matches "subject" [{_PATTERNS}] {{ stop; }}\n'
    "}\n"
    'fileinto "Junk";\n'
)


async def test_cpu_time_limit_stops_the_run_and_keeps_in_inbox(tmp_path: Path) -> None:
    # The interpreter ends the run itself (the wall-time guard, far off, is not what stops it).
    settings = smtp_settings(sieve={"max_cpu_time": 0.05, "max_run_time": 120})
    async with smtp_server(tmp_path, settings) as env:
        await _script(env, env.alice, _COSTLY)
        await final_replies(env, "lmtp", [ALICE], _many_parts(2000))
        assert len(await env.messages(env.alice)) == 1
        assert await env.messages(env.alice, "Junk") == []
        [error] = await env.store.sieve_errors(env.alice.id)
        assert "CPU time limit of 0.05 s exceeded" in error.error
        assert error.error.startswith(("line 2,", "line 3,"))  # in the loop, not at its end
        (env.data_dir / "pochta.toml").write_text("")  # the defaults: the CLI reads the same store
        out = ok(run("sieve", "errors", ALICE, data=env.data_dir))
        assert "CPU time limit of 0.05 s exceeded" in out


async def test_wall_time_guard_is_the_last_resort(tmp_path: Path) -> None:
    # A run the CPU limit does not stop in time: delivery stops waiting and keeps the message.
    settings = smtp_settings(sieve={"max_cpu_time": 0.3, "max_run_time": 0.01})
    async with smtp_server(tmp_path, settings) as env:
        await _script(env, env.alice, _COSTLY)
        await final_replies(env, "lmtp", [ALICE], _many_parts(2000))
        assert len(await env.messages(env.alice)) == 1
        assert await env.messages(env.alice, "Junk") == []
        [error] = await env.store.sieve_errors(env.alice.id)
        assert "ran longer than sieve.max_run_time (0.01 s)" in error.error


async def test_include_global_and_personal(tmp_path: Path) -> None:
    (tmp_path / "globals").mkdir()
    (tmp_path / "globals" / "spam.sieve").write_text(
        'require "fileinto"; if header :is "subject" "spam" { fileinto "Junk"; }'
    )
    settings = smtp_settings(sieve={"global_dir": str(tmp_path / "globals")})
    async with smtp_server(tmp_path, settings) as env:
        await env.store.put_sieve_script(
            env.alice.id, "lists", 'require "fileinto"; fileinto "Archive";', settings.sieve.quota()
        )
        await _script(
            env,
            env.alice,
            'require "include"; include :global "spam"; '
            'if header :is "subject" "list" { include :personal "lists"; }',
        )
        await final_replies(env, "lmtp", [ALICE], message("spam"))
        await final_replies(env, "lmtp", [ALICE], message("list"))
        await final_replies(env, "lmtp", [ALICE], message("plain"))
        assert len(await env.messages(env.alice, "Junk")) == 1
        assert len(await env.messages(env.alice, "Archive")) == 1
        assert len(await env.messages(env.alice)) == 1


async def test_environment_items_atlmtp_session(env: SmtpEnv) -> None:
    await _script(
        env,
        env.alice,
        'require ["environment", "fileinto"];\n'
        'if allof (environment "location" "MDA", environment "phase" "during",'
        ' environment "remote-host" "mta.example.net", environment "remote-ip" "127.0.0.1") '
        '{ fileinto "Archive"; }',
    )
    await final_replies(env, "lmtp", [ALICE], message("env"))
    assert len(await env.messages(env.alice, "Archive")) == 1


async def test_cli_lists_a_users_script_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data, listeners=(), accounts={ALICE: "pw pw pw pw"})
    store = await open_store(data, load_settings(data / "pochta.toml"))
    try:
        account = await store.get_account(ALICE)
        assert account is not None
        await store.add_sieve_error(account.id, 1_800_000_000, "main", "line 1: boom; kept in INBOX")
    finally:
        await store.close()
    out = ok(run("sieve", "errors", ALICE, data=data))
    assert "2027-01-15 08:00:00" in out
    assert "line 1: boom; kept in INBOX" in out
    failed = run("sieve", "errors", "nobody@example.org", data=data)
    assert failed.returncode != 0
    assert "no such account" in failed.stderr


async def test_replace_and_enclose_store_the_new_message(env: SmtpEnv) -> None:
    # RFC 5703 section 5 and section 6: the stored message is the one the script made.
    await _script(
        env,
        env.alice,
        'require ["foreverypart", "mime", "replace", "enclose"];\n'
        'foreverypart { if header :mime :type "content-type" "application" { replace "(removed)"; } }\n'
        'enclose :subject "Checked" "An attachment was removed.";\n',
    )
    data = (
        b"From: carol@example.net\r\nTo: alice@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--B\r\nContent-Type: application/x-msdownload\r\n\r\nMZ\r\n--B--\r\n"
    )
    replies = await final_replies(env, "lmtp", [ALICE], data)
    assert replies[0].startswith("250")
    [stored] = await env.messages(env.alice)
    outer = email.message_from_bytes(stored, policy=email.policy.default)
    assert outer["Subject"] == "Checked"
    assert outer.get_content_type() == "multipart/mixed"
    note, enclosed = outer.iter_parts()
    assert note.get_content().strip() == "An attachment was removed."
    [inner] = enclosed.iter_parts()
    assert inner["Subject"] == "files"
    kept, replaced = inner.iter_parts()
    assert kept.get_content().strip() == "hi"
    assert replaced.get_content_type() == "text/plain"
    assert replaced.get_content().strip() == "(removed)"


async def test_vacation_counts_the_accounts_aliases_as_its_addresses(env: SmtpEnv) -> None:
    # RFC 5230 §4.5: mail whose header names an alias of the account is mail to the user.
    await _script(env, env.alice, 'require "vacation"; vacation "Away.";')
    await final_replies(env, "lmtp", [ALICE], message("to alias", to="a.smith@example.org"))
    assert await queued(env) == []  # not yet an address of alice's
    await env.store.add_alias("a.smith@example.org", [ALICE])
    await final_replies(env, "lmtp", [ALICE], message("to alias again", to="a.smith@example.org"))
    [(entry, _)] = await queued(env)
    assert [r.address for r in entry.recipients] == ["carol@example.net"]


async def test_redirect_envelope_sender_is_configurable(tmp_path: Path) -> None:
    # sieve.redirect_envelope_from: the recipient's address (SPF at the receiver passes).
    settings = smtp_settings(sieve={"redirect_envelope_from": "recipient"})
    async with smtp_server(tmp_path, settings) as env:
        await _script(env, env.alice, 'redirect "friend@remote.example";')
        await final_replies(env, "lmtp", [ALICE], message("forward me"))
        [(entry, _)] = await queued(env)
        assert entry.sender == ALICE
        await final_replies(env, "lmtp", [ALICE], message("bounce", sender=""), sender="")
        assert [entry.sender for entry, _ in await queued(env)] == [ALICE, ""]  # <> stays <>
