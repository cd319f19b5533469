"""SASL mechanisms: RFC 7677 / RFC 5802 exchanges, PLAIN and LOGIN, encoding, SASLprep, fuzzing."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.proto.sasl import (
    CANCEL,
    PLAINTEXT_MECHANISMS,
    SERVER_MECHANISMS,
    Cancel,
    Challenge,
    ClientMechanism,
    Failure,
    Malformed,
    NeedScramCredentials,
    SaslError,
    SaslprepError,
    SaslStateError,
    ServerMechanism,
    Step,
    Success,
    UnsupportedMechanism,
    VerifyPassword,
    decode_sasl_line,
    encode_sasl,
    prepare_password,
    saslprep,
    scram_keys,
)


@dataclass(frozen=True)
class Creds:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def creds_for(password: str, salt: bytes = b"0123456789abcdef", iterations: int = 4096) -> Creds:
    stored_key, server_key = scram_keys(password, salt, iterations)
    return Creds(salt, iterations, stored_key, server_key)


# RFC 7677 §3
RFC7677_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC7677_CREDS = creds_for("pencil", RFC7677_SALT, 4096)
RFC7677_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC7677_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC7677_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC7677_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC7677_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC7677_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def scram_server(initial: bytes | None = None, **kwargs: object) -> tuple[ServerMechanism, Step]:
    return ServerMechanism.start("SCRAM-SHA-256", initial, **kwargs)  # type: ignore[arg-type]


def scram_to_final(
    client_first: bytes, creds: Creds | None = RFC7677_CREDS, **kwargs: object
) -> ServerMechanism:
    mech, out = scram_server(client_first, server_nonce=RFC7677_SERVER_NONCE, **kwargs)
    assert isinstance(out, NeedScramCredentials)
    assert isinstance(mech.supply_credentials(creds), Challenge)
    return mech


# --- protocol encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "initial", "expected"),
    [
        (b"*", False, CANCEL),
        (b"=", True, b""),
        (b"", False, b""),
        (b"dXNlcg==", False, b"user"),
        (b"dXNlcg==", True, b"user"),
        (b"=", False, Malformed("invalid base64")),
        (b"*", True, Malformed("invalid base64")),
        (b"dXNlcg", False, Malformed("invalid base64")),  # missing padding
        (b"dXN lcg==", False, Malformed("invalid base64")),
        (b"dXNl\xffcg==", False, Malformed("invalid base64")),
        (b"dX==Nlcg", False, Malformed("invalid base64")),
    ],
)
def test_decode_sasl_line(line: bytes, initial: bool, expected: object) -> None:
    assert decode_sasl_line(line, initial=initial) == expected


def test_encode_sasl() -> None:
    assert encode_sasl(b"Username:") == b"VXNlcm5hbWU6"
    assert encode_sasl(b"") == b""


# --- SASLprep (RFC 4013 §3 examples) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_text", "prepared"),
    [
        ("I\u00adX", "IX"),
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),
        ("\u2168", "IX"),
        ("a\u00a0b", "a b"),
    ],
)
def test_saslprep_rfc4013_examples(given_text: str, prepared: str) -> None:
    assert saslprep(given_text) == prepared


@pytest.mark.parametrize("bad", ["\u0007", "\u0627\u0031", "a\ue000", "x\ufffe"])
def test_saslprep_rejects(bad: str) -> None:
    with pytest.raises(SaslprepError):
        saslprep(bad)


def test_saslprep_unassigned_only_in_queries() -> None:
    assert saslprep("\u0221") == "\u0221"  # unassigned in Unicode 3.2
    with pytest.raises(SaslprepError):
        saslprep("\u0221", allow_unassigned=False)


def test_prepare_password_falls_back_to_the_raw_password() -> None:
    assert prepare_password("I\u00adX") == "IX"
    assert prepare_password("bell\u0007") == "bell\u0007"


# --- mechanism selection -----------------------------------------------------------------------------


def test_unsupported_mechanisms() -> None:
    with pytest.raises(UnsupportedMechanism):
        ServerMechanism.start("CRAM-MD5", None)
    with pytest.raises(UnsupportedMechanism):
        ServerMechanism.start("SCRAM-SHA-256-PLUS", None)
    with pytest.raises(UnsupportedMechanism):
        ClientMechanism.start("GSSAPI", "u", "p")


def test_mechanism_lists() -> None:
    assert set(SERVER_MECHANISMS) == {"PLAIN", "LOGIN", "SCRAM-SHA-256"}
    assert sorted(PLAINTEXT_MECHANISMS) == ["LOGIN", "PLAIN"]


def test_names_are_case_insensitive() -> None:
    mech, out = ServerMechanism.start("plain", None)
    assert mech.name == "PLAIN"
    assert out == Challenge(b"")


# --- PLAIN (RFC 4616) --------------------------------------------------------------------------------


def test_plain_with_initial_response() -> None:
    mech, out = ServerMechanism.start("PLAIN", b"\x00tim\x00tanstaaftanstaaf")  # RFC 4616 §4
    assert out == VerifyPassword("tim", "tim", "tanstaaftanstaaf")
    assert mech.done
    with pytest.raises(SaslStateError):
        mech.step(b"again")


def test_plain_without_initial_response() -> None:
    mech, out = ServerMechanism.start("PLAIN", None)
    assert out == Challenge(b"")
    assert not mech.done
    assert mech.step(b"Ursel\x00Kurt\x00xipj3plmq") == Failure(  # RFC 4616 §4: authzid differs
        "authorization identity differs from authentication identity"
    )


@pytest.mark.parametrize("authzid", [b"", b"user@example.com", b"User@Example.COM"])
def test_plain_authzid_empty_or_same(authzid: bytes) -> None:
    _, out = ServerMechanism.start("PLAIN", authzid + b"\x00user@example.com\x00secret")
    assert out == VerifyPassword("user@example.com", "user@example.com", "secret")


def test_plain_prepares_the_authcid_but_not_the_password() -> None:
    _, out = ServerMechanism.start("PLAIN", "\x00us\u00ader\x00pass\u00adword".encode())
    assert out == VerifyPassword("user", "user", "pass\u00adword")


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"userpassword",
        b"user\x00password",
        b"\x00\x00\x00",
        b"a\x00b\x00c\x00d",
        b"\x00\x00password",
        b"\x00user\x00",
        b"\x00us\xffer\x00password",
        b"\x00user\x00pass\xc3",
        b"\x00bell\x07\x00password",
        b"\x00\xc2\xad\x00password",  # SASLprep maps the authcid to nothing
        b"other\x00user\x00password",
        b"\x07\x00user\x00password",
    ],
)
def test_plain_malformed(message: bytes) -> None:
    mech, out = ServerMechanism.start("PLAIN", message)
    assert isinstance(out, Failure)
    assert out.server_message is None
    assert mech.done


# --- LOGIN -------------------------------------------------------------------------------------------


def test_login_exchange() -> None:
    mech, out = ServerMechanism.start("LOGIN", None)
    assert out == Challenge(b"Username:")
    assert mech.step(b"tim") == Challenge(b"Password:")
    assert mech.step(b"secret") == VerifyPassword("tim", "tim", "secret")
    assert mech.done


def test_login_initial_response_is_the_user_name() -> None:
    mech, out = ServerMechanism.start("LOGIN", b"tim")
    assert out == Challenge(b"Password:")
    assert mech.step(b"secret") == VerifyPassword("tim", "tim", "secret")


@pytest.mark.parametrize(
    ("user", "password"), [(b"", b"pw"), (b"u\xff", b"pw"), (b"tim", b""), (b"tim", b"\xfe")]
)
def test_login_malformed(user: bytes, password: bytes) -> None:
    mech, out = ServerMechanism.start("LOGIN", None)
    out = mech.step(user)
    if isinstance(out, Challenge):
        out = mech.step(password)
    assert isinstance(out, Failure)
    assert mech.done


# --- SCRAM-SHA-256 (RFC 7677, RFC 5802) --------------------------------------------------------------


def test_rfc7677_exchange_server_side() -> None:
    mech, out = scram_server(RFC7677_CLIENT_FIRST, server_nonce=RFC7677_SERVER_NONCE)
    assert out == NeedScramCredentials("user", "user")
    with pytest.raises(SaslStateError):
        mech.step(RFC7677_CLIENT_FINAL)  # credentials first
    assert mech.supply_credentials(RFC7677_CREDS) == Challenge(RFC7677_SERVER_FIRST)
    with pytest.raises(SaslStateError):
        mech.supply_credentials(RFC7677_CREDS)
    assert mech.step(RFC7677_CLIENT_FINAL) == Success("user", "user", RFC7677_SERVER_FINAL)
    assert mech.done


def test_rfc7677_exchange_without_initial_response() -> None:
    mech, out = scram_server(None, server_nonce=RFC7677_SERVER_NONCE)
    assert out == Challenge(b"")
    assert isinstance(mech.step(RFC7677_CLIENT_FIRST), NeedScramCredentials)
    assert mech.supply_credentials(RFC7677_CREDS) == Challenge(RFC7677_SERVER_FIRST)
    assert mech.step(RFC7677_CLIENT_FINAL) == Success("user", "user", RFC7677_SERVER_FINAL)


def test_rfc7677_exchange_client_side() -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677_CLIENT_NONCE)
    assert client.initial_response() == RFC7677_CLIENT_FIRST
    assert client.respond(RFC7677_SERVER_FIRST) == RFC7677_CLIENT_FINAL
    client.finish(RFC7677_SERVER_FINAL)


def test_rfc5802_sha1_example_client_side() -> None:
    client = ClientMechanism.start("SCRAM-SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
    assert client.initial_response() == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = client.respond(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    assert final == b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    assert client.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") == b""
    client.finish()


def test_wrong_password_fails_at_the_proof() -> None:
    mech = scram_to_final(RFC7677_CLIENT_FIRST, creds_for("not pencil", RFC7677_SALT))
    assert mech.step(RFC7677_CLIENT_FINAL) == Failure("invalid SCRAM proof", b"e=invalid-proof")


def unknown_user_exchange(user: str, secret: bytes = b"k" * 32) -> tuple[bytes, Step]:
    client = ClientMechanism.start("SCRAM-SHA-256", user, "pencil")
    mech, out = scram_server(client.initial_response(), scram_secret=secret)
    assert isinstance(out, NeedScramCredentials)
    server_first = mech.supply_credentials(None)
    assert isinstance(server_first, Challenge)
    return server_first.data, mech.step(client.respond(server_first.data))


def _salt_and_iterations(server_first: bytes) -> tuple[bytes, bytes]:
    attrs = dict(part.split(b"=", 1) for part in server_first.split(b","))
    return attrs[b"s"], attrs[b"i"]


def test_unknown_user_is_indistinguishable() -> None:
    first, outcome = unknown_user_exchange("nobody@example.com")
    salt, iterations = _salt_and_iterations(first)
    assert len(base64.b64decode(salt)) == 16
    assert iterations == b"4096"
    # the same failure as a wrong password
    assert outcome == Failure("invalid SCRAM proof", b"e=invalid-proof")
    # the fake salt is stable for a name (in any case), differs between names and between secrets
    assert _salt_and_iterations(unknown_user_exchange("nobody@example.com")[0]) == (salt, iterations)
    assert _salt_and_iterations(unknown_user_exchange("NoBody@Example.com")[0]) == (salt, iterations)
    assert _salt_and_iterations(unknown_user_exchange("other@example.com")[0])[0] != salt
    assert _salt_and_iterations(unknown_user_exchange("nobody@example.com", b"x" * 32)[0])[0] != salt


def test_fake_iterations_follow_the_configured_count() -> None:
    mech, _ = scram_server(RFC7677_CLIENT_FIRST, fake_iterations=8192)
    server_first = mech.supply_credentials(None)
    assert isinstance(server_first, Challenge)
    assert server_first.data.endswith(b",i=8192")


def test_iteration_count_comes_from_the_stored_credentials() -> None:
    mech, _ = scram_server(RFC7677_CLIENT_FIRST)
    server_first = mech.supply_credentials(creds_for("pencil", iterations=10_000))
    assert isinstance(server_first, Challenge)
    assert server_first.data.endswith(b",i=10000")


@pytest.mark.parametrize(
    ("client_first", "error"),
    [
        (b"p=tls-unique,,n=user,r=abc", b"e=channel-binding-not-supported"),  # RFC 5802 §6
        (b"x,,n=user,r=abc", b"e=invalid-encoding"),  # RFC 5802 §5: must start with n, y or p
        (b"n,,m=ext,n=user,r=abc", b"e=extensions-not-supported"),  # RFC 5802 §5.1 m
        (b"n,,r=abc,n=user", b"e=invalid-encoding"),  # fixed attribute order
        (b"n,,n=user", b"e=invalid-encoding"),
        (b"n,,n=,r=abc", b"e=invalid-encoding"),
        (b"n,,n=us=41er,r=abc", b"e=invalid-username-encoding"),  # RFC 5802 §5.1: bad '=' escape
        (b"n,,n=us=2,r=abc", b"e=invalid-username-encoding"),
        (b"n,,n=bell\x07,r=abc", b"e=invalid-username-encoding"),  # SASLprep rejects
        (b"n,,n=\xc2\xad,r=abc", b"e=invalid-username-encoding"),  # SASLprep makes it empty
        (b"n,,n=us\xffer,r=abc", b"e=invalid-encoding"),
        (b"n,,n=user,r=a\x00c", b"e=invalid-encoding"),
        (b"n,,n=user,r=\xc3\xa9", b"e=invalid-encoding"),  # nonce must be printable ASCII
        (b"n,a=other,n=user,r=abc", b"e=other-error"),  # authzid must name the same user
        (b"n,b=user,n=user,r=abc", b"e=invalid-encoding"),
        (b"n", b"e=invalid-encoding"),
        (b"n,", b"e=invalid-encoding"),
        (b"", b"e=invalid-encoding"),
    ],
)
def test_scram_client_first_errors(client_first: bytes, error: bytes) -> None:
    mech, out = scram_server(client_first)
    assert isinstance(out, Failure)
    assert out.server_message == error
    assert mech.done


def test_scram_user_name_escapes() -> None:
    _, out = scram_server(b"n,,n=a=2Cb=3Dc=3D2C,r=abc")
    assert out == NeedScramCredentials("a,b=c=2C", "a,b=c=2C")


def test_scram_authzid_same_user_and_extensions_ignored() -> None:
    _, out = scram_server(b"n,a=User,n=user,r=abc,x=unknown-extension")
    assert out == NeedScramCredentials("user", "user")


def test_scram_y_flag_is_accepted_and_bound() -> None:
    # RFC 5802 §6: "y" = the client could bind but thinks we cannot: right, so no downgrade.
    client_first = b"y,,n=user,r=" + RFC7677_CLIENT_NONCE.encode()
    mech = scram_to_final(client_first)
    nonce = RFC7677_CLIENT_NONCE + RFC7677_SERVER_NONCE
    # the RFC 7677 proof was computed for c=biws ("n,,"); with "y,," the c= value must be "eSws"
    out = mech.step(f"c=biws,r={nonce},p=AAAA".encode())
    assert out == Failure("SCRAM channel binding data mismatch", b"e=channel-bindings-dont-match")


def test_scram_y_flag_round_trip() -> None:
    # A client that sends "y" computes its proof over c=base64("y,,"); check the server agrees.
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677_CLIENT_NONCE)
    client._gs2_header = "y,,"  # type: ignore[attr-defined]
    first = client.initial_response()
    assert first is not None
    assert first.startswith(b"y,,")
    mech, out = scram_server(first)
    assert isinstance(out, NeedScramCredentials)
    server_first = mech.supply_credentials(RFC7677_CREDS)
    assert isinstance(server_first, Challenge)
    final = client.respond(server_first.data)
    assert final.startswith(b"c=eSws,")
    out = mech.step(final)
    assert isinstance(out, Success)
    client.finish(out.server_final)


@pytest.mark.parametrize(
    ("client_final", "error"),
    [
        (
            b"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
            b"e=channel-bindings-dont-match",
        ),
        (b"c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", b"e=other-error"),
        (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", b"e=invalid-encoding"),
        (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA", b"e=invalid-proof"),
        (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=!!", b"e=invalid-encoding"),
        (b"c=bi,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA", b"e=invalid-encoding"),
        (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,p=AAAA", b"e=invalid-encoding"),
        (b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", b"e=invalid-encoding"),
        (b"c=biws,,p=AAAA", b"e=invalid-encoding"),
        (b"\xff", b"e=invalid-encoding"),
    ],
)
def test_scram_client_final_errors(client_final: bytes, error: bytes) -> None:
    mech = scram_to_final(RFC7677_CLIENT_FIRST)
    out = mech.step(client_final)
    assert isinstance(out, Failure)
    assert out.server_message == error
    assert mech.done


def test_scram_proof_with_an_extension_before_it() -> None:
    # extensions sit between r= and p= and are part of the AuthMessage
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil")
    mech, _ = scram_server(client.initial_response())
    server_first = mech.supply_credentials(RFC7677_CREDS)
    assert isinstance(server_first, Challenge)
    final = client.respond(server_first.data)
    without_proof, _, proof = final.rpartition(b",")
    out = mech.step(without_proof + b",x=ext," + proof)
    assert out == Failure("invalid SCRAM proof", b"e=invalid-proof")


def test_bad_injected_nonce() -> None:
    with pytest.raises(ValueError, match="nonce"):
        scram_server(None, server_nonce="a,b")
    with pytest.raises(ValueError, match="nonce"):
        ClientMechanism.start("SCRAM-SHA-256", "u", "p", nonce="")  # empty means random
    with pytest.raises(ValueError, match="nonce"):
        ClientMechanism.start("SCRAM-SHA-256", "u", "p", nonce="é")


def test_supply_credentials_on_other_mechanisms() -> None:
    mech, _ = ServerMechanism.start("PLAIN", None)
    with pytest.raises(SaslStateError):
        mech.supply_credentials(None)


# --- client <-> server round trips -------------------------------------------------------------------


def exchange(
    name: str, user: str, password: str, creds: Creds | None = None, use_initial: bool = True
) -> tuple[ClientMechanism, Step]:
    client = ClientMechanism.start(name, user, password)
    initial = client.initial_response() if use_initial else None
    mech, out = ServerMechanism.start(name, initial)
    for _ in range(5):
        if isinstance(out, Challenge):
            out = mech.step(client.respond(out.data))
        elif isinstance(out, NeedScramCredentials):
            out = mech.supply_credentials(creds)
        else:
            return client, out
    raise AssertionError("exchange did not end")


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("use_initial", [True, False])
def test_plaintext_round_trips(name: str, use_initial: bool) -> None:
    client, out = exchange(name, "tim@example.com", "päss wörd", use_initial=use_initial)
    assert out == VerifyPassword("tim@example.com", "tim@example.com", "päss wörd")
    client.finish()


@pytest.mark.parametrize("use_initial", [True, False])
@pytest.mark.parametrize(
    ("user", "password"), [("user", "pencil"), ("a,b=c@x", "p\u00e4ss,=w\u00f6rd\u00ad")]
)
def test_scram_round_trips(use_initial: bool, user: str, password: str) -> None:
    client, out = exchange(
        "SCRAM-SHA-256", user, password, creds_for(password.replace("\u00ad", "")), use_initial
    )
    assert isinstance(out, Success)
    assert out.authcid == user
    assert out.server_final is not None
    client.finish(out.server_final)


def test_scram_round_trip_wrong_password() -> None:
    client, out = exchange("SCRAM-SHA-256", "user", "wrong", creds_for("pencil"))
    assert out == Failure("invalid SCRAM proof", b"e=invalid-proof")
    with pytest.raises(SaslError, match="invalid-proof"):
        client.respond(b"e=invalid-proof")


def test_plain_client() -> None:
    client = ClientMechanism.start("PLAIN", "tim", "pw", authzid="admin")
    assert client.initial_response() == b"admin\x00tim\x00pw"
    with pytest.raises(SaslError):
        client.respond(b"")


def test_login_client_answers_two_challenges() -> None:
    client = ClientMechanism.start("LOGIN", "tim", "pw")
    assert client.initial_response() is None
    assert client.respond(b"Username:") == b"tim"
    assert client.respond(b"Password:") == b"pw"
    with pytest.raises(SaslError):
        client.respond(b"More:")


@pytest.mark.parametrize(
    "server_first",
    [
        b"r=someone-else,s=QSXCR+Q6sek8bf92,i=4096",
        b"r=" + RFC7677_CLIENT_NONCE.encode() + b",s=QSXCR+Q6sek8bf92,i=4096",  # not extended
        RFC7677_SERVER_FIRST.replace(b"i=4096", b"i=0"),
        RFC7677_SERVER_FIRST.replace(b"i=4096", b"i=99999999999"),
        RFC7677_SERVER_FIRST.replace(b"i=4096", b"i=x"),
        RFC7677_SERVER_FIRST.replace(b"s=W22ZaJ0SNY7soEsUEjb6gQ==", b"s=!!"),
        b"m=x," + RFC7677_SERVER_FIRST,
        b"\xff",
        b"garbage",
    ],
)
def test_scram_client_rejects_bad_server_first(server_first: bytes) -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677_CLIENT_NONCE)
    client.initial_response()
    with pytest.raises(SaslError):
        client.respond(server_first)


@pytest.mark.parametrize(
    "server_final", [b"v=AAAA", b"e=other-error", b"x=1", b"v=!!", RFC7677_SERVER_FINAL[:-4] + b"AAA="]
)
def test_scram_client_checks_the_server_signature(server_final: bytes) -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677_CLIENT_NONCE)
    client.initial_response()
    client.respond(RFC7677_SERVER_FIRST)
    with pytest.raises(SaslError):
        client.finish(server_final)


def test_scram_client_requires_the_server_proof() -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677_CLIENT_NONCE)
    client.initial_response()
    client.respond(RFC7677_SERVER_FIRST)
    with pytest.raises(SaslError, match="did not prove"):
        client.finish(None)


def test_scram_client_sends_first_message_on_empty_challenge() -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677_CLIENT_NONCE)
    assert client.respond(b"") == RFC7677_CLIENT_FIRST
    with pytest.raises(SaslError):
        ClientMechanism.start("SCRAM-SHA-256", "user", "pencil").respond(b"r=x")
    with pytest.raises(SaslError):
        ClientMechanism.start("SCRAM-SHA-256", "bell\x07", "pencil")


def test_scram_client_after_verification_rejects_more_challenges() -> None:
    client = ClientMechanism.start("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677_CLIENT_NONCE)
    client.initial_response()
    client.respond(RFC7677_SERVER_FIRST)
    assert client.respond(RFC7677_SERVER_FINAL) == b""
    with pytest.raises(SaslError):
        client.respond(b"more")
    client.finish()


# --- fuzzing: client data never raises ---------------------------------------------------------------

OUTCOMES = (Challenge, VerifyPassword, NeedScramCredentials, Success, Failure)


def _drive(mech: ServerMechanism, out: Step, inputs: list[bytes]) -> None:
    for data in inputs:
        assert isinstance(out, OUTCOMES)
        if isinstance(out, NeedScramCredentials):
            out = mech.supply_credentials(RFC7677_CREDS)
        if not isinstance(out, Challenge):
            return
        out = mech.step(data)
    assert isinstance(out, OUTCOMES)


@settings(max_examples=150)
@given(
    name=st.sampled_from(SERVER_MECHANISMS),
    initial=st.none() | st.binary(max_size=80),
    inputs=st.lists(st.binary(max_size=80), max_size=4),
)
def test_random_bytes_never_raise(name: str, initial: bytes | None, inputs: list[bytes]) -> None:
    mech, out = ServerMechanism.start(name, initial)
    _drive(mech, out, inputs)


_scram_pieces = st.sampled_from(
    [
        b"n",
        b"y",
        b"p=x",
        b",",
        b"=",
        b"a=",
        b"n=",
        b"r=",
        b"c=",
        b"p=",
        b"m=",
        b"biws",
        b"user",
        b"=2C",
        b"=3D",
    ]
)


@settings(max_examples=150)
@given(
    first=st.lists(_scram_pieces | st.binary(max_size=4), max_size=12).map(b"".join),
    final=st.lists(_scram_pieces | st.binary(max_size=4), max_size=12).map(b"".join),
)
def test_scram_structured_garbage_never_raises(first: bytes, final: bytes) -> None:
    mech, out = scram_server(first)
    _drive(mech, out, [final, final])


@settings(max_examples=100)
@given(final=st.binary(max_size=120))
def test_scram_random_client_final_fails_cleanly(final: bytes) -> None:
    mech = scram_to_final(RFC7677_CLIENT_FIRST)
    out = mech.step(final)
    assert isinstance(out, Failure)
    assert out.server_message is not None
    assert out.server_message.startswith(b"e=")


@given(line=st.binary(max_size=60), initial=st.booleans())
def test_decode_sasl_line_never_raises(line: bytes, initial: bool) -> None:
    assert isinstance(decode_sasl_line(line, initial=initial), bytes | Cancel | Malformed)


@given(data=st.binary(max_size=60))
def test_encode_decode_round_trip(data: bytes) -> None:
    assert decode_sasl_line(encode_sasl(data)) == data
