"""SMTP interop with Debian's clients: swaks (pipelining, STARTTLS, AUTH), msmtp and curl (smtp://,
smtps://), against a real pochta server on 127.0.0.1. Each test skips with a reason when its
binary is missing (CI installs them and sets POCHTA_REQUIRE_INTEROP=1, which turns such a skip
into a failure)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client_process import run
from smtp_env import ALICE, BOB, PASSWORD, SmtpEnv, message, smtp_server, strip_received

pytestmark = pytest.mark.interop


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install {binary})")
    return path


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as running:
        yield running


# -- swaks -------------------------------------------------------------------------------------------


async def test_swaks_mx_pipelined(env: SmtpEnv, tmp_path: Path) -> None:
    swaks = need("swaks")
    data = message("swaks pipelined")
    path = tmp_path / "msg.eml"
    path.write_bytes(data)
    code, out = await run(
        swaks, "--server", "127.0.0.1", "--port", str(env.port("smtp")), "--pipeline",
        "--from", "carol@example.net", "--to", f"{ALICE},{BOB}", "--data", f"@{path}",
    )  # fmt: skip
    assert code == 0, out
    stored = await env.messages()
    assert len(stored) == 1
    assert strip_received(stored[0]).rstrip(b"\r\n") == data.rstrip(b"\r\n")
    assert len(await env.messages(env.bob)) == 1


async def test_swaks_mx_relay_denied(env: SmtpEnv) -> None:
    swaks = need("swaks")
    code, out = await run(
        swaks, "--server", "127.0.0.1", "--port", str(env.port("smtp")),
        "--from", "carol@example.net", "--to", "victim@remote.example",
    )  # fmt: skip
    assert code != 0
    assert "554 5.7.1" in out


async def test_swaks_submission_starttls_auth(env: SmtpEnv) -> None:
    swaks = need("swaks")
    code, out = await run(
        swaks, "--server", "127.0.0.1", "--port", str(env.port("submission")), "--tls",
        "--tls-verify", "--tls-ca-path", str(env.ca_file()), "--tls-sni", "localhost",
        "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", PASSWORD,
        "--from", ALICE, "--to", BOB, "--header", f"From: {ALICE}", "--pipeline",
    )  # fmt: skip
    assert code == 0, out
    assert "235 2.7.0" in out
    stored = await env.messages(env.bob)
    assert len(stored) == 1
    assert b"with ESMTPSA" in stored[0]


async def test_swaks_sees_requiretls_only_after_starttls(env: SmtpEnv) -> None:
    # RFC 8689 section 2: REQUIRETLS is offered inside TLS only (swaks shows both EHLO replies).
    swaks = need("swaks")
    code, out = await run(
        swaks, "--server", "127.0.0.1", "--port", str(env.port("smtp")), "--tls",
        "--tls-verify", "--tls-ca-path", str(env.ca_file()), "--tls-sni", "localhost",
        "--quit-after", "HELO", "--from", "carol@example.net", "--to", ALICE,
    )  # fmt: skip
    assert code == 0, out
    before, starttls, after = out.partition(" -> STARTTLS\n")  # the command, not the capability
    assert starttls, out
    assert "REQUIRETLS" not in before
    assert "250-REQUIRETLS" in after or "250 REQUIRETLS" in after, out


async def test_swaks_submission_auth_login_implicit_tls(env: SmtpEnv) -> None:
    swaks = need("swaks")
    code, out = await run(
        swaks, "--server", "127.0.0.1", "--port", str(env.port("submissions")), "--tls-on-connect",
        "--auth", "LOGIN", "--auth-user", ALICE, "--auth-password", PASSWORD,
        "--from", ALICE, "--to", BOB, "--header", f"From: {ALICE}",
    )  # fmt: skip
    assert code == 0, out
    assert len(await env.messages(env.bob)) == 1


async def test_swaks_lmtp(env: SmtpEnv) -> None:
    swaks = need("swaks")
    code, out = await run(
        swaks, "--server", "127.0.0.1", "--port", str(env.port("lmtp")), "--protocol", "LMTP",
        "--from", "carol@example.net", "--to", f"{ALICE},nobody@example.org,{BOB}",
    )  # fmt: skip
    # swaks reports the 550 for nobody; the other two get their own 250 after DATA
    assert "550 5.1.1" in out
    assert out.count("250 2.0.0 Delivered") == 2, out
    assert len(await env.messages()) == 1
    assert len(await env.messages(env.bob)) == 1
    del code


# -- msmtp -------------------------------------------------------------------------------------------


async def test_msmtp_submission_starttls(env: SmtpEnv, tmp_path: Path) -> None:
    msmtp = need("msmtp")
    config = tmp_path / "msmtprc"
    config.write_text(
        "defaults\n"
        "tls on\n"
        "tls_starttls on\n"
        f"tls_trust_file {env.ca_file()}\n"
        "tls_host_override localhost\n"
        "account pochta\n"
        "host 127.0.0.1\n"
        f"port {env.port('submission')}\n"
        "auth on\n"
        f"user {ALICE}\n"
        f"password {PASSWORD}\n"
        f"from {ALICE}\n"
        "account default : pochta\n"
    )
    config.chmod(0o600)
    data = message("msmtp", sender=ALICE, to=BOB)
    code, out = await run(msmtp, "-C", str(config), BOB, stdin=data)
    assert code == 0, out
    stored = await env.messages(env.bob)
    assert len(stored) == 1
    assert strip_received(stored[0]) == data


async def test_msmtp_submissions_implicit_tls(env: SmtpEnv, tmp_path: Path) -> None:
    msmtp = need("msmtp")
    data = message("msmtp tls", sender=ALICE, to=BOB)
    code, out = await run(
        msmtp, "--host=127.0.0.1", f"--port={env.port('submissions')}", "--tls=on", "--tls-starttls=off",
        f"--tls-trust-file={env.ca_file()}", "--tls-host-override=localhost", "--auth=on",
        f"--user={ALICE}", "--passwordeval=echo " + PASSWORD, f"--from={ALICE}", BOB,
        stdin=data,
    )  # fmt: skip
    assert code == 0, out
    assert len(await env.messages(env.bob)) == 1


# -- curl --------------------------------------------------------------------------------------------


async def test_curl_smtp_mx(env: SmtpEnv, tmp_path: Path) -> None:
    curl = need("curl")
    data = message("curl mx")
    path = tmp_path / "mail.eml"
    path.write_bytes(data)
    code, out = await run(
        curl, "-sS", f"smtp://127.0.0.1:{env.port('smtp')}/client.example",
        "--mail-from", "carol@example.net", "--mail-rcpt", ALICE, "--upload-file", str(path),
    )  # fmt: skip
    assert code == 0, out
    assert strip_received((await env.messages())[0]) == data


async def test_curl_smtps_submission(env: SmtpEnv, tmp_path: Path) -> None:
    curl = need("curl")
    data = message("curl smtps", sender=ALICE, to=BOB)
    path = tmp_path / "mail.eml"
    path.write_bytes(data)
    code, out = await run(
        curl, "-sS", f"smtps://localhost:{env.port('submissions')}/laptop.example",
        "--resolve", f"localhost:{env.port('submissions')}:127.0.0.1", "--cacert", str(env.ca_file()),
        "--user", f"{ALICE}:{PASSWORD}", "--mail-from", ALICE, "--mail-rcpt", BOB,
        "--upload-file", str(path),
    )  # fmt: skip
    assert code == 0, out
    assert strip_received((await env.messages(env.bob))[0]) == data


async def test_curl_smtp_starttls_required(env: SmtpEnv, tmp_path: Path) -> None:
    curl = need("curl")
    data = message("curl starttls", sender=ALICE, to=BOB)
    path = tmp_path / "mail.eml"
    path.write_bytes(data)
    code, out = await run(
        curl, "-sS", "--ssl-reqd", f"smtp://localhost:{env.port('submission')}/laptop.example",
        "--resolve", f"localhost:{env.port('submission')}:127.0.0.1", "--cacert", str(env.ca_file()),
        "--user", f"{ALICE}:{PASSWORD}", "--mail-from", ALICE, "--mail-rcpt", BOB,
        "--upload-file", str(path),
    )  # fmt: skip
    assert code == 0, out
    assert len(await env.messages(env.bob)) == 1
