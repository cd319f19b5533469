"""The `pochta` command through a real subprocess: init, serve, administration, maintenance."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_env import PORT0, ServerProcess, ok, port_is_free, run
from pochta.auth.authenticator import Authenticator, AuthOk
from pochta.bootstrap import ensure_server_secret
from pochta.config import LISTENER_KINDS, load_settings
from pochta.mime import parse_message
from pochta.store.factory import open_store
from pochta.store.model import Target
from server_env import replace_blob, stored_blob


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    ok(run("init", "--domain", "example.org", *PORT0, data=path))
    return path


def test_init_creates_everything_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "data"
    out = ok(
        run(
            "init",
            "--domain",
            "Example.ORG",
            "--hostname",
            "mail.example.org",
            "--listen",
            "pop3=off",
            data=path,
        )
    )
    assert "created" in out
    for name in ("pochta.toml", "tls/cert.pem", "tls/key.pem", "server-secret", "srs-secret"):
        assert (path / name).is_file(), name
    assert (path / "tls/key.pem").stat().st_mode & 0o077 == 0
    assert (path / "srs-secret").stat().st_mode & 0o077 == 0
    settings = load_settings(path / "pochta.toml")
    assert settings.hostname == "mail.example.org"
    assert "pop3" not in settings.enabled_listeners()
    assert ok(run("domain", "list", data=path)).splitlines()[1].split()[0] == "example.org"

    before = snapshot(path)
    again = run("init", "--domain", "example.org", data=path)
    assert again.returncode == 1
    assert "refusing to overwrite" in again.stderr
    assert snapshot(path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".data.init-")]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--listen", "imap=127.0.0.1:70000"], "port must be 0..65535"),
        (["--listen", "imap=/tmp/sock"], "only allowed for lmtp"),
        (["--hostname", "bad host"], "hostname: not a valid host name"),
        (["--listen", "jmap=127.0.0.1:8080"], "unknown listener 'jmap'"),
    ],
)
def test_init_with_bad_options_creates_nothing(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = run("init", "--domain", "example.org", *args, data=tmp_path / "data")
    assert result.returncode == 2
    assert fragment in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_serve_with_bad_config_names_file_and_key_and_changes_nothing(data: Path) -> None:
    config = data / "pochta.toml"
    config.write_text(config.read_text() + "\n[limits]\nmax_recipients = -5\n")
    before = snapshot(data)
    result = run("serve", data=data)
    assert result.returncode == 2
    assert f"{config}: limits.max_recipients: Input should be greater than or equal to 1" in result.stderr
    assert snapshot(data) == before


@pytest.fixture
def first_run(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    defaults = [int(kind.default.rpartition(":")[2]) for kind in LISTENER_KINDS.values()]
    busy = [port for port in defaults if not port_is_free(port)]
    if busy:
        pytest.fail(
            f"the default ports {busy} are in use on this machine; the first-run test needs them free"
        )
    with ServerProcess(cwd=tmp_path) as server:
        yield server, tmp_path


def test_first_run_creates_data_prints_account_and_listeners(
    first_run: tuple[ServerProcess, Path],
) -> None:
    server, cwd = first_run
    # Every service pochta has, on its default port (HTTP since issue 13).
    assert set(server.wait_listening(11)) == {
        "smtp",
        "submission",
        "submissions",
        "lmtp",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
        "managesieve",
        "http",
        "https",
    }
    listening = [line for line in server.lines if "listening name=" in line]
    assert len(listening) == 11
    assert any(
        re.search(r"listening name=imap addr=127\.0\.0\.1:1143 tls=starttls$", line.strip())
        for line in listening
    )
    assert any("name=imaps addr=127.0.0.1:1993 tls=implicit" in line for line in listening)
    assert any("name=lmtp addr=127.0.0.1:2424 tls=none" in line for line in listening)
    assert any("name=managesieve addr=127.0.0.1:4190 tls=starttls" in line for line in listening)
    assert any("name=http addr=127.0.0.1:8080 tls=none" in line for line in listening)
    assert any("name=https addr=127.0.0.1:8443 tls=implicit" in line for line in listening)

    assert server.stop() == 0
    stdout = server.stdout()
    account = re.search(r"account:\s+(\S+)", stdout)
    password = re.search(r"password:\s+(\S+)", stdout)
    assert account is not None, stdout
    assert password is not None, stdout
    assert account.group(1) == "postmaster@localhost"

    data = cwd / "pochta-data"
    assert (data / "pochta.toml").is_file()
    assert 'managesieve = "127.0.0.1:4190"' in (data / "pochta.toml").read_text()

    async def login() -> None:
        settings = load_settings(data / "pochta.toml")
        store = await open_store(data, settings)
        try:
            result = await Authenticator(store, settings.login).check_password(
                "postmaster@localhost", password.group(1), protocol="imap", remote_ip="127.0.0.1"
            )
            assert isinstance(result, AuthOk)
        finally:
            await store.close()

    asyncio.run(login())


def test_serve_stops_on_sigint_with_exit_zero(data: Path) -> None:
    with ServerProcess(data) as server:
        server.wait_listening()
        assert server.stop(signal.SIGINT) == 0


def test_user_lifecycle(data: Path) -> None:
    out = ok(run("user", "add", "Alice@Example.org", "--quota", "2G", data=data))
    assert "added Alice@example.org" in out
    generated = re.search(r"password: (\S+)", out)
    assert generated is not None
    assert len(generated.group(1)) >= 20

    ok(run("user", "add", "bob@example.org", "--password-stdin", data=data, stdin="correct horse battery\n"))
    duplicate = run("user", "add", "ALICE@example.org", data=data)
    assert duplicate.returncode == 1
    no_domain = run("user", "add", "carol@nowhere.example", data=data)
    assert no_domain.returncode == 1
    bad = run("user", "add", "not an address", data=data)
    assert bad.returncode == 1
    assert "not an address" in bad.stderr

    listing = ok(run("user", "list", data=data))
    assert re.search(
        r"Alice@example\.org\s+2G\s+0\s+unlimited\s+0\s+imap,pop3,submission\s+root\s+yes", listing
    )
    assert re.search(r"bob@example\.org\s+unlimited", listing)

    out = ok(run("user", "set", "bob@example.org", "--no-pop3", "--quota", "500M", data=data))
    assert "quota 500M" in out
    assert "protocols imap,submission" in out
    ok(run("user", "set", "bob@example.org", "--apop-secret-stdin", data=data, stdin="tanstaaf\n"))
    ok(run("user", "passwd", "bob@example.org", "--password-stdin", data=data, stdin="new password 2\n"))

    async def check() -> None:
        settings = load_settings(data / "pochta.toml")
        store = await open_store(data, settings)
        try:
            auth = Authenticator(store, settings.login)
            good = await auth.check_password(
                "bob@example.org", "new password 2", protocol="imap", remote_ip="127.0.0.1"
            )
            assert isinstance(good, AuthOk)
            pop = await auth.check_password(
                "bob@example.org", "new password 2", protocol="pop3", remote_ip="127.0.0.1"
            )
            assert not isinstance(pop, AuthOk)
            account = await store.get_account("bob@example.org")
            assert account is not None
            assert account.settings.own["pop3.apop_secret"] == "tanstaaf"
            assert account.quota_bytes == 500 * 1024**2
        finally:
            await store.close()

    asyncio.run(check())
    refused = run("user", "del", "bob@example.org", data=data, stdin="n\n")
    assert refused.returncode == 1
    ok(run("user", "del", "bob@example.org", "--yes", data=data))
    assert "bob@" not in ok(run("user", "list", data=data))


def test_domains_aliases_and_app_passwords(data: Path) -> None:
    ok(run("domain", "add", "Example.NET", data=data))
    assert "example.net" in ok(run("domain", "list", data=data))
    ok(run("user", "add", "alice@example.org", data=data))
    ok(run("alias", "add", "postmaster@example.org", "alice@example.org", data=data))
    ok(run("alias", "add", "@example.net", "alice@example.org", "friend@elsewhere.example", data=data))
    aliases = ok(run("alias", "list", data=data))
    assert re.search(r"postmaster@example\.org\s+alice@example\.org", aliases)
    assert re.search(r"@example\.net\s+alice@example\.org, friend@elsewhere\.example", aliases)
    ok(run("alias", "del", "@example.net", "friend@elsewhere.example", data=data))
    assert "friend@" not in ok(run("alias", "list", data=data))

    in_use = run("domain", "del", "example.org", data=data)
    assert in_use.returncode == 1
    ok(run("domain", "set", "example.net", "--no-imap", data=data))
    assert re.search(r"example\.net\s+0\s+pop3,submission", ok(run("domain", "list", data=data)))

    out = ok(run("app-password", "add", "alice@example.org", "phone", data=data))
    app_pw = re.search(r"password: (\S+)", out)
    assert app_pw is not None
    assert re.search(
        r"phone\s+\S+\s+never\s+ok", ok(run("app-password", "list", "alice@example.org", data=data))
    )

    async def login(password: str) -> bool:
        settings = load_settings(data / "pochta.toml")
        store = await open_store(data, settings)
        try:
            # keyed with the server-secret `init` made, as `pochta serve` is
            auth = Authenticator(store, settings.login, server_secret=ensure_server_secret(data))
            result = await auth.check_password(
                "alice@example.org", password, protocol="imap", remote_ip="127.0.0.1"
            )
            return isinstance(result, AuthOk)
        finally:
            await store.close()

    assert asyncio.run(login(app_pw.group(1)))
    ok(run("app-password", "revoke", "alice@example.org", "phone", data=data))
    assert not asyncio.run(login(app_pw.group(1)))


def test_alias_to_an_unknown_local_target_is_refused_unless_forced(data: Path) -> None:
    refused = run("alias", "add", "info@example.org", "ghost@example.org", data=data)
    assert refused.returncode == 1
    assert "ghost@example.org: no account, alias or catch-all receives mail" in refused.stderr
    assert "--force" in refused.stderr
    assert "info@" not in ok(run("alias", "list", data=data))
    # Any target that delivers is fine: an account, another alias, a remote address (forwarded).
    ok(run("user", "add", "alice@example.org", data=data))
    ok(run("alias", "add", "team@example.org", "alice@example.org", "friend@elsewhere.example", data=data))
    ok(run("alias", "add", "info@example.org", "team@example.org", data=data))
    # One bad target refuses the whole command; nothing is added.
    mixed = run("alias", "add", "sales@example.org", "alice@example.org", "Ghost@Example.org", data=data)
    assert mixed.returncode == 1
    assert "ghost@example.org" in mixed.stderr.lower()
    assert "sales@" not in ok(run("alias", "list", data=data))
    forced = ok(run("alias", "add", "sales@example.org", "ghost@example.org", "--force", data=data))
    assert "sales@example.org -> ghost@example.org" in forced
    # With a catch-all, every address of the domain receives mail.
    ok(run("alias", "add", "@example.org", "alice@example.org", data=data))
    ok(run("alias", "add", "help@example.org", "nobody@example.org", data=data))


def test_cli_changes_are_seen_by_a_running_store_without_restart(data: Path) -> None:
    async def scenario() -> None:
        settings = load_settings(data / "pochta.toml")
        server_store = await open_store(data, settings)  # stands for the running server
        try:
            assert await server_store.get_account("dave@example.org") is None
            result = await asyncio.to_thread(run, "user", "add", "dave@example.org", data=data)
            ok(result)
            assert await server_store.get_account("dave@example.org") is not None
            result = await asyncio.to_thread(run, "user", "set", "dave@example.org", "--disable", data=data)
            ok(result)
            account = await server_store.get_account("dave@example.org")
            assert account is not None
            assert not account.enabled
        finally:
            await server_store.close()

    asyncio.run(scenario())


def test_quota_commands(data: Path) -> None:
    ok(run("user", "add", "alice@example.org", data=data))
    ok(run("user", "add", "bob@example.org", data=data))

    async def deliver() -> int:
        settings = load_settings(data / "pochta.toml")
        store = await open_store(data, settings)
        try:
            raw = b"From: a@example.org\r\nSubject: hello\r\n\r\nbody text\r\n"
            for address in ("alice@example.org", "bob@example.org"):
                account = await store.get_account(address)
                assert account is not None
                inbox = await store.get_mailbox(account.id, "INBOX")
                assert inbox is not None
                blob = await store.new_blob(raw)
                await store.deliver(blob, parse_message(raw, settings.mime), [Target(inbox.id)])
            return len(raw)
        finally:
            await store.close()

    size = asyncio.run(deliver())
    out = ok(run("quota", "set", "alice@example.org", "--storage", "2G", "--messages", "100", data=data))
    assert out.strip() == "alice@example.org: storage 2G, messages 100"
    out = ok(run("quota", "set", "EXAMPLE.org", "--messages", "1000", data=data))
    assert out.strip() == "example.org: storage unlimited, messages 1000"
    shown = ok(run("quota", "show", "alice@example.org", data=data))
    assert re.search(rf"alice@example\.org\s+storage\s+{size}\s+2G", shown)
    assert re.search(r"alice@example\.org\s+messages\s+1\s+100", shown)
    assert re.search(rf"example\.org\s+storage\s+{2 * size}\s+unlimited", shown)  # the domain's root
    assert re.search(r"example\.org\s+messages\s+2\s+1000", shown)
    domain = ok(run("quota", "show", "example.org", data=data))
    assert len(domain.splitlines()) == 3
    assert re.search(r"example\.org\s+messages\s+2\s+1000", domain)
    # `user set` sets the same limits, and the administrator flag.
    out = ok(run("user", "set", "alice@example.org", "--messages", "none", "--admin", data=data))
    assert "quota 2G, messages unlimited, admin," in out
    listing = ok(run("user", "list", data=data))
    assert re.search(rf"alice@example\.org \(admin\)\s+2G\s+{size}\s+unlimited\s+1\s", listing)
    assert re.search(rf"bob@example\.org\s+unlimited\s+{size}\s+unlimited\s+1\s", listing)
    ok(run("quota", "set", "example.org", "--messages", "none", data=data))
    assert re.search(
        r"example\.org\s+messages\s+2\s+unlimited", ok(run("quota", "show", "example.org", data=data))
    )
    # Errors: nothing to set, no such account or domain, bad values.
    for args in (
        ["quota", "set", "alice@example.org"],
        ["quota", "set", "nobody@example.org", "--messages", "1"],
        ["quota", "set", "nowhere.example", "--messages", "1"],
        ["quota", "show", "nobody@example.org"],
        ["quota", "show", "nowhere.example"],
    ):
        assert run(*args, data=data).returncode == 1, args
    for args in (
        ["quota", "set", "alice@example.org", "--messages", "many"],
        ["quota", "set", "alice@example.org", "--storage", "-1G"],
    ):
        bad = run(*args, data=data)
        assert bad.returncode == 2, args
        assert "Invalid value" in bad.stderr


def test_acl_commands(data: Path) -> None:
    ok(run("user", "add", "alice@example.org", data=data))
    ok(run("user", "add", "bob@example.org", data=data))
    out = ok(run("acl", "set", "alice@example.org", "INBOX", "Bob@Example.org", "lrsd", data=data))
    assert out.strip() == "alice@example.org INBOX: bob@example.org lrsted"  # RFC 4314 §2.1.1
    out = ok(run("acl", "set", "alice@example.org", "inbox", "bob@example.org", "-ts", data=data))
    assert out.strip() == "alice@example.org INBOX: bob@example.org lred"
    ok(run("acl", "set", "alice@example.org", "INBOX", "anyone", "+l", data=data))
    listed = ok(run("acl", "list", "alice@example.org", data=data))
    assert re.search(r"INBOX\s+alice@example\.org\s+lrswipkxteacd", listed)
    assert re.search(r"INBOX\s+anyone\s+l$", listed, re.MULTILINE)
    assert re.search(r"INBOX\s+bob@example\.org\s+lred$", listed, re.MULTILINE)
    assert ok(run("acl", "list", "bob@example.org", data=data)).splitlines() == [
        "MAILBOX  IDENTIFIER  RIGHTS"
    ]
    out = ok(run("acl", "delete", "alice@example.org", "INBOX", "anyone", data=data))
    assert out.strip() == "alice@example.org INBOX: anyone removed"
    assert "anyone" not in ok(run("acl", "list", "alice@example.org", "INBOX", data=data))
    # The owner's rights are implicit; unknown rights, users and mailboxes are refused.
    for args, fragment in [
        (["set", "alice@example.org", "INBOX", "alice@example.org", "l"], "owner's rights are implicit"),
        (["set", "alice@example.org", "INBOX", "bob@example.org", "lz"], "Unknown right 'z'"),
        (["set", "alice@example.org", "INBOX", "carol@example.org", "l"], "'anyone' or the address"),
        (["set", "alice@example.org", "Nothing", "bob@example.org", "l"], "no mailbox 'Nothing'"),
        (["list", "carol@example.org"], "no such account"),
    ]:
        result = run("acl", *args, data=data)
        assert result.returncode != 0, args
        assert fragment in result.stderr, (args, result.stderr)


def test_verify_and_reconstruct(data: Path) -> None:
    ok(run("user", "add", "alice@example.org", data=data))

    async def deliver() -> str:
        settings = load_settings(data / "pochta.toml")
        store = await open_store(data, settings)
        try:
            account = await store.get_account("alice@example.org")
            assert account is not None
            inbox = await store.get_mailbox(account.id, "INBOX")
            assert inbox is not None
            raw = b"From: a@example.org\r\nSubject: hello\r\n\r\nbody text\r\n"
            blob = await store.new_blob(raw)  # small: kept in the database
            await store.deliver(blob, parse_message(raw, settings.mime), [Target(inbox.id)])
            return blob.sha256
        finally:
            await store.close()

    sha = asyncio.run(deliver())
    verified = ok(run("verify", data=data))
    assert "verify: ok" in verified
    assert "search backlog: 1 messages" in verified  # nobody indexed it: no server runs
    dry = ok(run("reconstruct", "--dry-run", data=data))
    assert "messages re-parsed: 1" in dry
    assert "caches would change: 0" in dry
    assert "search index rebuilt" not in dry
    rebuilt = ok(run("reconstruct", data=data))
    assert "search index rebuilt: 1 messages queued for the indexer" in rebuilt

    assert stored_blob(data, sha) is not None  # a file, or a row of the database (a small message)
    replace_blob(data, sha, b"tampered")
    damaged = run("verify", data=data)
    assert damaged.returncode == 1
    assert sha in damaged.stdout
    assert "corrupt" in damaged.stdout

    replace_blob(data, sha, None)
    missing = run("verify", data=data)
    assert missing.returncode == 1
    assert "missing blobs: 1" in missing.stdout


def test_serve_reports_a_port_in_use_and_exits_one(data: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = data / "pochta.toml"
        config.write_text(re.sub(r'imap = ".*"', f'imap = "127.0.0.1:{port}"', config.read_text()))
        result = run("serve", data=data)
    assert result.returncode == 1
    assert f"listener imap: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
