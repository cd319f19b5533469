"""`pochta fetch add|list|del|run|status` as an administrator types them, against a second pochta's
POP3 (tests/pop3_env.py, served on this test's loop while the commands run in threads)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from click.testing import CliRunner

from cli_env import init_data, ok, run
from pochta.cli import main
from pop3_env import ADDRESS, PASSWORD, message, pop3_server
from store_env import ON_POSTGRESQL

LOCAL = "carol@example.org"


async def pochta(*args: str, data: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, *args, data=data, stdin=stdin)


async def test_fetch_commands(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as remote:
        for n in range(3):
            await remote.deliver(message(n))
        data = await asyncio.to_thread(init_data, tmp_path / "local")
        config = data / "pochta.toml"
        config.write_text(config.read_text() + f'\n[fetch]\nca_file = "{remote.ca_file()}"\n')
        ok(await pochta("user", "add", LOCAL, "--password-stdin", data=data, stdin="x-password\n"))
        secret = "s3cret remote password"  # spaces: still one line, accepted
        port = remote.tls[1]
        added = ok(
            await pochta(
                "fetch", "add", LOCAL, "--pop3", f"127.0.0.1:{port}", "--login", ADDRESS,
                "--password-stdin", "--folder", "Remote", data=data, stdin=PASSWORD + "\n",
            )
        )  # fmt: skip
        assert added.startswith("added external account 1 of carol@example.org: ")
        assert f"pop3://{ADDRESS}@127.0.0.1:{port} (tls implicit, keep) into Remote" in added
        listed = ok(await pochta("fetch", "list", LOCAL, data=data))
        assert f"pop3://{ADDRESS}@127.0.0.1:{port}" in listed
        assert "Remote" in listed
        # Never shown, never stored in clear text.
        assert PASSWORD not in listed + added
        if (
            not ON_POSTGRESQL
        ):  # the password as the SQLite file holds it (a database server's files are its own)
            assert PASSWORD.encode() not in (data / "pochta.db").read_bytes()
        fetched = ok(await pochta("fetch", "run", LOCAL, data=data))
        assert "3 fetched, 0 deleted on the remote, 0 fetched before, 0 left on the remote" in fetched
        again = ok(await pochta("fetch", "run", LOCAL, "1", data=data))
        assert "0 fetched, 0 deleted on the remote, 3 fetched before" in again
        status = ok(await pochta("fetch", "status", LOCAL, data=data))
        assert " ok " in status
        assert "0/3" in status
        ok(await pochta("fetch", "del", LOCAL, "1", data=data))
        gone = await pochta("fetch", "del", LOCAL, "1", data=data)
        assert gone.returncode == 1
        assert "no external account 1" in gone.stderr
        wrong = ok(
            await pochta(
                "fetch", "add", LOCAL, "--pop3", f"127.0.0.1:{port}", "--login", ADDRESS,
                "--password-stdin", data=data, stdin=secret + "\n",
            )
        )  # fmt: skip
        assert "added external account 2" in wrong  # ids are never reused
        failed = await pochta("fetch", "run", LOCAL, "2", data=data)
        assert failed.returncode == 1
        assert "failed (auth): login refused" in failed.stdout
        assert secret not in failed.stdout + failed.stderr


async def test_fetch_add_refusals(tmp_path: Path) -> None:
    data = await asyncio.to_thread(init_data, tmp_path / "local")
    ok(await pochta("user", "add", LOCAL, "--password-stdin", data=data, stdin="x-password\n"))
    base = ("fetch", "add", LOCAL, "--login", "someone", "--password-stdin")
    imap = await pochta(
        *base,
        "--imap",
        "imap.example.net",
        "--imap-folders",
        "INBOX,Lists/python",
        "--mirror-flags",
        data=data,
        stdin="pw\n",
    )
    assert "imap://someone@imap.example.net:993 (tls implicit, keep, mirror flags) into INBOX" in ok(imap)
    assert "from INBOX,Lists/python" in imap.stdout
    listed = ok(await pochta("fetch", "list", LOCAL, data=data))
    assert "INBOX,Lists/python" in listed
    starttls = await pochta(*base, "--imap", "imap.example.net", "--tls", "starttls", data=data, stdin="pw\n")
    assert "imap://someone@imap.example.net:143 (tls starttls, keep) into INBOX from INBOX" in ok(starttls)
    plain_imap = await pochta(*base, "--imap", "imap.example.net", "--tls", "none", data=data, stdin="pw\n")
    assert plain_imap.returncode == 1
    assert "allowed to a loopback address only" in plain_imap.stderr
    plain = await pochta(*base, "--pop3", "pop.example.net", "--tls", "none", data=data, stdin="pw\n")
    assert plain.returncode == 1
    assert "allowed to a loopback address only" in plain.stderr
    allowed = await pochta(
        *base, "--pop3", "pop.example.net", "--tls", "none", "--insecure-plain", data=data, stdin="pw\n"
    )
    assert "pop3://someone@pop.example.net:110 (tls none, keep) into INBOX" in ok(allowed)
    archived = await pochta(
        *base, "--pop3", "127.0.0.1", "--tls", "none", "--archive", "--delete", data=data, stdin="pw\n"
    )
    assert "pop3://someone@127.0.0.1:110 (tls none, delete) into Archive" in ok(archived)
    assert "pop3://someone@127.0.0.1:110" in ok(await pochta("fetch", "list", LOCAL, data=data))


def test_fetch_add_usage_errors(tmp_path: Path) -> None:
    # Refused before the data directory is read: the command's own checks, in this process.
    runner = CliRunner()
    base = ["fetch", "add", LOCAL, "--login", "x", "--data", str(tmp_path)]
    no_stdin = runner.invoke(main, [*base, "--pop3", "pop.example.net"])
    assert no_stdin.exit_code == 2
    assert "--password-stdin" in no_stdin.output
    both = runner.invoke(
        main, [*base, "--pop3", "h", "--archive", "--folder", "X", "--password-stdin"], input="pw\n"
    )
    assert both.exit_code == 2
    assert "give --folder or --archive" in both.output
    no_server = runner.invoke(main, [*base, "--password-stdin"], input="pw\n")
    assert no_server.exit_code == 2
    assert "--pop3 HOST[:PORT]" in no_server.output
    two = runner.invoke(main, [*base, "--pop3", "h", "--imap", "h", "--password-stdin"], input="pw\n")
    assert two.exit_code == 2
    pop3_folders = runner.invoke(
        main, [*base, "--pop3", "h", "--imap-folders", "A", "--password-stdin"], input="pw\n"
    )
    assert pop3_folders.exit_code == 2
    assert "are for --imap accounts" in pop3_folders.output
    helped = runner.invoke(main, ["fetch", "add", "--help"])
    assert helped.exit_code == 0
    assert "--imap" in helped.output
    assert "--imap-folders" in helped.output
    assert "--pop3" in helped.output
