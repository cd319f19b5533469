"""POP3 interop with Debian's clients: fetchmail, getmail6, mpop and curl, against a real pochta
server on 127.0.0.1. Each test skips with a reason when its binary is missing (CI installs them
and sets POCHTA_REQUIRE_INTEROP=1, which turns such a skip into a failure)."""

from __future__ import annotations

import mailbox
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client_process import run
from pop3_env import ADDRESS, PASSWORD, Pop3Env, message, pop3_server

pytestmark = pytest.mark.interop

COUNT = 4


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install {binary})")
    return path


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Pop3Env]:
    async with pop3_server(tmp_path) as running:
        for n in range(COUNT):
            await running.deliver(message(n, size=5000 * n))
        yield running


def maildir_messages(path: Path) -> list[bytes]:
    box = mailbox.Maildir(str(path), create=False)
    return sorted(bytes(m.as_bytes()) for m in box)


def expected_subjects() -> list[str]:
    return [f"Subject: message {n}" for n in range(COUNT)]


def assert_got_all(texts: list[bytes]) -> None:
    assert len(texts) == COUNT
    for n in range(COUNT):
        assert any(f"Subject: message {n}".encode() in t for t in texts)


# -- fetchmail ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [True, False])
async def test_fetchmail(env: Pop3Env, tmp_path: Path, keep: bool) -> None:
    fetchmail = need("fetchmail")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc = tmp_path / "fetchmailrc"
    _host, port = env.tls
    rc.write_text(
        f"poll 127.0.0.1 protocol POP3 port {port}\n"
        f'  user "{ADDRESS}" password "{PASSWORD}" is "root" here\n'
        f'  ssl sslcertck sslcertfile "{env.ca_file()}" sslcommonname localhost\n'
        f"  {'keep' if keep else 'nokeep'} fetchall\n"
        f"  mda \"/bin/sh -c 'cat > {out_dir}/msg.$$'\"\n"
    )
    rc.chmod(0o600)
    code, output = await run(
        fetchmail,
        "-f",
        str(rc),
        "--nodetach",
        "--nosyslog",
        "-i",
        str(tmp_path / "ids"),
        "-v",
        env={"HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)},
    )
    assert code == 0, output
    assert_got_all([p.read_bytes() for p in out_dir.iterdir()])
    assert len(await env.uids()) == (COUNT if keep else 0)


# -- getmail6 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("delete", [False, True])
async def test_getmail_simple_pop3_ssl(env: Pop3Env, tmp_path: Path, delete: bool) -> None:
    getmail = need("getmail")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    host, port = env.tls
    rc = tmp_path / "getmailrc"
    rc.write_text(
        "[retriever]\n"
        "type = SimplePOP3SSLRetriever\n"
        f"server = {host}\nport = {port}\n"
        f"username = {ADDRESS}\npassword = {PASSWORD}\n"
        f"ca_certs = {env.ca_file()}\n"
        "[destination]\ntype = MDA_external\npath = /bin/sh\n"
        f'arguments = ("-c", "cat > {out_dir}/msg.$$")\n'
        # getmail refuses to run a command as root unless told; tests may run as root.
        "allow_root_commands = true\n"
        "[options]\n"
        f"delete = {'true' if delete else 'false'}\n"
        "read_all = false\nverbose = 2\n"
    )
    getmaildir = tmp_path / "getmail-state"
    getmaildir.mkdir()
    code, output = await run(getmail, "--getmaildir", str(getmaildir), "--rcfile", str(rc))
    assert code == 0, output
    assert_got_all([p.read_bytes() for p in out_dir.iterdir()])
    assert len(await env.uids()) == (0 if delete else COUNT)
    if not delete:
        # Run again: "read_all = false" uses UIDL to fetch nothing twice.
        await env.deliver(message(99))
        code, output = await run(getmail, "--getmaildir", str(getmaildir), "--rcfile", str(rc))
        assert code == 0, output
        assert len(list(out_dir.iterdir())) == COUNT + 1


# -- mpop --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["starttls", "pop3s"])
async def test_mpop(env: Pop3Env, tmp_path: Path, mode: str) -> None:
    mpop = need("mpop")
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    host, port = env.plain if mode == "starttls" else env.tls
    argv = [
        mpop,
        f"--host={host}",
        f"--port={port}",
        "--auth=user",
        f"--user={ADDRESS}",
        f"--passwordeval=echo '{PASSWORD}'",
        "--tls=on",
        f"--tls-starttls={'on' if mode == 'starttls' else 'off'}",
        f"--tls-trust-file={env.ca_file()}",
        f"--delivery=maildir,{maildir}",
        f"--uidls-file={tmp_path / 'uidls'}",
        "--keep=on",
        "--only-new=on",
    ]
    code, output = await run(*argv, env={"HOME": str(tmp_path)})
    assert code == 0, output
    assert_got_all(maildir_messages(maildir))
    code, output = await run(*argv, env={"HOME": str(tmp_path)})  # only-new: nothing again
    assert code == 0, output
    assert len(maildir_messages(maildir)) == COUNT
    argv[argv.index("--keep=on")] = "--keep=off"
    argv[argv.index("--only-new=on")] = "--only-new=off"
    code, output = await run(*argv, env={"HOME": str(tmp_path)})
    assert code == 0, output
    assert await env.uids() == []


# -- curl --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["pop3", "pop3s"])
async def test_curl(env: Pop3Env, scheme: str) -> None:
    curl = need("curl")
    _host, port = env.plain if scheme == "pop3" else env.tls
    common = [curl, "-sS", "--cacert", str(env.ca_file()), "-u", f"{ADDRESS}:{PASSWORD}"]
    if scheme == "pop3":
        common.append("--ssl-reqd")  # STLS, required
    code, listing = await run(*common, f"{scheme}://127.0.0.1:{port}/")
    assert code == 0, listing
    assert len(listing.strip().splitlines()) == COUNT
    code, text = await run(*common, f"{scheme}://127.0.0.1:{port}/2")
    assert code == 0, text
    assert text.replace("\r\n", "\n") == message(1, size=5000).decode().replace("\r\n", "\n")
    # DELE through a custom request; curl ends with QUIT, which commits it.
    code, text = await run(*common, "-X", "DELE 1", "-I", f"{scheme}://127.0.0.1:{port}/")
    assert code == 0, text
    assert len(await env.uids()) == COUNT - 1
