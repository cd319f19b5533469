"""`pochta dkim list|rotate|activate|retire`, the keys `init` and `domain add` make, and `pochta dns
DOMAIN` / `pochta dns check DOMAIN`, on a real data directory; `activate` and `dns check` look the
records up through a loopback DNS server the test runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from cli_env import init_data, ok, run
from dns_stub import DnsStub

SELECTOR = re.compile(r"^(\S+)\s+(\S+)\s+(ed25519|rsa)\s+(\w+)\s", re.MULTILINE)


def keys(data: Path, domain: str) -> dict[str, tuple[str, str]]:
    """selector -> (kind, state) as `pochta dkim list DOMAIN` prints them."""
    listed = ok(run("dkim", "list", domain, data=data))
    return {m[2]: (m[3], m[4]) for m in SELECTOR.finditer(listed) if m[1] == domain}


def records(data: Path, domain: str) -> dict[tuple[str, str], list[str]]:
    """The zone of `pochta dkim list DOMAIN --records`, as DnsStub takes it."""
    zone: dict[tuple[str, str], list[str]] = {}
    for line in ok(run("dkim", "list", domain, "--records", data=data)).splitlines():
        name, _, rest = line.partition(" IN TXT ( ")
        zone.setdefault((name, "TXT"), []).append(rest.removesuffix(" )"))
    return zone


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return init_data(tmp_path / "data")


def test_init_and_domain_add_make_active_keys(data: Path) -> None:
    made = keys(data, "example.org")
    assert sorted(kind for kind, _ in made.values()) == ["ed25519", "rsa"]
    assert {state for _, state in made.values()} == {"active"}
    out = ok(run("domain", "add", "other.example", data=data))
    assert "publish its DKIM keys: " in out
    assert "._domainkey.other.example" in out
    assert len(keys(data, "other.example")) == 2
    zone = records(data, "other.example")
    assert len(zone) == 2
    assert all(name.endswith("._domainkey.other.example.") for name, _ in zone)


async def test_rotation_waits_for_dns_then_retires(data: Path) -> None:
    before = keys(data, "example.org")
    out = ok(run("dkim", "rotate", "example.org", data=data))
    assert "publish these records" in out
    assert "then: pochta dkim activate example.org" in out
    rotated = keys(data, "example.org")
    pending = {s for s, (_, state) in rotated.items() if state == "pending"}
    assert len(pending) == 2
    assert all(rotated[s][1] == "active" for s in before)
    zone = records(data, "example.org")
    published = {name: value for name, value in zone.items() if name[0].split(".")[0] not in pending}
    async with DnsStub(published) as dns:
        with (data / "pochta.toml").open("a") as config:
            config.write(f'\n[queue]\ndns_nameservers = ["{dns.nameserver}"]\ndns_timeout = 2.0\n')
        refused = await asyncio.to_thread(run, "dkim", "activate", "example.org", data=data)
        assert refused.returncode == 1
        assert "not published yet" in refused.stderr
        assert keys(data, "example.org") == rotated  # nothing changed
        # A lookup that times out: said so, nothing changed.
        dns.silent.add(next(name for name, _ in zone if name.split(".")[0] in pending))
        failed = await asyncio.to_thread(run, "dkim", "activate", "example.org", data=data)
        assert failed.returncode == 1
        assert "DNS lookup failed" in failed.stderr
        dns.silent.clear()
        dns.zone.update(zone)
        done = await asyncio.to_thread(run, "dkim", "activate", "example.org", data=data)
    out = ok(done)
    assert sum("signs mail of example.org now" in line for line in out.splitlines()) == 2
    after = keys(data, "example.org")
    assert {s for s, (_, state) in after.items() if state == "active"} == pending
    assert {s for s, (_, state) in after.items() if state == "retiring"} == set(before)
    retired = sorted(before)[0]
    active = sorted(pending)[0]
    refused = run("dkim", "retire", "example.org", active, data=data)
    assert refused.returncode == 1
    assert "rotate and activate new keys first" in refused.stderr
    assert "remove" in ok(run("dkim", "retire", "example.org", retired, data=data))
    assert retired not in keys(data, "example.org")
    assert run("dkim", "retire", "example.org", retired, data=data).returncode == 1


def test_activate_without_check_and_unknown_domain(data: Path) -> None:
    assert "no pending key" in run("dkim", "activate", "example.org", "--no-check", data=data).stderr
    ok(run("dkim", "rotate", "example.org", data=data))
    ok(run("dkim", "activate", "example.org", "--no-check", data=data))
    states = sorted(state for _, state in keys(data, "example.org").values())
    assert states == ["active", "active", "retiring", "retiring"]
    missing = run("dkim", "rotate", "nowhere.example", data=data)
    assert missing.returncode == 1
    assert "no such domain" in missing.stderr


async def test_dns_prints_and_checks_the_records(data: Path) -> None:
    printed = ok(run("dns", "example.org", "--address", "192.0.2.10", data=data))
    zone: dict[tuple[str, str], list[str]] = {}
    for line in printed.splitlines():
        if line.startswith(";"):
            continue  # the note that the hostname is still "localhost"
        name, _, rest = line.split(" ; ")[0].partition(" IN ")
        rdtype, _, value = rest.partition(" ")
        zone.setdefault((name, rdtype), []).append(value)
    assert ("example.org.", "MX") in zone
    assert ("_dmarc.example.org.", "TXT") in zone
    assert sum(name.endswith("._domainkey.example.org.") for name, _ in zone) == 2
    dmarc = zone.pop(("_dmarc.example.org.", "TXT"))
    async with DnsStub(zone) as dns:
        with (data / "pochta.toml").open("a") as config:
            config.write(f'\n[queue]\ndns_nameservers = ["{dns.nameserver}"]\n')
        missing = await asyncio.to_thread(
            run, "dns", "check", "example.org", "--address", "192.0.2.10", data=data
        )
        dns.zone[("_dmarc.example.org.", "TXT")] = dmarc
        complete = await asyncio.to_thread(
            run, "dns", "check", "example.org", "--address", "192.0.2.10", data=data
        )
    assert missing.returncode == 1
    assert re.search(r"^_dmarc\.example\.org\.\s+TXT\s+missing", missing.stdout, re.MULTILINE)
    assert "1 of " in missing.stderr
    table = ok(complete)
    assert "missing" not in table
    assert "wrong" not in table
    assert len(re.findall(r"\sok\s*$", table, re.MULTILINE)) == len(zone) + 1
