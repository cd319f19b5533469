"""One ACME order (RFC 8555 section 7.4): account, new order, http-01 challenges, finalize, download.

Blocking (the acme library of the certbot project speaks HTTP through requests): callers run it in
a thread. A name whose authorization fails does not sink the others: the order is placed again for
the names that passed (an authorization that is valid stays valid for the account, RFC 8555 section
7.1.4, so the second order needs no new challenge), and the failures are returned with their
reasons. ``hostname`` is the one name that must pass; without it there is no certificate.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.jwk import JWKRSA

from pochta.acme.challenges import ChallengeFiles

__all__ = ["AcmeFailed", "Issued", "OrderRequest", "place_order"]

_USER_AGENT = "pochta"


class AcmeFailed(Exception):
    """No certificate: the message says why (the server's problem document where there is one)."""


@dataclass(frozen=True)
class OrderRequest:
    directory: str
    names: Sequence[str]  # the first is the one that must pass
    email: str = ""
    ca_file: str | None = None  # the ACME server's HTTPS trust; None: the system's
    key_type: str = "rsa"
    timeout: float = 90.0  # for the whole order


@dataclass(frozen=True)
class Issued:
    fullchain_pem: bytes
    key_pem: bytes
    names: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)  # name -> why its challenge failed


def _certificate_key(kind: str) -> bytes:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _connect(request: OrderRequest, account_key: JWKRSA) -> client.ClientV2:
    network = client.ClientNetwork(account_key, user_agent=_USER_AGENT, timeout=30)
    if request.ca_file is not None:
        # requests takes a CA bundle path where the acme library types a bool.
        network.verify_ssl = request.ca_file  # type: ignore[assignment]
    acme = client.ClientV2(client.ClientV2.get_directory(request.directory, network), network)
    registration = messages.NewRegistration.from_data(
        email=request.email or None, terms_of_service_agreed=True
    )
    try:
        acme.new_account(registration)
    except errors.ConflictError as known:
        # RFC 8555 section 7.3.1: the key already has an account; its URL is the answer.
        network.account = messages.RegistrationResource(uri=known.location, body=messages.Registration())
    return acme


def _problem(authorization: messages.AuthorizationResource) -> str:
    for challenge in authorization.body.challenges:
        if challenge.error is not None:
            return str(challenge.error)
    return f"authorization {authorization.body.status}"


def _name(authorization: messages.AuthorizationResource) -> str:
    return str(authorization.body.identifier.value)


def _authorize(
    acme: client.ClientV2,
    order: messages.OrderResource,
    account_key: JWKRSA,
    files: ChallengeFiles,
    deadline: datetime.datetime,
) -> tuple[messages.OrderResource, dict[str, str]]:
    """Answer every pending http-01 challenge of ``order``; returns the order after polling and the
    names whose authorization failed."""
    tokens: list[str] = []
    try:
        for authorization in order.authorizations:
            if authorization.body.status == messages.STATUS_VALID:
                continue
            http01 = [c for c in authorization.body.challenges if isinstance(c.chall, challenges.HTTP01)]
            if not http01:
                raise AcmeFailed(f"{_name(authorization)}: the ACME server offers no http-01 challenge")
            body = http01[0]
            response, key_authorization = body.response_and_validation(account_key)
            files.publish(body.chall.encode("token"), key_authorization)
            tokens.append(body.chall.encode("token"))
            acme.answer_challenge(body, response)
        try:
            return acme.poll_authorizations(order, deadline), {}
        except errors.ValidationError as failure:
            return order, {_name(a): _problem(a) for a in failure.failed_authzrs}
    finally:
        for token in tokens:
            files.withdraw(token)


def place_order(request: OrderRequest, account_key: JWKRSA, files: ChallengeFiles) -> Issued:
    """Obtain a certificate for ``request.names`` (or the part of them that validates)."""
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=request.timeout)
    try:
        acme = _connect(request, account_key)
        names = list(dict.fromkeys(request.names))
        failed: dict[str, str] = {}
        while True:
            key_pem = _certificate_key(request.key_type)
            order = acme.new_order(crypto_util.make_csr(key_pem, names))
            order, refused = _authorize(acme, order, account_key, files, deadline)
            if not refused:
                break
            failed.update(refused)
            if request.names[0] in refused:
                raise AcmeFailed(f"{request.names[0]}: {refused[request.names[0]]}")
            names = [n for n in names if n not in refused]
        order = acme.finalize_order(order, deadline)
    except (errors.Error, messages.Error) as exc:
        raise AcmeFailed(str(exc) or type(exc).__name__) from None
    except OSError as exc:  # requests' connection errors are OSErrors
        raise AcmeFailed(f"{request.directory}: {exc}") from None
    if not order.fullchain_pem:
        raise AcmeFailed("the ACME server returned no certificate")
    return Issued(order.fullchain_pem.encode("ascii"), key_pem, tuple(names), failed)
