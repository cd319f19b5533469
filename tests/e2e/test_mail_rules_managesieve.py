"""The managed script "pochta-settings" over ManageSieve (docs/managesieve.md): listed, readable and
activatable like any script; PUTSCRIPT, DELETESCRIPT, RENAMESCRIPT and HAVESPACE on it refused with
a message that says where its rules are changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from managesieve_env import managesieve_server
from pochta.mail.mail_rule_service import MailRuleService

REFUSED = b"NO \"'pochta-settings' is generated from the account's filters, vacation and forwarding settings"


async def test_managed_script_is_read_only_over_managesieve(tmp_path: Path) -> None:
    async with managesieve_server(tmp_path) as env:
        await MailRuleService(env.store, env.settings.sieve).add_filter(
            env.alice, {"subject": "x", "star": True}
        )

        def run() -> list[bytes]:
            client = env.session()
            return [
                client.command(b"LISTSCRIPTS"),
                client.command(b'GETSCRIPT "pochta-settings"'),
                client.command(b'PUTSCRIPT "pochta-settings" "keep;"'),
                client.command(b'HAVESPACE "pochta-settings" 10'),
                client.command(b'DELETESCRIPT "pochta-settings"'),
                client.command(b'RENAMESCRIPT "pochta-settings" "mine"'),
                client.command(b'PUTSCRIPT "mine" "keep;"'),
                client.command(b'RENAMESCRIPT "mine" "pochta-settings"'),
                client.command(b'SETACTIVE "mine"'),
                client.command(b'SETACTIVE "pochta-settings"'),
            ]

        (
            listed,
            got,
            put,
            space,
            delete,
            rename,
            mine,
            rename_to,
            set_mine,
            set_managed,
        ) = await asyncio.to_thread(run)
        assert listed.startswith(b'"pochta-settings" ACTIVE\r\nOK')
        assert b'addflag "\\\\Flagged";' in got
        assert got.endswith(b'\r\nOK "Getscript completed"\r\n')
        for answer in (put, space, delete, rename, rename_to):
            assert answer.startswith(REFUSED), answer
        assert mine.startswith(b"OK")
        assert set_mine.startswith(b"OK")
        assert set_managed.startswith(b"OK")
