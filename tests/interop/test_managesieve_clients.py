"""ManageSieve interop: Debian's sieve-connect and PyPI's sievelib upload, list, activate, download,
check and delete scripts against a real ``pochta serve`` (two workers) over STARTTLS with a
certificate they verify. sieve-connect skips with a reason when it is missing (CI installs it and
sets POCHTA_REQUIRE_INTEROP=1, which turns the skip into a failure)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from client_process import run
from pochta.config import load_settings
from serve_process import ServeProcess, init_data_dir

pytestmark = pytest.mark.interop

USER = "alice@example.org"
PASSWORD = "sieve-pass-1"
SCRIPT = (
    'require ["fileinto", "copy"];\nif address :is "from" "boss@example.com" { fileinto :copy "Boss"; }\n'
)


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(tmp_path: Path, ca: trustme.CA) -> Iterator[ServeProcess]:
    data = tmp_path / "data"
    init_data_dir(data, listeners=["managesieve"], accounts={USER: PASSWORD})
    # A certificate for localhost from the test CA replaces the self-signed one (init never
    # overwrites a certificate, and neither does serve).
    settings = load_settings(data / "pochta.toml")
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(data / settings.tls.certificate))
    cert.private_key_pem.write_to_path(str(data / settings.tls.key))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    process = ServeProcess(data, tmp_path / "serve.log", ["--workers", "2"])
    try:
        process.wait_listening(["managesieve"])
        yield process
        assert process.stop() == 0
        assert process.failures() == []
    finally:
        process.kill()


async def test_sieve_connect(server: ServeProcess, tmp_path: Path) -> None:
    binary = shutil.which("sieve-connect")
    if binary is None:
        pytest.skip("sieve-connect is not installed (apt-get install sieve-connect)")
    local = tmp_path / "boss.sieve"
    local.write_text(SCRIPT)
    base = [
        binary,
        "--server",
        "localhost",
        "--port",
        str(server.ports["managesieve"]),
        "--user",
        USER,
        "--passwordfd",
        "0",
        "--tlscafile",
        str(tmp_path / "ca.pem"),
        "--authmech",
        "PLAIN",
    ]

    async def sieve(*args: str) -> str:
        code, output = await run(*base, *args, stdin=PASSWORD.encode() + b"\n")
        assert code == 0, (args, output)
        return output

    await sieve("--upload", "--localsieve", str(local), "--remotesieve", "boss")
    await sieve("--checkscript", "--localsieve", str(local))
    await sieve("--activate", "--remotesieve", "boss")
    listed = await sieve("--list")
    assert '"boss" ACTIVE' in listed, listed
    copy = tmp_path / "copy.sieve"
    await sieve("--download", "--remotesieve", "boss", "--localsieve", str(copy))
    assert copy.read_text() == SCRIPT
    await sieve("--deactivate")
    await sieve("--delete", "--remotesieve", "boss")
    assert "boss" not in await sieve("--list")
    # A script that does not compile is refused, with the reason.
    bad = tmp_path / "bad.sieve"
    bad.write_text('fileinto "x";\n')
    code, output = await run(
        *base, "--upload", "--localsieve", str(bad), "--remotesieve", "bad", stdin=PASSWORD.encode() + b"\n"
    )
    assert code != 0
    assert "fileinto" in output, output


async def test_sievelib(server: ServeProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sievelib.managesieve import Client

    # sievelib verifies the certificate against the default trust store: the test CA's file.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))

    def session() -> None:
        client = Client("localhost", server.ports["managesieve"])
        assert client.connect(USER, PASSWORD, starttls=True, authmech="PLAIN")
        assert client.get_implementation().startswith("pochta ")
        assert "fileinto" in client.get_sieve_capabilities()
        assert client.havespace("boss", len(SCRIPT))
        assert client.checkscript(SCRIPT)
        assert not client.checkscript('fileinto "x";')
        assert client.errmsg
        assert client.putscript("boss", SCRIPT)
        assert client.putscript("other", "keep;\n")
        assert client.setactive("boss")
        active, others = client.listscripts()
        assert (active, others) == ("boss", ["other"])
        # sievelib joins the lines it read with LF: the final line end is not its to keep.
        assert client.getscript("boss") == SCRIPT.rstrip("\n")
        assert client.renamescript("other", "spare")
        assert not client.deletescript("boss")  # the active one: NO (ACTIVE)
        assert client.setactive("")
        assert client.deletescript("boss")
        assert client.deletescript("spare")
        assert client.listscripts() == (None, [])
        client.logout()

    await asyncio.to_thread(session)
