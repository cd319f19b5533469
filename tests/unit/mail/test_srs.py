"""The SRS codec (pochta.mail.srs): round trips, the second hop, expiry, tampering, case folding.

The vectors at the top were computed independently (HMAC-SHA1 over the lower-cased parts, base64,
4 characters; the day in two base32 characters), as libsrs2 and Mail::SRS compute them; the interop
test tests/interop/test_srs_mail_srs.py checks against Shevek's own Mail::SRS."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.mail.srs import SrsError, SrsKey, forward, is_srs, parse_secrets, reverse, today

KEY = SrsKey((b"tops3cret",), max_age_days=21)
DAY = 86400
NOW = 20_000 * DAY + 3600  # day 20000: 20000 % 1024 = 544 = 17*32 + 0 -> "RA"


def _mac(secret: bytes, *parts: str) -> str:
    digest = hmac.new(secret, "".join(parts).lower().encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()[:4]


def test_srs0_is_the_libsrs2_form() -> None:
    address = forward(KEY, "Alice@Example.NET", "fwd.example.org", NOW)
    stamp = "RA"
    assert today(NOW) == 544
    mac = _mac(b"tops3cret", stamp, "Example.NET", "Alice")
    assert address == f"SRS0={mac}={stamp}=Example.NET=Alice@fwd.example.org"


def test_round_trip() -> None:
    address = forward(KEY, "alice@example.net", "fwd.example.org", NOW)
    assert is_srs(address.partition("@")[0])
    assert reverse(KEY, address, NOW) == "alice@example.net"
    assert reverse(KEY, address, NOW + 21 * DAY) == "alice@example.net"  # still inside max_age_days


@pytest.mark.parametrize("local", ["a=b", "a+tag", "first.last", "x=y=z", "=lead", "a-b"])
def test_local_parts_with_separators(local: str) -> None:
    address = forward(KEY, f"{local}@example.net", "fwd.example.org", NOW)
    assert reverse(KEY, address, NOW) == f"{local}@example.net"


def test_srs1_of_another_forwarders_srs0() -> None:
    other = SrsKey((b"their secret",))
    hop1 = forward(other, "alice@example.net", "hop1.example", NOW)  # SRS0=...@hop1.example
    hop2 = forward(KEY, hop1, "fwd.example.org", NOW)
    srs0_part = hop1.partition("@")[0][4:]  # "=HHHH=TT=example.net=alice"
    assert (
        hop2
        == f"SRS1={_mac(b'tops3cret', 'hop1.example', srs0_part)}=hop1.example={srs0_part}@fwd.example.org"
    )
    # A bounce to us goes back to hop1 as its own SRS0 address, which hop1 can decode.
    back = reverse(KEY, hop2, NOW)
    assert back == hop1
    assert reverse(other, back, NOW) == "alice@example.net"


def test_srs1_forwarded_again_keeps_the_first_hop() -> None:
    other = SrsKey((b"their secret",))
    hop1 = forward(other, "alice@example.net", "hop1.example", NOW)
    hop2 = forward(SrsKey((b"hop2",)), hop1, "hop2.example", NOW)
    hop3 = forward(KEY, hop2, "fwd.example.org", NOW)
    assert hop3.startswith("SRS1=")
    assert "=hop1.example==" in hop3
    assert hop3.endswith("@fwd.example.org")
    assert reverse(KEY, hop3, NOW) == hop1  # straight back to the first forwarder


def test_expired_and_future() -> None:
    address = forward(KEY, "alice@example.net", "fwd.example.org", NOW)
    with pytest.raises(SrsError, match="expired"):
        reverse(KEY, address, NOW + 22 * DAY)
    # The day counter wraps at 1024 days: an address from "tomorrow" is 1023 days old.
    with pytest.raises(SrsError, match="expired"):
        reverse(KEY, address, NOW - DAY)


def test_wraps_around_day_1024() -> None:
    before = 1023 * DAY + 10  # day 1023 ("77")
    address = forward(KEY, "alice@example.net", "fwd.example.org", before)
    assert "=77=" in address
    assert reverse(KEY, address, before + 3 * DAY) == "alice@example.net"  # day 2 of the next cycle


@pytest.mark.parametrize(
    "tamper",
    [
        lambda a: a.replace("=alice@", "=mallory@"),
        lambda a: a.replace("=example.net=", "=evil.example="),
        lambda a: a.replace("=RA=", "=RB="),
        lambda a: "SRS0=AAAA" + a[9:],
    ],
)
def test_tampered(tamper) -> None:  # type: ignore[no-untyped-def]
    address = forward(KEY, "alice@example.net", "fwd.example.org", NOW)
    with pytest.raises(SrsError, match="hash"):
        reverse(KEY, tamper(address), NOW)


def test_another_secret_does_not_verify() -> None:
    address = forward(SrsKey((b"other",)), "alice@example.net", "fwd.example.org", NOW)
    with pytest.raises(SrsError, match="hash"):
        reverse(KEY, address, NOW)


def test_case_folding() -> None:
    """An MTA that lower- or upper-cases the address keeps it valid (postsrsd compares the hash
    without case; the parts are hashed lower-cased)."""
    address = forward(KEY, "Alice@Example.NET", "fwd.example.org", NOW)
    assert reverse(KEY, address.lower(), NOW) == "alice@example.net"
    assert reverse(KEY, address.upper(), NOW) == "ALICE@EXAMPLE.NET"


def test_rotation_first_signs_all_verify() -> None:
    old = forward(SrsKey((b"old",)), "alice@example.net", "fwd.example.org", NOW)
    rotated = SrsKey((b"new", b"old"))
    new = forward(rotated, "alice@example.net", "fwd.example.org", NOW)
    assert new == forward(SrsKey((b"new",)), "alice@example.net", "fwd.example.org", NOW)
    assert reverse(rotated, old, NOW) == reverse(rotated, new, NOW) == "alice@example.net"


@pytest.mark.parametrize(
    "address",
    [
        "alice@fwd.example.org",
        "SRS0=@fwd.example.org",
        "SRS0=abcd=RA=example.net@fwd.example.org",  # no local part
        "SRS0=abcd=R=example.net=alice@fwd.example.org",  # 1-character stamp
        "SRS0=abcd=R1=example.net=alice@fwd.example.org",  # not base32
        "SRS1=abcd=hop1@fwd.example.org",
        "SRS1=abcd@fwd.example.org",
        "SRS0=abcd=RA=example.net=alice",  # no domain
        "",
    ],
)
def test_malformed(address: str) -> None:
    with pytest.raises(SrsError):
        reverse(KEY, address, NOW)


def test_separators_libsrs2_accepts() -> None:
    address = forward(KEY, "alice@example.net", "fwd.example.org", NOW)
    assert reverse(KEY, "SRS0+" + address[5:], NOW) == "alice@example.net"
    assert is_srs("srs0-x")
    assert is_srs("SRS1=x")
    assert not is_srs("SRS2=x")
    assert not is_srs("SRS0")


def test_secrets_parse_and_key_needs_one() -> None:
    assert parse_secrets(["# rotated 2026-12", "", " new ", "old"]) == (b"new", b"old")
    with pytest.raises(ValueError, match="secret"):
        SrsKey(())
    with pytest.raises(ValueError, match="secret"):
        SrsKey((b"",))


@given(
    local=st.text(alphabet="abcXYZ019.=+-_!#", min_size=1, max_size=30),
    domain=st.from_regex(r"[a-z0-9]{1,10}(\.[a-z]{2,5}){1,2}", fullmatch=True),
    day=st.integers(min_value=0, max_value=100_000),
)
def test_round_trip_property(local: str, domain: str, day: int) -> None:
    now = day * DAY + 5
    address = forward(KEY, f"{local}@{domain}", "fwd.example.org", now)
    if is_srs(local):  # an SRS0/SRS1-looking local part is treated as another forwarder's
        return
    assert reverse(KEY, address, now) == f"{local}@{domain}"
