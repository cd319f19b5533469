"""Fetching an MTA-STS policy file over HTTPS (RFC 8461 section 3.3).

The policy host's name is resolved by the queue's own resolver (the caller passes its addresses), so
every DNS answer the queue acts on comes from ``queue.dns_nameservers``. The HTTP exchange is the
standard library's ``http.client`` in a thread, on a socket we connect and wrap ourselves (SNI and
certificate name: the policy host; validated against the system CAs or ``queue.tls_ca_file``). One
GET, no redirects, a size limit and an overall timeout: a policy host cannot hold a queue worker.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
from collections.abc import Sequence

from pochta.queue.https_at import authority, connect_https

WELL_KNOWN = "/.well-known/mta-sts.txt"


class FetchError(Exception):
    """No policy could be fetched; the text says why, ``result_type`` how TLS-RPT names it."""

    def __init__(self, message: str, result_type: str = "sts-policy-fetch-error") -> None:
        super().__init__(message)
        self.result_type = result_type  # RFC 8460 section 4.3.2.1: or "sts-webpki-invalid"


def _get(address: str, port: int, host: str, context: ssl.SSLContext, timeout: float, limit: int) -> str:
    connection = connect_https(address, port, host, context, timeout)
    try:
        where = authority(host, port)
        connection.request("GET", WELL_KNOWN, headers={"Host": where, "Connection": "close"})
        response = connection.getresponse()
        # RFC 8461 section 3.3: only a 200 is a policy; senders MUST NOT follow redirects.
        if response.status != 200:
            raise FetchError(f"https://{where}{WELL_KNOWN} answered HTTP {response.status}")
        # RFC 8461 section 3.2: the policy's media type is text/plain.
        media = (response.getheader("Content-Type") or "").partition(";")[0].strip().lower()
        if media != "text/plain":
            raise FetchError(f"policy has Content-Type {media or 'none'!r}, not text/plain")
        body = response.read(limit + 1)
        if len(body) > limit:  # RFC 8461 section 3.3: senders may limit the size (64 KiB here by default)
            raise FetchError(f"policy is larger than {limit} bytes")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise FetchError("policy is not UTF-8 text") from None
    finally:
        connection.close()


async def fetch_policy(
    domain: str,
    addresses: Sequence[str],
    *,
    port: int,
    context: ssl.SSLContext,
    seconds: float,
    limit: int,
) -> str:
    """The policy file of ``domain`` from https://mta-sts.DOMAIN (at ``addresses``, tried in order);
    FetchError when none of them gives one within ``seconds`` in all."""
    host = f"mta-sts.{domain}"
    if not addresses:
        raise FetchError(f"{host} has no address")
    last = ""
    kind = "sts-policy-fetch-error"
    try:
        async with asyncio.timeout(seconds):
            for address in addresses:
                try:
                    return await asyncio.to_thread(_get, address, port, host, context, seconds, limit)
                except FetchError:
                    raise
                except ssl.SSLCertVerificationError as exc:
                    last = f"certificate of {host}: {exc.verify_message or exc}"
                    kind = "sts-webpki-invalid"
                except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                    last = f"{host}[{address}]:{port}: {exc or type(exc).__name__}"
    except TimeoutError:
        raise FetchError(f"fetching the policy from {host} timed out") from None
    raise FetchError(last[:300], kind)
