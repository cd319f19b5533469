"""The host a request was sent to (its Host header, RFC 9110 section 7.2), without the port."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["request_host", "subdomain_of"]


def request_host(request: Request) -> str:
    """Lower case, no port, no trailing dot; "" when there is no usable Host."""
    host = request.headers.get("host", "").strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"  # an IPv6 literal: never one of our names
    return host.partition(":")[0].rstrip(".")


def subdomain_of(request: Request, label: str) -> str | None:
    """``DOMAIN`` when the request went to ``LABEL.DOMAIN`` (``mta-sts.example.org``)."""
    host = request_host(request)
    prefix = label + "."
    if host.startswith(prefix) and len(host) > len(prefix):
        return host[len(prefix) :]
    return None
