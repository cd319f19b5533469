"""Gmail-style settings (docs/sieve.md "Gmail-style settings") end to end: rules saved through the
mail rule service, mail through LMTP, placement and flags read back from the store, replies and
forwards observed in the outbound queue; with the managed script active on its own, included by
the user's script, and left out by a user's script that does not include it."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from pochta.mail.mail_rule_service import MailRuleService
from pochta.mail.mail_rules import MANAGED_SCRIPT
from pochta.testing.store_suite.support import deliver
from sieve_delivery_env import final_replies, mailbox_flags, queued
from smtp_env import ALICE, SmtpEnv, message, smtp_server


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as env:
        yield env


def _rules(env: SmtpEnv) -> MailRuleService:
    return MailRuleService(env.store, env.settings.sieve)


async def _deliver(env: SmtpEnv, subject: str, sender: str = "carol@example.net") -> None:
    replies = await final_replies(env, "lmtp", [ALICE], message(subject, sender=sender), sender=sender)
    assert [reply[:9] for reply in replies] == ["250 2.0.0"]


async def test_filters_file_with_flags_from_every_matching_filter(env: SmtpEnv) -> None:
    await env.store.create_mailbox(env.alice.id, "Work")
    rules = _rules(env)
    # The folder filter comes first, the flag filters after it: their flags still reach the copy.
    await rules.add_filter(env.alice, {"subject": "report", "to_folder": "Work"})
    await rules.add_filter(env.alice, {"from": "carol@", "mark_read": True})
    await rules.add_filter(env.alice, {"subject": "urgent", "star": True})
    active = await env.store.active_sieve_script(env.alice.id)
    assert active is not None
    assert active.info.name == MANAGED_SCRIPT
    await _deliver(env, "urgent report")
    await _deliver(env, "weekly report", sender="dave@example.net")
    await _deliver(env, "hello")
    work = await mailbox_flags(env, env.alice, "Work")
    assert [sorted(flags & {"\\Seen", "\\Flagged"}) for flags in work] == [["\\Flagged", "\\Seen"], []]
    [inbox] = await mailbox_flags(env, env.alice, "INBOX")
    assert "\\Seen" in inbox  # carol's "hello": marked read, kept in INBOX


async def test_delete_goes_to_trash_and_skip_inbox_to_the_archive(env: SmtpEnv) -> None:
    rules = _rules(env)
    await rules.add_filter(env.alice, {"subject": "junk", "delete": True})
    await rules.add_filter(env.alice, {"subject": "newsletter", "skip_inbox": True})
    await _deliver(env, "junk offer")
    await _deliver(env, "newsletter 12")
    assert await env.messages(env.alice) == []
    trash = next(box for box in await env.store.mailboxes(env.alice.id) if box.special_use == "\\Trash")
    archive = next(box for box in await env.store.mailboxes(env.alice.id) if box.special_use == "\\Archive")
    assert b"Subject: junk offer" in (await env.messages(env.alice, trash.name))[0]
    assert b"Subject: newsletter 12" in (await env.messages(env.alice, archive.name))[0]


async def test_vacation_reply_in_the_queue_only_within_its_dates(env: SmtpEnv) -> None:
    rules = _rules(env)
    today = date.today()
    later = {"message": "Back soon.", "from_date": today + timedelta(days=2)}
    await rules.set_vacation(env.alice, later)
    await _deliver(env, "before the dates")
    assert await queued(env) == []
    now = {"subject": 'Away "for" a while', "message": "Back on Monday.\nAlice", "until": today, "days": 2}
    await rules.set_vacation(env.alice, now)
    await _deliver(env, "question")
    [(entry, data)] = await queued(env)
    assert entry.sender == ""  # RFC 5230 §5.1
    assert [r.address for r in entry.recipients] == ["carol@example.net"]
    reply = email.message_from_bytes(data, policy=email.policy.default)
    assert reply["Subject"] == 'Away "for" a while'
    assert "Back on Monday.\nAlice" in reply.get_content().replace("\r\n", "\n")
    assert len(await env.messages(env.alice)) == 2  # the replies change nothing of placement
    await rules.set_vacation(env.alice, None)
    assert await env.store.sieve_script(env.alice.id, MANAGED_SCRIPT) is None  # no rules left
    assert await env.store.active_sieve_script(env.alice.id) is None


@pytest.mark.parametrize(("mode", "kept_in"), [("keep", "INBOX"), ("archive", "Archive"), ("delete", None)])
async def test_forward_with_each_copy_mode(env: SmtpEnv, mode: str, kept_in: str | None) -> None:
    await _rules(env).set_forward(env.alice, {"address": "friend@remote.example", "mode": mode})
    await _deliver(env, "forward me")
    [(entry, data)] = await queued(env)
    assert [r.address for r in entry.recipients] == ["friend@remote.example"]
    assert entry.sender.startswith("SRS0=")
    assert entry.sender.endswith("@example.org")
    assert env.unsrs(entry.sender) == "carol@example.net"
    assert b"Subject: forward me" in data
    boxes = {
        box.name: len(await env.messages(env.alice, box.name))
        for box in await env.store.mailboxes(env.alice.id)
    }
    assert {name for name, count in boxes.items() if count} == ({kept_in} if kept_in else set())


async def test_own_script_that_includes_the_settings_runs_them(env: SmtpEnv) -> None:
    await env.store.create_mailbox(env.alice.id, "Work")
    quota = env.settings.sieve.quota()
    own = (
        'require ["include", "fileinto"];\n'
        'if header :contains "subject" "lists" { fileinto "Work"; stop; }\n'
        'include :personal "pochta-settings";\n'
    )
    await env.store.put_sieve_script(env.alice.id, "mine", own, quota)
    await env.store.activate_sieve_script(env.alice.id, "mine")
    saved = await _rules(env).set_forward(env.alice, {"address": "friend@remote.example"})
    assert saved.warning is None
    active = await env.store.active_sieve_script(env.alice.id)
    assert active is not None
    assert active.info.name == "mine"
    _, saved = await _rules(env).add_filter(env.alice, {"subject": "read", "mark_read": True})
    await _deliver(env, "lists: daily")  # the user's own rule, which stops before the include
    await _deliver(env, "please read")
    assert len(await env.messages(env.alice, "Work")) == 1
    [flags] = await mailbox_flags(env, env.alice, "INBOX")
    assert "\\Seen" in flags
    [(entry, _)] = await queued(env)  # forwarded once: only the message that reached the include
    assert [r.address for r in entry.recipients] == ["friend@remote.example"]


async def test_own_script_without_the_include_keeps_control(env: SmtpEnv) -> None:
    quota = env.settings.sieve.quota()
    await env.store.put_sieve_script(env.alice.id, "mine", "keep;\n", quota)
    await env.store.activate_sieve_script(env.alice.id, "mine")
    saved = await _rules(env).set_forward(env.alice, {"address": "friend@remote.example", "mode": "delete"})
    assert saved.warning is not None
    assert 'include :personal "pochta-settings";' in saved.warning
    await _deliver(env, "not forwarded")
    assert await queued(env) == []
    assert len(await env.messages(env.alice)) == 1


async def test_vacation_to_contacts_only_answers_whom_the_user_wrote_to(env: SmtpEnv) -> None:
    sent = await env.store.get_mailbox(env.alice.id, "Sent")
    assert sent is not None
    assert sent.special_use == "\\Sent"
    written = (
        b"From: alice@example.org\r\nTo: Friend <Friend@Example.NET>, jimbob@example.net\r\n"
        b"Subject: lunch\r\nMessage-ID: <sent@example.org>\r\n\r\nTomorrow?\r\n"
    )
    await deliver(env.store, written, sent.id)
    await _rules(env).set_vacation(env.alice, {"message": "Away.", "contacts_only": True})
    await _deliver(env, "from a stranger", sender="stranger@example.net")
    await _deliver(env, "from bob", sender="bob@example.net")  # only inside "jimbob@example.net"
    assert await queued(env) == []
    await _deliver(env, "from my friend", sender="friend@example.net")
    [(entry, _)] = await queued(env)
    assert [r.address for r in entry.recipients] == ["friend@example.net"]
    assert len(await env.messages(env.alice)) == 3
