"""Differential test of the shared namespace (RFC 2342 §2, public mailboxes) with ACL (RFC 4314)
against Dovecot 2.3's public namespace: bob holds "lr" on Shared/support and nothing on
Shared/internal; both servers must give the same statuses and response codes, the same MYRIGHTS,
and list the same public mailboxes (a mailbox without a right answering as one that does not exist).

Compared: the tagged status with its response code (texts differ), rights as sets of letters, and
the names LIST gives under ``Shared/``. Left out on purpose (docs/imap.md "Shared mailboxes"):
NAMESPACE (pochta has the other users' namespace too), LIST attributes, the personal mailboxes,
and the NONEXISTENT code Dovecot 2.3 does not send with SELECT and STATUS.
"""

from __future__ import annotations

import asyncio
import grp
import imaplib
import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import BOB, PASSWORD, imap_server, read_imap, tagged_command

pytestmark = pytest.mark.interop

_PUBLIC = {"support": f"user={BOB} lr\n", "internal": ""}


def _public_root() -> Path:
    """Dovecot's public mailboxes: maildir folders with their ACL files (vfile), mail as nobody."""
    root = Path(tempfile.mkdtemp(prefix="pochta-dovecot-public-"))
    root.chmod(0o755)
    for name, acl in _PUBLIC.items():
        box = root / f".{name}"
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True)
        (box / "dovecot-acl").write_text(acl)
    if os.geteuid() == 0:
        uid, gid = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
        for path in [root, *root.rglob("*")]:
            os.chown(path, uid, gid)
    return root


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    public = _public_root()
    conf = f"""
mail_plugins = $mail_plugins acl
protocol imap {{
  mail_plugins = $mail_plugins imap_acl
}}
plugin {{
  acl = vfile
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
namespace public {{
  type = public
  separator = /
  prefix = Shared/
  location = maildir:{public}:INDEX=MEMORY
  subscriptions = no
  list = children
}}
"""
    try:
        yield from dovecot_peer(("imap",), password=PASSWORD, extra=conf)
    finally:
        shutil.rmtree(public, ignore_errors=True)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _plain(seen: list[tuple[str, str, list[str], list[str]]]) -> list[object]:
    return [(line, status.replace(" [NONEXISTENT", ""), *rest) for line, status, *rest in seen]


def _scenario(host: str, port: int) -> list[tuple[str, str, list[str], list[str]]]:
    client = imaplib.IMAP4(host, port, timeout=10)
    try:
        client.login(BOB, PASSWORD)
        seen: list[tuple[str, str, list[str], list[str]]] = []

        def step(line: str) -> None:
            untagged, tagged = tagged_command(client, line)
            status = re.match(rb"(OK|NO|BAD)( \[[A-Z-]+)?", tagged)
            assert status is not None, tagged
            rights = [
                "".join(sorted(_text(read_imap(b"(" + u[11:] + b")")[1])))
                for u in untagged
                if u.startswith(b"* MYRIGHTS ")
            ]
            names = (_text(read_imap(b"(" + u[7:] + b")")[2]) for u in untagged if u.startswith(b"* LIST "))
            # The personal mailboxes differ (pochta makes Sent, Drafts, ...): the shared ones alone.
            listed = sorted(name for name in names if name.startswith("Shared"))
            seen.append((line, status.group(0).decode(), rights, listed))

        step('LIST "" %')
        step('LIST "" "Shared/*"')
        step('LIST "" "Shared/%"')
        step("MYRIGHTS Shared/support")
        step("STATUS Shared/support (MESSAGES)")
        step("EXAMINE Shared/support")
        step("SELECT Shared/support")
        for name in ("Shared/internal", "Shared/none"):
            step(f"SELECT {name}")
            step(f"STATUS {name} (MESSAGES)")
            step(f"MYRIGHTS {name}")
            step(f"GETACL {name}")
        step("GETACL Shared/support")
        step("CREATE Shared/support/sub")
        step("DELETE Shared/support")
        return seen
    finally:
        client.logout()


async def test_public_mailboxes_answer_as_dovecot(tmp_path: Path, dovecot: DovecotServer) -> None:
    theirs = await asyncio.to_thread(_scenario, "127.0.0.1", dovecot.imap)
    async with imap_server(tmp_path) as env:
        owner = await env.store.add_shared_owner("example.org")
        for name in _PUBLIC:
            await env.ops.create(owner.id, name)
        support = await env.mailbox("support", owner)
        await env.store.set_mailbox_acl(support.id, BOB, "lr")
        ours = await asyncio.to_thread(_scenario, *env.plain)
    # Dovecot 2.3 leaves the NONEXISTENT code out of SELECT and STATUS (RFC 5530 §3 has it, pochta
    # sends it): compared without it; each server alike answers no right as no mailbox.
    assert _plain(ours) == _plain(theirs)
    for seen in (ours, theirs):
        answers = {line.split(" ", 1)[0]: [] for line, *_ in seen}
        for line, status, *_ in seen:
            answers[line.split(" ", 1)[0]].append((line.replace("internal", "none"), status))
        for kind in ("SELECT", "STATUS", "MYRIGHTS", "GETACL"):
            internal = [a for a in answers[kind] if "none" in a[0]]
            assert len(internal) == 2, internal
            assert internal[0] == internal[1], internal
    # And the scenario says something: a right granted, and a mailbox without one is absent.
    assert ("MYRIGHTS Shared/support", "OK", ["lr"], []) in ours
    assert ('LIST "" "Shared/*"', "OK", [], ["Shared/support"]) in ours
    assert ('LIST "" %', "OK", [], ["Shared"]) in ours  # the prefix, as list = children shows it
