"""Differential test of QUOTA (RFC 9208) against Dovecot 2.3 with its quota and imap_quota plugins:
the same limits (10 KiB, 3 messages on the user's root) and the same commands on both servers must
give the same usage and limits, the same refusals and the same response codes.

Deliberate differences (docs/imap.md "QUOTA"): the user's root is named ``""`` here and
``"User quota"`` there (so roots are compared by position, not name); pochta answers SETQUOTA of a
user who is no administrator with ``NO [NOPERM]``, Dovecot with a bare NO; Dovecot 2.3 has no STATUS
DELETED/DELETED-STORAGE (RFC 2087 era), so those are not compared.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, imap_server, message, read_imap, tagged_command

pytestmark = pytest.mark.interop

LIMIT_KIB, LIMIT_MESSAGES = 10, 3
QUOTA_CONF = f"""
mail_plugins = $mail_plugins quota
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
plugin {{
  quota = count:User quota
  quota_rule = *:storage={LIMIT_KIB}K:messages={LIMIT_MESSAGES}
  quota_vsizes = yes
}}
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD, extra=QUOTA_CONF)


def _status(tagged: bytes) -> tuple[str, str | None]:
    """``OK``/``NO``/``BAD`` and the response code's atom, without the text (which differs)."""
    found = re.match(rb"(OK|NO|BAD) (?:\[([A-Z-]+)[^\]]*\])?", tagged)
    assert found is not None, tagged
    return found.group(1).decode(), None if found.group(2) is None else found.group(2).decode()


def _quota(untagged: list[bytes]) -> list[Any]:
    """The QUOTA responses' resource lists, in order (root names left out)."""
    out = []
    for line in untagged:
        if line.startswith(b"* QUOTA "):
            value = read_imap(b"(" + line[len(b"* QUOTA ") :] + b")")
            out.append(value[1])
    return out


def _roots(untagged: list[bytes]) -> list[int]:
    """How many roots each QUOTAROOT response lists."""
    return [
        len(read_imap(b"(" + line[len(b"* QUOTAROOT ") :] + b")")) - 1
        for line in untagged
        if line.startswith(b"* QUOTAROOT ")
    ]


def _scenario(host: str, port: int) -> list[object]:
    client = imaplib.IMAP4(host, port, timeout=10)
    try:
        client.login(ALICE, PASSWORD)
        seen: list[object] = []

        def step(line: str) -> None:
            untagged, tagged = tagged_command(client, line)
            seen.append((line, _status(tagged), _roots(untagged), _quota(untagged)))

        step("GETQUOTAROOT INBOX")
        step("GETQUOTAROOT Nope")  # RFC 9208 §4.1.2: the mailbox need not exist
        big = message(1, b"x" * 9000 + b"\r\n")
        for n in range(4):  # 3 fit the MESSAGE limit; the 4th is refused
            typ, data = client.append("INBOX", None, None, message(n + 2, b"y" * 1500 + b"\r\n"))
            seen.append(("APPEND", typ, _status(b"%s %s" % (typ.encode(), data[0]))))
        step("GETQUOTAROOT INBOX")
        client.select("INBOX")
        step("COPY 1 INBOX")  # over the MESSAGE limit
        client.store("1:2", "+FLAGS", "\\Deleted")
        client.expunge()
        step("GETQUOTAROOT INBOX")
        typ, data = client.append("INBOX", None, None, big)  # fits the messages, not the storage
        seen.append(("APPEND big", typ, _status(b"%s %s" % (typ.encode(), data[0]))))
        typ, data = client.append("INBOX", None, None, message(9))
        seen.append(("APPEND small", typ, _status(b"%s %s" % (typ.encode(), data[0]))))
        step("GETQUOTAROOT INBOX")
        _, tagged = tagged_command(client, 'SETQUOTA "" (STORAGE 5)')
        seen.append(("SETQUOTA", _status(tagged)[0]))  # NO on both (the code differs, see above)
        return seen
    finally:
        client.logout()


async def test_quota_answers_match_dovecot(tmp_path: Path, dovecot: DovecotServer) -> None:
    theirs = await asyncio.to_thread(_scenario, "127.0.0.1", dovecot.imap)
    async with imap_server(tmp_path) as env:
        await env.store.update_account(ALICE, quota_bytes=LIMIT_KIB * 1024, quota_messages=LIMIT_MESSAGES)
        ours = await asyncio.to_thread(_scenario, *env.plain)
    assert ours == theirs
    # And the scenario says something: a refusal of each resource, usage that went up and down.
    assert ("APPEND", "NO", ("NO", "OVERQUOTA")) in ours
    assert ("APPEND big", "NO", ("NO", "OVERQUOTA")) in ours
    assert ("COPY 1 INBOX", ("NO", "OVERQUOTA"), [], []) in ours
