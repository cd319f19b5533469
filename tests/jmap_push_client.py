"""A JMAP event source client over a real socket (http.client, TLS to the test server): reads the
``text/event-stream`` one event at a time. For tests/e2e/jmap/test_jmap_push.py and
bench/jmap_push.py."""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "EventStream", "deliver"]


@dataclass
class Event:
    name: str
    data: dict[str, Any]


class EventStream:
    """``GET path`` with ``headers``; ``status`` and ``headers`` of the answer, then ``next()``."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        headers: dict[str, str],
        context: ssl.SSLContext,
        timeout: float,
    ) -> None:
        self.conn = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.cut = False  # the stream ended without its last chunk (the server stopped)

    def next(self) -> Event | None:
        """The next event; None when the stream ended (``cut``: cut short). Raises TimeoutError
        when none came in time."""
        name, data = "message", ""
        while True:
            try:
                line = self.response.readline()
            except (http.client.IncompleteRead, ConnectionError):
                self.cut = True
                return None
            if not line:
                return None
            text = line.decode("utf-8").rstrip("\r\n")
            if not text:
                if data:
                    return Event(name, json.loads(data))
                continue
            field, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data += value

    def close(self) -> None:
        self.conn.close()


def deliver(port: int, recipient: str, subject: str) -> None:
    """One message by LMTP (returns once the server acknowledged it)."""
    message = (
        f"From: bob@example.net\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
        "Message-ID: <" + subject.replace(" ", ".") + "@example.net>\r\n\r\nhello\r\n"
    )
    with smtplib.LMTP("127.0.0.1", port) as lmtp:
        refused = lmtp.sendmail("bob@example.net", [recipient], message.encode())
        assert not refused, refused
