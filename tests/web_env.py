"""A real ``pochta serve --workers 2`` with the HTTP listeners (and the client listeners that
autoconfiguration describes) on 127.0.0.1, for the HTTP tests (tests/e2e/test_http_*.py,
tests/interop/test_http_curl.py).

The server's certificate is a trustme certificate for "localhost" and 127.0.0.1 (``[tls]`` points
at it), so clients verify it and its host name. ``request`` sends one request with
``http.client`` and returns status, headers and body.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from serve_process import ServeProcess, init_data_dir

ALICE = "alice@example.org"
PASSWORD = "correct horse battery"
DOMAIN = "example.org"
HOSTNAME = "mail.example.org"
CLIENT_LISTENERS = ("imap", "imaps", "pop3", "pop3s", "submission", "submissions")
LISTENERS = ("http", "https", *CLIENT_LISTENERS)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class WebEnv:
    server: ServeProcess
    ca: trustme.CA
    data: Path
    ca_file: Path

    def port(self, listener: str) -> int:
        return self.server.ports[listener]

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def connection(self, *, tls: bool = False, timeout: float = 30.0) -> http.client.HTTPConnection:
        if tls:
            return http.client.HTTPSConnection(
                "localhost", self.port("https"), context=self.client_context(), timeout=timeout
            )
        return http.client.HTTPConnection("127.0.0.1", self.port("http"), timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        tls: bool = False,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        conn = self.connection(tls=tls)
        try:
            sent = dict(headers or {})
            if host is not None:
                sent["Host"] = host
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return Response(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, **kwargs: object) -> Response:
        return self.request("GET", path, **kwargs)  # type: ignore[arg-type]


def start_web_server(base: Path, config: str = "", extra_listeners: tuple[str, ...] = ()) -> Iterator[WebEnv]:
    """Start the server (generator for a fixture: yields the env, then stops it and checks its
    log holds no traceback); ``extra_listeners`` beside LISTENERS (``lmtp`` to deliver)."""
    data = base / "data"
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", HOSTNAME, f"mta-sts.{DOMAIN}")
    base.mkdir(parents=True, exist_ok=True)
    cert_file, key_file, ca_file = base / "cert.pem", base / "key.pem", base / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    init_data_dir(data, listeners=(*LISTENERS, *extra_listeners), accounts={ALICE: PASSWORD}, domain=DOMAIN)
    toml = (data / "pochta.toml").read_text(encoding="utf-8")
    toml = toml.replace('hostname = "example.org"', f'hostname = "{HOSTNAME}"')
    toml = toml.replace('certificate = "tls/cert.pem"', f'certificate = "{cert_file}"')
    toml = toml.replace('key = "tls/key.pem"', f'key = "{key_file}"')
    (data / "pochta.toml").write_text(toml + "\n" + config, encoding="utf-8")
    server = ServeProcess(data, base / "serve.log", ["--workers=2"])
    server.wait_listening((*LISTENERS, *extra_listeners))
    try:
        yield WebEnv(server, ca, data, ca_file)
    finally:
        status = server.stop()
        assert status == 0, server.tail()
        assert server.failures() == [], server.tail()
