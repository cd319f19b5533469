"""What the listener answers itself, without the application: refusals (a request it will not
serve) and the response that goes with each."""

from __future__ import annotations

from http import HTTPStatus

__all__ = ["Refusal", "plain_response"]


class Refusal(Exception):
    """A request the listener answers itself with ``status`` (and ``headers``) and closes the
    connection after."""

    def __init__(self, status: int, why: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(why)
        self.status = int(status)
        self.headers = headers


def plain_response(
    status: HTTPStatus,
    text: str,
    *,
    retry_after: int | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A complete response that ends the connection, written without h11 (whose state may be
    an error state by then)."""
    body = (text + "\n").encode()
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if retry_after is not None:
        lines.append(f"Retry-After: {retry_after}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
