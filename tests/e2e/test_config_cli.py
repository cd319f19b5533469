"""`pochta config check` runs every check `pochta serve` runs before it starts, and binds what it
can: whatever check refuses, serve refuses too, and the message names the key."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from cli_env import ServerProcess, init_data, ok, port_is_free, run


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return init_data(tmp_path / "data")


def edit(data: Path, pattern: str, replacement: str) -> None:
    config = data / "pochta.toml"
    text, count = re.subn(pattern, replacement, config.read_text(), flags=re.MULTILINE)
    assert count == 1, pattern
    config.write_text(text)


def append(data: Path, text: str) -> None:
    config = data / "pochta.toml"
    config.write_text(config.read_text() + "\n" + text + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def refused_by_check_and_serve(data: Path, expected: str) -> None:
    """Both commands exit 2 with the same line, naming the file and the key."""
    config = data / "pochta.toml"
    for command in (("config", "check"), ("serve",)):
        result = run(*command, data=data)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert f"{config}: {expected}" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr


def test_check_says_ok_and_binds(data: Path) -> None:
    out = ok(run("config", "check", data=data))
    assert re.search(r"pochta\.toml: ok \(11 listeners\)$", out.strip())


def test_port_out_of_range_names_the_listener(data: Path) -> None:
    edit(data, r'^imap = ".*"$', 'imap = "127.0.0.1:70000"')
    refused_by_check_and_serve(data, "listeners.imap: port must be 0..65535, got 70000")


def test_missing_certificate_file(data: Path) -> None:
    edit(data, r'^certificate = ".*"$', 'certificate = "tls/missing.pem"')
    refused_by_check_and_serve(data, f"tls.certificate: no such file: {data / 'tls/missing.pem'}")


def test_certificate_that_does_not_match_its_key(data: Path) -> None:
    other = trustme.CA().issue_cert("mail.example.org")
    other.cert_chain_pems[0].write_to_path(str(data / "tls" / "other.pem"))
    edit(data, r'^certificate = ".*"$', 'certificate = "tls/other.pem"')
    refused_by_check_and_serve(data, "tls.certificate: ")
    assert "cannot load certificate and key" in run("config", "check", data=data).stderr


def test_two_listeners_on_one_address(data: Path) -> None:
    port = free_port()
    edit(data, r'^imap = ".*"$', f'imap = "127.0.0.1:{port}"')
    edit(data, r'^pop3 = ".*"$', f'pop3 = "127.0.0.1:{port}"')
    refused_by_check_and_serve(
        data, f"listeners.pop3: 127.0.0.1:{port} is also the address of listeners.imap (127.0.0.1:{port})"
    )


def test_all_addresses_clash_with_one_address_and_metrics_counts(data: Path) -> None:
    port = free_port()
    edit(data, r'^smtp = ".*"$', f'smtp = "*:{port}"')
    append(data, f'[metrics]\nlisten = "127.0.0.1:{port}"')
    expected = f"metrics.listen: 127.0.0.1:{port} is also the address of listeners.smtp"
    refused_by_check_and_serve(data, expected)


def test_unix_socket_path_that_is_not_a_socket(data: Path) -> None:
    path = data / "lmtp.sock"
    path.write_text("not a socket")
    edit(data, r'^lmtp = ".*"$', f'lmtp = "{path}"')
    refused_by_check_and_serve(data, f"listeners.lmtp: {path} exists and is not a socket")


def test_address_in_use_is_found_by_binding(data: Path, taken_port: int) -> None:
    edit(data, r'^imaps = ".*"$', f'imaps = "127.0.0.1:{taken_port}"')
    result = run("config", "check", data=data)
    assert result.returncode == 2
    in_use = f"listeners.imaps: 127.0.0.1:{taken_port} is in use (another program listens there)"
    assert in_use in result.stderr
    # --no-bind skips exactly that; serve then fails at the bind, naming the listener.
    assert "addresses not bound (--no-bind)" in ok(run("config", "check", "--no-bind", data=data))
    served = run("serve", data=data)
    assert served.returncode == 1
    assert f"listener imaps: cannot listen on 127.0.0.1:{taken_port}" in served.stderr


def test_bad_http_address_is_refused_naming_the_key(data: Path) -> None:
    edit(data, r'^http = ".*"$', 'http = "127.0.0.1:80800"')
    expected = "listeners.http: port must be 0..65535"
    refused_by_check_and_serve(data, expected)


def test_acme_without_the_http_listener_is_refused(data: Path) -> None:
    edit(data, r'^http = ".*"$', 'http = "off"')
    edit(data, r"^\[tls\]$", "[tls]\nacme = true")
    expected = "tls.acme: needs the http listener (port 80) to answer http-01 challenges"
    refused_by_check_and_serve(data, expected)


def test_check_beside_a_running_server_does_not_trip_over_its_ports(data: Path) -> None:
    port = free_port()
    edit(data, r'^imap = ".*"$', f'imap = "127.0.0.1:{port}"')
    with ServerProcess(data) as server:
        server.wait_listening()
        out = ok(run("config", "check", data=data))
        assert f"pochta serve runs here (pid {server.process.pid})" in out
        # A second server on the same data directory is refused, naming the first one.
        second = run("serve", data=data)
        assert second.returncode == 1
        assert f"already runs on this data directory (pid {server.process.pid}" in second.stderr
        assert server.stop() == 0
    assert not (data / "pochta.pid").exists()
    result = run("config", "check", data=data)  # now nothing holds it: bound and free
    assert result.returncode == 0, result.stderr


# -- reload (SIGHUP, `pochta config reload`) ---------------------------------------------------------


def rcpt_codes(address: tuple[str, int], recipients: list[str]) -> list[int]:
    with smtplib.SMTP(*address, timeout=30) as client:
        client.ehlo("client.example")
        client.mail("sender@elsewhere.example")
        codes = [client.rcpt(rcpt)[0] for rcpt in recipients]
        client.rset()
        return codes


RECIPIENTS = [f"user{i}@example.org" for i in range(3)]


@pytest.fixture
def served(data: Path) -> Iterator[tuple[ServerProcess, dict[str, tuple[str, int]]]]:
    for rcpt in RECIPIENTS:
        ok(run("user", "add", rcpt, data=data))
    with ServerProcess(data) as server:
        yield server, server.wait_listening()
        server.stop()


def reload(server: ServerProcess, data: Path) -> re.Match[str]:
    start = len(server.lines)
    out = ok(run("config", "reload", data=data))
    assert f"asked pochta serve (pid {server.process.pid}) to reload" in out
    return server.wait_for(r"config reloaded|config reload failed", start=start)


def test_reload_applies_a_limit_to_new_sessions(
    data: Path, served: tuple[ServerProcess, dict[str, tuple[str, int]]]
) -> None:
    server, addresses = served
    assert rcpt_codes(addresses["smtp"], RECIPIENTS) == [250, 250, 250]
    append(data, "[limits]\nmax_recipients = 2")
    start = len(server.lines)
    assert reload(server, data).group(0) == "config reloaded"
    server.wait_for(r"info config changed key=limits\.max_recipients old=100 new=2", start=start)
    assert rcpt_codes(addresses["smtp"], RECIPIENTS) == [250, 250, 452]


def test_a_bad_file_keeps_the_running_config_and_names_the_key(
    data: Path, served: tuple[ServerProcess, dict[str, tuple[str, int]]]
) -> None:
    server, addresses = served
    append(data, "[limits]\nmax_recipients = 2")
    reload(server, data)
    config = data / "pochta.toml"
    config.write_text(config.read_text().replace("max_recipients = 2", "max_recipients = -1"))
    # The command checks first and sends nothing ...
    refused = run("config", "reload", data=data)
    assert refused.returncode == 2
    assert f"{config}: limits.max_recipients: Input should be greater than or equal to 1" in refused.stderr
    # ... and a bare SIGHUP is checked by the server itself, which keeps what it runs.
    start = len(server.lines)
    os.kill(server.process.pid, signal.SIGHUP)
    server.wait_for(
        r"error config reload failed, running configuration kept key=limits\.max_recipients "
        r'error="Input should be greater than or equal to 1"',
        start=start,
    )
    assert rcpt_codes(addresses["smtp"], RECIPIENTS) == [250, 250, 452]
    # A file that loads but fails a start-up check is kept out the same way, with its key.
    config.write_text(config.read_text().replace("max_recipients = -1", "max_recipients = 3"))
    edit(data, r'^certificate = ".*"$', 'certificate = "tls/missing.pem"')
    start = len(server.lines)
    os.kill(server.process.pid, signal.SIGHUP)
    server.wait_for(r"config reload failed, running configuration kept key=tls\.certificate", start=start)
    assert rcpt_codes(addresses["smtp"], RECIPIENTS) == [250, 250, 452]
    assert server.process.poll() is None


def test_a_listener_change_needs_a_restart(
    data: Path, served: tuple[ServerProcess, dict[str, tuple[str, int]]]
) -> None:
    server, addresses = served
    port = free_port()
    edit(data, r'^imap = ".*"$', f'imap = "127.0.0.1:{port}"')
    append(data, "[login]\ndelay_max = 5.0")
    start = len(server.lines)
    reload(server, data)
    server.wait_for(
        rf"warning config change needs a restart key=listeners\.imap running=127\.0\.0\.1:0 "
        rf"new=127\.0\.0\.1:{port}",
        start=start,
    )
    server.wait_for(r"info config changed key=login\.delay_max old=15\.0 new=5\.0", start=start)
    server.wait_for(r"config reloaded changed=1 needs_restart=1", start=start)
    with socket.socket() as probe:  # still listening where it started, not on the new port
        probe.connect(addresses["imap"])
    assert port_is_free(port)


def test_reload_without_a_server_and_with_a_stale_pid_file(data: Path) -> None:
    nothing = run("config", "reload", data=data)
    assert nothing.returncode == 1
    assert "no server runs on" in nothing.stderr
    with ServerProcess(data) as server:
        server.wait_listening()
        pid = server.process.pid
        assert (data / "pochta.pid").read_text() == f"{pid}\n"
        server.stop(signal.SIGKILL)  # no chance to remove its pid file
    assert (data / "pochta.pid").exists()
    stale = run("config", "reload", data=data)
    assert stale.returncode == 1
    assert f"pochta.pid is stale (pid {pid} is not a running pochta serve)" in stale.stderr
    with ServerProcess(data) as server:  # a stale file does not stop the next start
        server.wait_listening()
        assert (data / "pochta.pid").read_text() == f"{server.process.pid}\n"
        assert server.stop() == 0
