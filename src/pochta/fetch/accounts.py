"""Adding an external account: what the user gives (``HOST[:PORT]``, TLS mode, login, password,
options) checked and turned into the row the store keeps, the password encrypted
(``pochta.fetch.secrets``). The CLI calls it; a web interface would too (docs/fetch.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pochta.fetch import imap_keys
from pochta.fetch.secrets import encrypt_password
from pochta.netaddr import is_loopback
from pochta.store.api import Store
from pochta.store.fetch_model import FetchAccount, FetchProtocol, FetchTls, NewFetchAccount
from pochta.store.model import Account

__all__ = ["AccountRequest", "InvalidRequest", "add_external_account", "default_port", "parse_host_port"]

# RFC 1939 §3 port 110 (plain, RFC 2595 STLS); RFC 8314 section 7.3 port 995 (implicit TLS).
_PORTS: dict[tuple[str, str], int] = {
    ("pop3", "implicit"): 995,
    ("pop3", "starttls"): 110,
    ("pop3", "none"): 110,
    ("imap", "implicit"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
}


class InvalidRequest(ValueError):
    """What the user asked for cannot be added; the message says why."""


def default_port(protocol: str, tls: str) -> int:
    return _PORTS[(protocol, tls)]


def parse_host_port(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address; the port None when not given."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise InvalidRequest(f"not HOST[:PORT]: {text!r}")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host or any(c.isspace() or c in "/@" for c in host):
        raise InvalidRequest(f"not a host name: {text!r}")
    if not port_text:
        return host.lower(), None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidRequest(f"not a port number: {port_text!r}")
    return host.lower(), int(port_text)


def _loopback(host: str) -> bool:
    return host == "localhost" or is_loopback(host)


@dataclass(frozen=True)
class AccountRequest:
    protocol: FetchProtocol
    server: str  # HOST[:PORT]
    login: str
    password: str
    tls: FetchTls = "implicit"
    keep: bool = True
    folder: str | None = None
    insecure_plain: bool = False  # allow tls "none" to a host that is not on this machine
    imap_folders: str | None = None  # IMAP: "A,B" (imap_keys.parse_folders); None: INBOX
    mirror_flags: bool = False  # IMAP: the local copy gets the remote's flags


async def add_external_account(
    store: Store, account: Account, request: AccountRequest, server_secret: bytes
) -> FetchAccount:
    options = "{}"
    if request.protocol == "imap":
        try:
            folders = imap_keys.parse_folders(request.imap_folders)
        except imap_keys.InvalidOptions as exc:
            raise InvalidRequest(str(exc)) from None
        options = imap_keys.ImapOptions(folders, request.mirror_flags).to_json()
    elif request.imap_folders is not None or request.mirror_flags:
        raise InvalidRequest("--imap-folders and --mirror-flags are for IMAP accounts")
    host, port = parse_host_port(request.server)
    if request.tls == "none" and not (_loopback(host) or request.insecure_plain):
        # The password would cross the network in clear text (docs/fetch.md "TLS").
        raise InvalidRequest(
            "--tls none sends the password unencrypted: allowed to a loopback address only, "
            "or with --insecure-plain"
        )
    if not request.login or any(c in request.login for c in "\r\n\0"):
        raise InvalidRequest("the login must be one line")
    if any(c in request.password for c in "\r\n\0"):
        raise InvalidRequest("the password must be one line")
    new = NewFetchAccount(
        account_id=account.id,
        protocol=request.protocol,
        host=host,
        port=port or default_port(request.protocol, request.tls),
        tls=request.tls,
        login=request.login,
        secret=encrypt_password(server_secret, account.id, request.password),
        keep=request.keep,
        folder=request.folder,
        options=options,
    )
    return await store.add_fetch_account(new, int(time.time()))
