"""rspamd as the spam engine (issue 14, docs/antispam.md "rspamd"): its `add header` verdict files
the message into Junk, and users' Junk moves teach it. Debian's rspamd, started by the test with a
controller worker and Bayes statistics in a redis of the test's own (tests/milter_daemons.py).

- A message rspamd scores past its add-header threshold (the tests' own symbol POCHTA_TEST_SPAM,
  8 points) arrives over the MX: rspamd's milter changes ``X-Spam`` to ``Yes`` and the message
  lands in Alice's Junk, with rspamd's score in X-Spamd-Result, which Sieve's ``spamtest`` reads;
  an ordinary message stays in INBOX. rspamd's soft reject (its greylisting) is a 451.
- An IMAP client MOVEs a message into Junk: rspamd's ``/stat`` counts one more learn; moving it
  back into INBOX is learned as ham (one more); moving it to Trash teaches nothing; per-user
  learning (Deliver-To) counts too; a wrong controller password learns nothing.
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import smtplib
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from imap_env import ALICE as IMAP_ALICE
from imap_env import PASSWORD as IMAP_PASSWORD
from imap_env import imap_server, imap_settings
from milter_daemons import RspamdLearning, rspamd_learning
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def rspamd() -> Iterator[RspamdLearning]:
    with rspamd_learning() as running:
        yield running


def learned(rspamd: RspamdLearning) -> int:
    request = urllib.request.Request(rspamd.controller + "/stat", headers={"Password": rspamd.password})
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["learned"])


def deliver(env: SmtpEnv, data: bytes) -> int:
    with smtplib.SMTP(*env.address("smtp"), timeout=90) as client:
        client.ehlo("client.example.net")
        client.mail("carol@example.net")
        client.rcpt(ALICE)
        return client.data(data)[0]


SCRIPT = """require ["fileinto", "spamtest", "relational", "comparator-i;ascii-numeric", "imap4flags"];
if spamtest :value "ge" :comparator "i;ascii-numeric" "2" { addflag "\\\\Flagged"; }
"""


async def test_add_header_verdict_files_into_junk(tmp_path: Any, rspamd: RspamdLearning) -> None:
    settings = smtp_settings(
        milters=[{"socket": rspamd.milter, "name": "rspamd", "eom_timeout": 90}],
        sieve={
            "spamtest_header": r"X-Spamd-Result:\[(-?[0-9]+\.?[0-9]*) /",
            "spamtest_max_header": r"X-Spamd-Result:/ ([0-9]+\.?[0-9]*)\]",
        },
    )
    async with smtp_server(tmp_path, settings) as env:
        await env.store.put_sieve_script(env.alice.id, "spam", SCRIPT, env.settings.sieve.quota())
        await env.store.activate_sieve_script(env.alice.id, "spam")
        spam = message("POCHTA-TEST-SPAM offer", body="A message rspamd scores 8.\r\n")
        assert await asyncio.to_thread(deliver, env, spam) == 250
        assert await env.messages() == []
        (stored,) = await env.messages(mailbox="Junk")
        junk = await env.store.get_mailbox(env.alice.id, "Junk")
        assert junk is not None
        view = await env.store.open_view(junk.id)
        flags = view.entry(0).flags
        ordinary = message("ordinary", body="Lunch at noon?\r\n")
        assert await asyncio.to_thread(deliver, env, ordinary) == 250
        assert len(await env.messages()) == 1
    head = stored.split(b"\r\n\r\n")[0].decode()
    assert "\r\nX-Spam: Yes" in head, head
    assert "\r\nX-Spamd-Result: default: False [" in head, head  # False: not rejected
    assert "POCHTA_TEST_SPAM(8.00)" in head, head
    assert "\\Flagged" in flags  # spamtest read rspamd's score from X-Spamd-Result


async def test_soft_reject_is_a_temporary_refusal(tmp_path: Any, rspamd: RspamdLearning) -> None:
    settings = smtp_settings(milters=[{"socket": rspamd.milter, "name": "rspamd", "eom_timeout": 90}])
    async with smtp_server(tmp_path, settings) as env:

        def send() -> tuple[int, bytes]:
            with smtplib.SMTP(*env.address("smtp"), timeout=90) as client:
                client.ehlo("client.example.net")
                client.mail("carol@example.net")
                client.rcpt(ALICE)
                try:
                    return client.data(message("POCHTA-TEST-SOFT"))
                except smtplib.SMTPDataError as exc:
                    return exc.smtp_code, exc.smtp_error

        code, text = await asyncio.to_thread(send)
        assert code == 451, text  # rspamd's soft reject: the client retries (its greylisting)
        assert text.startswith(b"4.7.1 "), text
        assert await env.messages() == []
        assert await env.messages(mailbox="Junk") == []


SPAMMY = (
    "From: Winner <lottery@example.net>\r\nTo: alice@example.org\r\nSubject: You won\r\n"
    "Message-ID: <won-{n}@example.net>\r\n\r\n"
    + " ".join(f"claim{i} your prize lottery casino winner jackpot" for i in range(20))
    + "\r\n"
)


def move_around(port: tuple[str, int], rspamd: RspamdLearning) -> list[int]:
    """APPEND to INBOX, MOVE to Junk, MOVE back to INBOX, MOVE to Junk and on to Trash; the learn
    count after each step that teaches (waited for: the learn runs after the command)."""
    counts = [learned(rspamd)]

    def wait_for(expected: int) -> None:
        deadline = time.monotonic() + 30
        while learned(rspamd) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        counts.append(learned(rspamd))

    with imaplib.IMAP4(*port, timeout=30) as client:
        client.login(IMAP_ALICE, IMAP_PASSWORD)
        client.append("INBOX", None, None, SPAMMY.format(n=1).encode())
        client.select("INBOX")
        assert client.uid("MOVE", "1:*", "Junk")[0] == "OK"
        wait_for(counts[0] + 1)
        client.select("Junk")
        assert client.uid("MOVE", "1:*", "INBOX")[0] == "OK"  # learned as ham
        wait_for(counts[0] + 2)
        client.append("Junk", None, None, SPAMMY.format(n=2).encode())  # an APPEND teaches nothing
        client.select("Junk")
        assert client.uid("MOVE", "1:*", "Trash")[0] == "OK"  # deleting spam teaches nothing
        time.sleep(1)
        counts.append(learned(rspamd))
    return counts


async def test_moves_into_and_out_of_junk_teach_rspamd(tmp_path: Any, rspamd: RspamdLearning) -> None:
    antispam = {
        "learn": "global",
        "rspamd_controller": rspamd.controller,
        "controller_password": rspamd.password,
    }
    async with imap_server(tmp_path, imap_settings(antispam=antispam)) as env:
        before, into_junk, out_of_junk, to_trash = await asyncio.to_thread(move_around, env.plain, rspamd)
    assert into_junk == before + 1
    assert out_of_junk == before + 2
    assert to_trash == out_of_junk


async def test_per_user_learn(tmp_path: Any, rspamd: RspamdLearning) -> None:
    # Deliver-To names the owner: rspamd keeps per-user Bayes statistics (users_enabled).
    antispam = {
        "learn": "per-user",
        "rspamd_controller": rspamd.controller,
        "controller_password": rspamd.password,
    }
    async with imap_server(tmp_path, imap_settings(antispam=antispam)) as env:
        before = await asyncio.to_thread(learned, rspamd)

        def move() -> int:
            with imaplib.IMAP4(*env.plain, timeout=30) as client:
                client.login(IMAP_ALICE, IMAP_PASSWORD)
                client.append("INBOX", None, None, SPAMMY.format(n=4).encode())
                client.select("INBOX")
                assert client.uid("COPY", "1:*", "Junk")[0] == "OK"  # a COPY teaches as a MOVE
            deadline = time.monotonic() + 30
            while learned(rspamd) == before and time.monotonic() < deadline:
                time.sleep(0.2)
            return learned(rspamd)

        assert await asyncio.to_thread(move) == before + 1


async def test_wrong_password_is_logged_not_learned(tmp_path: Any, rspamd: RspamdLearning) -> None:
    antispam = {"learn": "per-user", "rspamd_controller": rspamd.controller, "controller_password": "wrong"}
    async with imap_server(tmp_path, imap_settings(antispam=antispam)) as env:
        before = await asyncio.to_thread(learned, rspamd)

        def move() -> None:
            with imaplib.IMAP4(*env.plain, timeout=30) as client:
                client.login(IMAP_ALICE, IMAP_PASSWORD)
                client.append("INBOX", None, None, SPAMMY.format(n=3).encode())
                client.select("INBOX")
                assert client.uid("MOVE", "1:*", "Junk")[0] == "OK"

        await asyncio.to_thread(move)
        await asyncio.sleep(2)  # the learn runs after the command: give it time to be refused
        assert await asyncio.to_thread(learned, rspamd) == before
