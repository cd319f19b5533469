"""argon2id hashes, dummy verification, generated passwords, SCRAM credentials."""

from __future__ import annotations

import string

from argon2 import PasswordHasher

from pochta.auth import passwords
from pochta.proto.sasl import ClientMechanism, NeedScramCredentials, ServerMechanism, Success, scram_keys


def test_hash_and_verify() -> None:
    encoded = passwords.hash_password("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(encoded, "correct horse") == passwords.Verification(True, False)
    assert passwords.verify_password(encoded, "correct horse ") == passwords.Verification(False, False)
    assert passwords.hash_password("correct horse") != encoded  # salted


def test_malformed_hash_is_a_mismatch() -> None:
    for encoded in ("", "plain", "$argon2id$v=19$m=19456,t=2,p=1$broken", "$2b$12$bcrypt.hash.here"):
        assert not passwords.verify_password(encoded, "x").ok


def test_old_parameters_ask_for_a_rehash() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw")
    assert passwords.verify_password(old, "pw") == passwords.Verification(True, True)
    assert passwords.verify_password(old, "nope") == passwords.Verification(False, False)


def test_passwords_are_saslprepped() -> None:
    encoded = passwords.hash_password("I\u00adX")  # soft hyphen maps to nothing (RFC 4013 §2.1)
    assert passwords.verify_password(encoded, "IX").ok
    assert passwords.verify_password(encoded, "\u2168").ok  # ROMAN NUMERAL NINE is NFKC "IX"
    odd = passwords.hash_password("bell\x07")  # SASLprep rejects it: used as given
    assert passwords.verify_password(odd, "bell\x07").ok


def test_dummy_hash_costs_the_same() -> None:
    assert passwords.DUMMY_HASH.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    passwords.verify_dummy("anything")  # does not raise


def test_generated_passwords() -> None:
    seen = {passwords.generate_password() for _ in range(50)}
    assert len(seen) == 50
    for password in seen:
        assert len(password) >= 20
        groups = password.split("-")
        assert len(groups) == 5
        assert all(c in string.ascii_lowercase + string.digits for c in "".join(groups))
        assert not set(password) & set("01ilo")


def test_scram_credentials() -> None:
    creds = passwords.make_scram_credentials("pencil")
    assert creds.iterations == 4096
    assert len(creds.salt) == 16
    assert (creds.stored_key, creds.server_key) == scram_keys("pencil", creds.salt, 4096)
    assert passwords.make_scram_credentials("pencil").salt != creds.salt
    assert passwords.make_scram_credentials("pencil", iterations=5000).iterations == 5000


def test_scram_credentials_log_in_through_the_mechanism() -> None:
    creds = passwords.make_scram_credentials("p\u00e4ssword")
    client = ClientMechanism.start("SCRAM-SHA-256", "tim@example.com", "p\u00e4ssword")
    mech, out = ServerMechanism.start("SCRAM-SHA-256", client.initial_response())
    assert isinstance(out, NeedScramCredentials)
    challenge = mech.supply_credentials(creds)
    out = mech.step(client.respond(challenge.data))  # type: ignore[union-attr]
    assert isinstance(out, Success)
    client.finish(out.server_final)


def test_scram_credentials_reject_bad_iterations() -> None:
    try:
        passwords.make_scram_credentials("x", iterations=0)
    except ValueError:
        return
    raise AssertionError("iterations=0 accepted")
