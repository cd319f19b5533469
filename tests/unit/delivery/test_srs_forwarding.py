"""SRS in delivery (pochta.delivery.forwarding): who is rewritten, the secret file, and the answer
to a recipient that is an SRS address of ours."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.delivery.forwarding import Forwarding, load_srs_key
from pochta.mail import srs

LOCAL = {"example.org", "example.com"}


async def _is_local(domain: str) -> bool:
    return domain.lower() in LOCAL


def _forwarding(tmp_path: Path, **srs_settings: object) -> Forwarding:
    return Forwarding(Settings.model_validate({"srs": srs_settings}), tmp_path, _is_local)


async def test_outside_sender_is_rewritten_for_the_forwarding_domain(tmp_path: Path) -> None:
    forwarding = _forwarding(tmp_path)
    rewritten = await forwarding.sender("carol@example.net", "example.org")
    assert rewritten.startswith("SRS0=")
    assert rewritten.endswith("=example.net=carol@example.org")
    assert forwarding.key is not None
    assert srs.reverse(forwarding.key, rewritten, time.time()) == "carol@example.net"


@pytest.mark.parametrize(
    "sender",
    ["", "alice@example.org", "alice@EXAMPLE.com", '"a b"@example.net', "no-domain"],
)
async def test_not_rewritten(tmp_path: Path, sender: str) -> None:
    """Local senders (our SPF covers them), the null sender (a bounce must not bounce), quoted local
    parts (an SRS address would need quoting) and oddities pass unchanged."""
    assert await _forwarding(tmp_path).sender(sender, "example.org") == sender


async def test_disabled(tmp_path: Path) -> None:
    forwarding = _forwarding(tmp_path, enabled=False)
    assert await forwarding.sender("carol@example.net", "example.org") == "carol@example.net"
    assert not forwarding.handles("SRS0=abcd=RA=example.net=carol")
    assert await forwarding.bounce_target("SRS0=abcd=RA=example.net=carol@example.org", "") is None
    assert not (tmp_path / "srs-secret").exists()


async def test_secret_file_made_private_once(tmp_path: Path) -> None:
    key = load_srs_key(Settings(), tmp_path)
    path = tmp_path / "srs-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key.secrets) == 1
    assert len(key.secrets[0]) == 48
    assert load_srs_key(Settings(), tmp_path) == key
    # Rotation: a new first line signs, the old one still verifies.
    path.write_text("newsecret\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    rotated = load_srs_key(Settings(), tmp_path)
    assert rotated.secrets == (b"newsecret", key.secrets[0])


async def test_secrets_setting_replaces_the_file(tmp_path: Path) -> None:
    key = load_srs_key(
        Settings.model_validate({"srs": {"secrets": ["one", "two"], "max_age_days": 5}}), tmp_path
    )
    assert key == srs.SrsKey((b"one", b"two"), 5)
    assert not (tmp_path / "srs-secret").exists()


async def test_bounce_target(tmp_path: Path) -> None:
    forwarding = _forwarding(tmp_path)
    address = await forwarding.sender("carol@example.net", "example.org")
    assert forwarding.handles(address.partition("@")[0])
    back = await forwarding.bounce_target(address, "")
    assert back is not None
    assert (back.address, back.refusal) == ("carol@example.net", None)
    # Not a bounce: refused, even with a valid hash.
    refused = await forwarding.bounce_target(address, "mallory@example.net")
    assert refused is not None
    assert refused.refusal is not None
    assert (refused.refusal.code, refused.refusal.enhanced) == (550, "5.7.1")
    # Forged: 550 5.1.1 naming the reason.
    forged = await forwarding.bounce_target("SRS0=abcd=RA=example.net=mallory@example.org", "")
    assert forged is not None
    assert forged.refusal is not None
    assert (forged.refusal.code, forged.refusal.enhanced) == (550, "5.1.1")
    assert "hash" in forged.refusal.text
    # Another domain's SRS address is none of ours: routed like any address.
    assert await forwarding.bounce_target("SRS0=abcd=RA=example.net=carol@remote.example", "") is None
