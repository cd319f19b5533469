"""ARC sealing (RFC 8617 §5.1) of forwarded copies of mail our MX checked: an ARC set of
ARC-Authentication-Results (our Authentication-Results field, copied), ARC-Message-Signature (a
DKIM-like signature of the message) and ARC-Seal (a signature over the chain), made with the
forwarding domain's active RSA key.

Where and when: the queue worker seals each attempt of an entry whose origin is
``checked-forward`` (docs/deliverability.md "ARC" says why), after the DKIM signatures of the
attempt are made (RFC 8617 §5.1 step 1: every modification, DKIM signatures included, comes before
the seal). The chain validation status cv= is what our Authentication-Results field says under
arc= (the MX's validation of the incoming chain, RFC 8617 §5.1 step 4C): dkimpy reads it from there.

RSA only: dkimpy's ``arc_sign`` signs with rsa-sha256 alone (RFC 8617 defines no other algorithm
for ARC yet; multiple algorithms are a separate draft), so a domain with only an Ed25519 key seals
nothing.
"""

from __future__ import annotations

import time
from email.parser import BytesHeaderParser
from email.policy import compat32

import dkim

from pochta.mailauth.arc_verify import newest_seal_failed
from pochta.queue.dkim_sign import signed_headers
from pochta.store.dkim_model import DkimKey

__all__ = ["seal_message"]


def _header_block(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[: end + 2]


def seal_message(data: bytes, key: DkimKey, authserv_id: str, now: float | None = None) -> bytes:
    """The ARC set to put at the top of ``data`` (a whole message, CRLF line ends), b"" when there
    is nothing to seal: no Authentication-Results field of ``authserv_id`` (dkimpy then adds no
    set: an AAR needs results), or a chain whose newest seal already says cv=fail (RFC 8617 §5.1
    step 2: the chain is over). Raises dkim.DKIMException for a message or key dkimpy refuses
    (more than 50 sets, RFC 8617 §4.2.1)."""
    if key.algorithm != "rsa":
        raise ValueError("ARC seals with RSA keys only (rsa-sha256)")
    if newest_seal_failed(data):
        return b""
    names = [name for name, _ in BytesHeaderParser(policy=compat32).parsebytes(_header_block(data)).items()]
    # The AMS signs what our DKIM signatures sign, with the same oversigning (RFC 8617 §4.1.2 takes
    # DKIM's rules); never Authentication-Results or DKIM-Signature (dkimpy refuses those).
    include = [name.encode("ascii", "replace") for name in signed_headers(names)]
    fields = dkim.arc_sign(
        data,
        key.selector.encode("ascii"),
        key.domain.encode("ascii"),
        key.private_key.encode("ascii"),
        authserv_id.encode("ascii", "replace"),
        include_headers=include,
        timestamp=int(time.time() if now is None else now),
    )
    return b"".join(fields)
