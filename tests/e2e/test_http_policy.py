"""The MTA-STS policy host (RFC 8461 section 3.2) and the ACME http-01 responder (RFC 8555
section 8.3) on a real ``pochta serve --workers 2`` (tests/web_env.py), over both HTTP listeners."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_process import run_pochta
from web_env import DOMAIN, HOSTNAME, WebEnv, start_web_server

POLICY = f"version: STSv1\r\nmode: testing\r\nmx: {HOSTNAME}\r\nmax_age: 604800\r\n".encode()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("policy"))


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize(
    "host", [f"mta-sts.{DOMAIN}", f"MTA-STS.{DOMAIN.upper()}:8443", f"mta-sts.{DOMAIN}."]
)
def test_policy_served_for_our_domains(env: WebEnv, tls: bool, host: str) -> None:
    response = env.get("/.well-known/mta-sts.txt", host=host, tls=tls)
    assert response.status == 200
    assert response.headers["Content-Type"].split(";")[0] == "text/plain"
    assert response.body == POLICY


@pytest.mark.parametrize(
    "host", [DOMAIN, "mta-sts.other.example", f"mta-sts.sub.{DOMAIN}", "mta-sts.", "127.0.0.1"]
)
def test_policy_is_404_for_other_hosts(env: WebEnv, host: str) -> None:
    response = env.get("/.well-known/mta-sts.txt", host=host)
    assert response.status == 404
    assert b"STSv1" not in response.body


def test_policy_only_answers_get(env: WebEnv) -> None:
    response = env.request("POST", "/.well-known/mta-sts.txt", host=f"mta-sts.{DOMAIN}", body=b"")
    assert response.status == 405


def challenge_dir(env: WebEnv) -> Path:
    path = env.data / "acme" / "http-01"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_challenge_served_exactly_by_both_workers(env: WebEnv) -> None:
    token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
    key_authorization = f"{token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI".encode()
    (challenge_dir(env) / token).write_bytes(key_authorization)
    workers: set[str] = set()
    for _ in range(200):  # new connections until each worker has answered one
        response = env.get(f"/.well-known/acme-challenge/{token}", host="example.org")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.body == key_authorization
        workers = set(
            re.findall(
                r"path=/\.well-known/acme-challenge/\S+ status=200 .*worker=(\d+)", env.server.log_text()
            )
        )
        if len(workers) == 2:
            break
    assert workers == {"0", "1"}


def test_challenge_over_https_too(env: WebEnv) -> None:
    (challenge_dir(env) / "tls-token").write_bytes(b"tls-token.thumb")
    response = env.get("/.well-known/acme-challenge/tls-token", tls=True)
    assert (response.status, response.body) == (200, b"tls-token.thumb")


def test_challenge_removed_is_404(env: WebEnv) -> None:
    path = challenge_dir(env) / "gone"
    path.write_bytes(b"gone.x")
    assert env.get("/.well-known/acme-challenge/gone").status == 200
    os.unlink(path)
    assert env.get("/.well-known/acme-challenge/gone").status == 404


@pytest.mark.parametrize(
    "token",
    ["missing", "..", "%2e%2e", "..%2Fpochta.toml", "a.b", "tok%00", "%2Fetc%2Fpasswd", ""],
)
def test_challenge_bad_or_unknown_tokens_are_404(env: WebEnv, token: str) -> None:
    (env.data / "acme").mkdir(exist_ok=True)
    (env.data / "acme" / "a.b").write_bytes(b"outside the challenge directory")
    response = env.get(f"/.well-known/acme-challenge/{token}")
    assert response.status == 404
    assert b"[listeners]" not in response.body
    assert b"outside" not in response.body


def test_challenge_file_too_large_is_not_served(env: WebEnv) -> None:
    (challenge_dir(env) / "huge").write_bytes(b"x" * 100_000)
    assert env.get("/.well-known/acme-challenge/huge").status == 404


def test_dns_prints_the_id_of_the_policy_served(env: WebEnv) -> None:
    """The id `pochta dns` prints is the digest of the very body the listener serves."""
    out = run_pochta("dns", DOMAIN, "--data", str(env.data)).stdout
    found = re.search(
        r'^_mta-sts\.example\.org\. IN TXT "v=STSv1; id=([A-Za-z0-9]{1,32})"', out, re.MULTILINE
    )
    assert found is not None, out
    served = env.get("/.well-known/mta-sts.txt", host=f"mta-sts.{DOMAIN}", tls=True).body
    assert found.group(1) == hashlib.sha256(served).hexdigest()[:32]
    assert f"mta-sts.{DOMAIN}. IN CNAME {HOSTNAME}." in out
    assert f"_autodiscover._tcp.{DOMAIN}. IN SRV 0 0 " in out


def test_reload_changes_the_policy_and_its_id_together(env: WebEnv) -> None:
    """Last in the file: SIGHUP with a new [mta_sts] mode; every worker serves the new policy, and
    `pochta dns` prints the id of that one."""
    config = env.data / "pochta.toml"
    config.write_text(config.read_text() + '\n[mta_sts]\nmode = "enforce"\nmax_age = 86400\n')
    os.kill(env.server.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    fresh = 0
    while fresh < 20:  # twenty new connections in a row, whichever worker takes each
        body = env.get("/.well-known/mta-sts.txt", host=f"mta-sts.{DOMAIN}").body
        fresh = fresh + 1 if b"mode: enforce\r\n" in body else 0
        assert time.monotonic() < deadline, body
    assert body == f"version: STSv1\r\nmode: enforce\r\nmx: {HOSTNAME}\r\nmax_age: 86400\r\n".encode()
    out = run_pochta("dns", DOMAIN, "--data", str(env.data)).stdout
    assert f"id={hashlib.sha256(body).hexdigest()[:32]}" in out
