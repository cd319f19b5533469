"""A JMAP event source client over a real socket (http.client, TLS to the test server): reads the
``text/event-stream`` one event at a time. For tests/e2e/jmap/test_jmap_push.py and
bench/jmap_push.py."""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "EventStream", "deliver", "fan_out"]


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
        context: ssl.SSLContext | None,
        timeout: float,
    ) -> None:
        """Over TLS with ``context``, plain HTTP without (passwords are taken so from loopback)."""
        self.conn: http.client.HTTPConnection
        if context is None:
            self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
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


def fan_out(
    http_port: int, lmtp_port: int, headers: dict[str, str], recipient: str, clients: int
) -> list[float]:
    """Open ``clients`` event streams (plain HTTP on loopback, ``types=*``), deliver one message by
    LMTP, and return, for each stream that received the state event, the seconds from the LMTP
    acknowledgement to the event read (negative when the event won the race with the 250 reply).
    Streams that got none within 60 s are missing from the list."""
    path = "/jmap/eventsource/?types=*&closeafter=state&ping=0"
    streams = [EventStream("127.0.0.1", http_port, path, headers, None, 60.0) for _ in range(clients)]
    for stream in streams:
        if stream.status != 200:
            raise RuntimeError(f"event source answered {stream.status}")
    read_at: list[float] = []
    lock = threading.Lock()

    def read(stream: EventStream) -> None:
        try:
            event = stream.next()
        except TimeoutError:
            return
        at = time.monotonic()
        if event is not None and event.name == "state":
            with lock:
                read_at.append(at)

    readers = [threading.Thread(target=read, args=(stream,)) for stream in streams]
    for reader in readers:
        reader.start()
    try:
        deliver(lmtp_port, recipient, f"fan out to {clients}")
        acknowledged = time.monotonic()
        for reader in readers:
            reader.join(60.0)
    finally:
        for stream in streams:
            stream.close()
    return [at - acknowledged for at in read_at]
