"""Differential test of ACL (RFC 4314) against Dovecot 2.3 with its acl and imap_acl plugins: the
same GETACL, SETACL, DELETEACL, LISTRIGHTS and MYRIGHTS on both servers must give the same rights,
the same entries and the same statuses.

Compared as sets: rights are letters in any order (Dovecot writes ``lrwstipekxacd``, pochta RFC
4314's ``lrswipkxteacd``). Deliberate differences, left out (docs/imap.md "ACL"): Dovecot refuses
``anyone`` unless ``acl_anyone = allow`` (set here); its owner's rights can be changed, so its
LISTRIGHTS of the owner lists every right as optional where pochta's are all required and tied; its
MYRIGHTS of a mailbox that does not exist answers the rights the user would have, pochta NO
[NONEXISTENT].
"""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, imap_server, read_imap, tagged_command

pytestmark = pytest.mark.interop

ACL_CONF = """
mail_plugins = $mail_plugins acl
protocol imap {
  mail_plugins = $mail_plugins imap_acl
}
plugin {
  acl = vfile
  acl_anyone = allow
}
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD, extra=ACL_CONF)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _who(identifier: object) -> str:
    name = _text(identifier)
    return "OWNER" if name in ("owner", ALICE) else name


def _normal(line: bytes) -> object:
    """An untagged ACL, LISTRIGHTS or MYRIGHTS response with rights as sets, the owner named alike."""
    kind, _, rest = line[2:].partition(b" ")
    items = read_imap(b"(" + rest + b")")
    if kind == b"ACL":
        pairs = items[1:]
        return (
            "ACL",
            sorted((_who(pairs[i]), "".join(sorted(_text(pairs[i + 1])))) for i in range(0, len(pairs), 2)),
        )
    if kind == b"LISTRIGHTS":
        return (
            "LISTRIGHTS",
            _who(items[1]),
            sorted(_text(items[2])),
            sorted(_text(r) for r in items[3:]),
        )
    return (kind.decode(), "".join(sorted(_text(items[1]))))


def _scenario(host: str, port: int) -> list[object]:
    client = imaplib.IMAP4(host, port, timeout=10)
    try:
        client.login(ALICE, PASSWORD)
        seen: list[object] = []

        def step(line: str) -> None:
            untagged, tagged = tagged_command(client, line)
            status = re.match(rb"(OK|NO|BAD)", tagged)
            assert status is not None, tagged
            seen.append(
                (
                    line,
                    status.group(1).decode(),
                    [_normal(u) for u in untagged if u[2:5] in (b"ACL", b"LIS", b"MYR")],
                )
            )

        step("CREATE Team")
        step("MYRIGHTS INBOX")
        step("MYRIGHTS Team")
        step("GETACL Team")
        step("SETACL Team anyone lr")
        step("GETACL Team")
        step("SETACL Team anyone +wd")  # RFC 4314 §2.1.1: d is e and t
        step("GETACL Team")
        step("SETACL Team anyone -d")
        step("GETACL Team")
        step("LISTRIGHTS Team anyone")
        step("DELETEACL Team anyone")
        step("GETACL Team")
        step("SETACL Team bob@example.org lrsi")
        step("SETACL Team bob@example.org -s")
        step("GETACL Team")
        step("LISTRIGHTS Team bob@example.org")
        step("DELETEACL Team bob@example.org")
        step("GETACL Team")
        step("SETACL Team anyone lrz")  # RFC 4314 §3.1: an unknown right is BAD
        step("GETACL Nothing")
        return seen
    finally:
        client.logout()


async def test_acl_answers_match_dovecot(tmp_path: Path, dovecot: DovecotServer) -> None:
    theirs = await asyncio.to_thread(_scenario, "127.0.0.1", dovecot.imap)
    async with imap_server(tmp_path) as env:
        ours = await asyncio.to_thread(_scenario, *env.plain)
    assert ours == theirs
    # And the scenario says something: an entry came and went, with the obsolete d and its members.
    assert ("GETACL Team", "OK", [("ACL", [("OWNER", "acdeiklprstwx"), ("anyone", "delrtw")])]) in ours
