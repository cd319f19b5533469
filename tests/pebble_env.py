"""Let's Encrypt's test ACME server, pebble (Debian ``pebble``), run by a test on loopback.

    async with DnsStub({("mail.example.org.", "A"): ["127.0.0.1"]}) as dns:
        with Pebble(tmp_path, dns_port=dns.port, http_port=8080) as pebble:
            ... settings: tls.acme_directory = pebble.directory, tls.acme_ca_file = pebble.ca_file
            roots = pebble.issuing_roots()  # to verify what it issued

Pebble listens on 127.0.0.1 (its ACME API over HTTPS with a certificate of a trustme CA written to
``ca_file``), resolves names with the test's DNS server, and validates http-01 challenges by
connecting to ``http_port`` of the address DNS gives. Its own CA is made afresh at each start
(``issuing_roots`` fetches it from the management port). It never sleeps before validating
(PEBBLE_VA_NOSLEEP) and never rejects a nonce on purpose (PEBBLE_WFE_NONCEREJECT=0), so runs are
quick and deterministic. It is stopped by its PID when the block ends.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

import trustme

from dovecot_env import free_port

PEBBLE = shutil.which("pebble")
MISSING = None if PEBBLE else "pebble is not installed (apt-get install pebble)"


class Pebble:
    def __init__(self, directory: Path, *, dns_port: int, http_port: int) -> None:
        self.home = directory
        self.dns_port = dns_port
        self.http_port = http_port
        self.port = free_port()
        self.management_port = free_port()
        self.ca_file = directory / "pebble-api-ca.pem"
        self.log_file = directory / "pebble.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def __enter__(self) -> Pebble:
        if PEBBLE is None:
            raise RuntimeError(MISSING)
        self.home.mkdir(parents=True, exist_ok=True)
        authority = trustme.CA()
        served = authority.issue_cert("127.0.0.1", "localhost")
        authority.cert_pem.write_to_path(str(self.ca_file))
        served.cert_chain_pems[0].write_to_path(str(self.home / "pebble-api-cert.pem"))
        served.private_key_pem.write_to_path(str(self.home / "pebble-api-key.pem"))
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{self.management_port}",
                "certificate": str(self.home / "pebble-api-cert.pem"),
                "privateKey": str(self.home / "pebble-api-key.pem"),
                "httpPort": self.http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (self.home / "pebble-config.json").write_text(json.dumps(config))
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    PEBBLE,
                    "-config",
                    str(self.home / "pebble-config.json"),
                    "-dnsserver",
                    f"127.0.0.1:{self.dns_port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait_ready()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"pebble exited: {self.log_file.read_text()}")
            try:
                with urllib.request.urlopen(self.directory, context=self._context(), timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pebble did not start: {self.log_file.read_text()}") from None
                time.sleep(0.1)

    def issuing_roots(self) -> bytes:
        """PEM of the root that signed what this pebble issued (made afresh at its start)."""
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=self._context(), timeout=5) as answer:
            pem: bytes = answer.read()
            return pem
