"""ACME (RFC 8555): the server's certificate from Let's Encrypt or any ACME CA, renewed in time.
docs/certificates.md says what an administrator sets up."""

from pochta.acme.challenges import CHALLENGE_DIR, ChallengeFiles, valid_token
from pochta.acme.order import AcmeFailed, Issued
from pochta.acme.renewal import AcmeState, CertificateManager, certificate_names, due, renew_periodically

__all__ = [
    "CHALLENGE_DIR",
    "AcmeFailed",
    "AcmeState",
    "CertificateManager",
    "ChallengeFiles",
    "Issued",
    "certificate_names",
    "due",
    "renew_periodically",
    "valid_token",
]
