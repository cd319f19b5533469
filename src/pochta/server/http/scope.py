"""The ASGI connection scope of a request (``http`` or ``websocket``) from its h11 head."""

from __future__ import annotations

from urllib.parse import unquote

import h11

from pochta.server.connection import Connection
from pochta.server.http.asgi import ASGI_VERSION, Scope

__all__ = ["request_scope"]


def request_scope(conn: Connection, head: h11.Request, *, websocket: bool = False) -> Scope:
    raw_path, _, query = head.target.partition(b"?")
    scheme = ("wss" if conn.is_secure else "ws") if websocket else ("https" if conn.is_secure else "http")
    scope: Scope = {
        "type": "websocket" if websocket else "http",
        "asgi": dict(ASGI_VERSION),
        "http_version": head.http_version.decode("ascii", "replace"),
        "method": head.method.decode("ascii", "replace"),
        "scheme": scheme,
        "path": unquote(raw_path.decode("latin-1"), errors="replace"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(bytes(name), bytes(value)) for name, value in head.headers],
        "client": (conn.peer_ip, conn.peer_port or 0),
        "server": _server_address(conn.local_address),
        "state": {},
    }
    if websocket:
        # RFC 6455 section 4.2.1 item 10: the subprotocols the client offers, in its order of
        # preference (tokens: compared as they are, case included).
        scope["subprotocols"] = [
            token.strip().decode("latin-1")
            for name, value in head.headers
            if name == b"sec-websocket-protocol"
            for token in bytes(value).split(b",")
            if token.strip()
        ]
    return scope


def _server_address(local: str) -> tuple[str, int] | None:
    host, sep, port = local.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)
