"""WebSocket (RFC 6455) on the HTTP listener, against a running listener serving a small Starlette
application (tests/http_stream_env.py): an independent client (the ``websockets`` package) for
subprotocol ``jmap``, echo, Ping/Pong, fragmented messages and close codes; a raw client for what a
library hides (the server's Pings, the idle close, invalid frames, refused handshakes)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from http_stream_env import StreamEnv, start_stream_server, stream_settings

MAX_MESSAGE = 64 * 1024  # websocket_max_message in stream_settings
WS = {"websocket_ping_interval": 0.5, "websocket_idle_timeout": 2.0, "websocket_close_timeout": 1.0}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamEnv]:
    yield from start_stream_server(tmp_path_factory.mktemp("websocket"), stream_settings(**WS))


@pytest.fixture
def stopping_env(tmp_path: Path) -> Iterator[StreamEnv]:
    yield from start_stream_server(tmp_path, stream_settings(**WS))


def open_ws(env: StreamEnv, path: str = "/ws", **options: object) -> ClientConnection:
    return connect(env.url(path, "ws"), open_timeout=10, close_timeout=5, **options)  # type: ignore[arg-type]


def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; the code of its Close frame."""
    for _ in range(1000):
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
    raise AssertionError("the server did not close the WebSocket")


# -- with an independent client ------------------------------------------------------------------


def test_subprotocol_jmap_is_negotiated(env: StreamEnv) -> None:
    with open_ws(env, subprotocols=["jmap"]) as ws:
        assert ws.subprotocol == "jmap"
        ws.send('{"@type": "Request"}')
        assert ws.recv(timeout=10) == '{"@type": "Request"}'


def test_no_subprotocol_when_none_is_offered(env: StreamEnv) -> None:
    with open_ws(env) as ws:
        assert ws.subprotocol is None
        assert ws.response.headers.get("Sec-WebSocket-Protocol") is None


def test_text_and_binary_messages_echo(env: StreamEnv) -> None:
    with open_ws(env) as ws:
        ws.send("привет")
        assert ws.recv(timeout=10) == "привет"
        ws.send(b"\x00\xff" * 1000)
        assert ws.recv(timeout=10) == b"\x00\xff" * 1000


def test_client_ping_gets_a_pong(env: StreamEnv) -> None:
    with open_ws(env) as ws:
        assert ws.ping(b"are you there").wait(5)


def test_fragmented_message_is_reassembled(env: StreamEnv) -> None:
    with open_ws(env) as ws:
        ws.send(["frag", "men", "ted"])  # one message in three frames
        assert ws.recv(timeout=10) == "fragmented"
        ws.send([b"\x01" * 30000, b"\x02" * 30000])
        assert ws.recv(timeout=10) == b"\x01" * 30000 + b"\x02" * 30000


def test_oversized_message_is_closed_with_1009(env: StreamEnv) -> None:
    with open_ws(env, max_size=None) as ws:
        ws.send("x" * (MAX_MESSAGE + 1))
        assert close_code(ws) == 1009


def test_oversized_fragmented_message_is_closed_with_1009(env: StreamEnv) -> None:
    with open_ws(env) as ws:
        ws.send([b"y" * 20000] * 4)  # each frame small, the message over the limit
        assert close_code(ws) == 1009


def test_application_close_code_reaches_the_client(env: StreamEnv) -> None:
    with open_ws(env) as ws:
        ws.send("close 4001")
        assert close_code(ws) == 4001


def test_client_close_reaches_the_application(env: StreamEnv) -> None:
    with open_ws(env, "/ws?name=client-close") as ws:
        assert env.probe.event("started", "client-close").wait(5)
        ws.close(code=4321)
    assert env.probe.event("ended", "client-close").wait(5)
    assert env.probe.disconnects["client-close"] == 4321


def test_application_refusing_is_403(env: StreamEnv) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(env, "/ws-refuse")
    assert refused.value.response.status_code == 403


def test_unknown_path_is_403(env: StreamEnv) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(env, "/nowhere")
    assert refused.value.response.status_code == 403


def test_application_failing_closes_with_1011(env: StreamEnv) -> None:
    with open_ws(env, "/ws-broken") as ws:
        assert close_code(ws) == 1011


def test_graceful_stop_closes_with_1001(stopping_env: StreamEnv) -> None:
    env = stopping_env
    with open_ws(env, "/ws?name=stop") as ws:
        ws.send("still here")
        assert ws.recv(timeout=10) == "still here"
        started = time.monotonic()
        stopped = env.stop_server()
        assert close_code(ws) == 1001
        stopped.result(10)
        assert time.monotonic() - started < 3  # not the 10 s of server.shutdown_grace
    assert env.probe.disconnects["stop"] == 1001


def test_graceful_stop_closes_a_websocket_whose_application_takes_nothing(stopping_env: StreamEnv) -> None:
    """The listener stops reading a client whose messages the application does not take, and
    still closes it with 1001 on a stop."""
    env = stopping_env
    with open_ws(env, "/ws-deaf") as ws:
        assert env.probe.event("started", "deaf").wait(5)
        for number in range(20):
            ws.send(f"message {number}")
        time.sleep(0.5)
        started = time.monotonic()
        stopped = env.stop_server()
        assert close_code(ws) == 1001
        stopped.result(10)
        assert time.monotonic() - started < 5  # not the 10 s of server.shutdown_grace


# -- with a raw client ---------------------------------------------------------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawClient:
    """Frames by hand (RFC 6455 section 5.2), masked as a client's must be."""

    def __init__(self, env: StreamEnv, path: bytes = b"/ws") -> None:
        self.sock = socket.create_connection(("127.0.0.1", env.port), timeout=10)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(
            b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(4096)
        head, _, self.buffer = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
        # RFC 6455 section 4.2.2: the key and the GUID, through SHA-1, in base64.
        assert fields[b"sec-websocket-accept"] == base64.b64encode(hashlib.sha1(key + GUID).digest())

    def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        mask = os.urandom(4)
        length = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if length < 126:
            head += bytes([0x80 | length])
        elif length < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", length)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            assert chunk, "closed before a whole frame"
            self.buffer += chunk
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def frame(self) -> tuple[int, bytes]:
        first, second = self._take(2)
        length = second & 0x7F
        assert not second & 0x80, "a server's frames are not masked"
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        return first & 0x0F, self._take(length)

    def close(self) -> None:
        self.sock.close()


TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def test_control_frame_between_fragments(env: StreamEnv) -> None:
    client = RawClient(env)
    try:
        client.send(TEXT, b"ab", fin=False)
        client.send(PING, b"mid")  # RFC 6455 section 5.4: control frames may come between fragments
        client.send(CONTINUATION, b"cd")
        assert client.frame() == (PONG, b"mid")
        assert client.frame() == (TEXT, b"abcd")
    finally:
        client.close()


def test_server_pings_a_silent_client_then_closes_it_idle(env: StreamEnv) -> None:
    client = RawClient(env)
    try:
        started = time.monotonic()
        opcode, _payload = client.frame()
        assert opcode == PING  # after websocket_ping_interval (0.5 s) of silence
        while opcode == PING:  # unanswered: more Pings, then the Close
            opcode, payload = client.frame()
        assert opcode == CLOSE
        assert struct.unpack("!H", payload[:2])[0] == 1001
        assert 1.5 < time.monotonic() - started < 6  # websocket_idle_timeout is 2 s
    finally:
        client.close()


def test_pong_keeps_a_websocket_alive(env: StreamEnv) -> None:
    client = RawClient(env)
    try:
        deadline = time.monotonic() + 3.5  # past websocket_idle_timeout
        while time.monotonic() < deadline:
            opcode, payload = client.frame()
            assert opcode == PING
            client.send(PONG, payload)
        client.send(TEXT, b"alive")
        while (frame := client.frame())[0] == PING:
            pass
        assert frame == (TEXT, b"alive")
    finally:
        client.close()


def test_client_not_answering_our_close_is_dropped(env: StreamEnv) -> None:
    client = RawClient(env)
    try:
        client.send(TEXT, b"close 4002")
        while (frame := client.frame())[0] == PING:
            pass
        assert frame[0] == CLOSE
        assert struct.unpack("!H", frame[1][:2])[0] == 4002
        waited = time.monotonic()
        assert client.sock.recv(100) == b""  # no Close from us: dropped after the close timeout
        assert 0.5 < time.monotonic() - waited < 4  # websocket_close_timeout is 1 s
    finally:
        client.close()


def test_invalid_utf8_is_closed_with_1007(env: StreamEnv) -> None:
    client = RawClient(env)
    try:
        client.send(TEXT, b"\xff\xfe")
        opcode, payload = client.frame()
        assert opcode == CLOSE
        assert struct.unpack("!H", payload[:2])[0] == 1007
    finally:
        client.close()


def test_unmasked_client_frame_is_closed_with_1002(env: StreamEnv) -> None:
    client = RawClient(env)
    try:
        client.sock.sendall(bytes([0x81, 2]) + b"hi")  # RFC 6455 section 5.1: a client masks
        opcode, payload = client.frame()
        assert opcode == CLOSE
        assert struct.unpack("!H", payload[:2])[0] == 1002
    finally:
        client.close()


def handshake_status(env: StreamEnv, headers: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", env.port), timeout=10) as sock:
        sock.sendall(method + b" /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" + headers + b"\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return int(data[9:12]), data.partition(b"\r\n\r\n")[0]


KEY = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


def test_wrong_version_is_426_with_the_version_we_speak(env: StreamEnv) -> None:
    status, head = handshake_status(env, b"Connection: Upgrade\r\n" + KEY + b"Sec-WebSocket-Version: 8\r\n")
    assert status == 426
    assert b"\r\nSec-WebSocket-Version: 13" in head


@pytest.mark.parametrize(
    "headers",
    [
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",  # no key
        b"Connection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n",  # 5 octets
        KEY + b"Sec-WebSocket-Version: 13\r\n",  # no Connection: Upgrade
    ],
)
def test_bad_handshakes_are_400(env: StreamEnv, headers: bytes) -> None:
    assert handshake_status(env, headers)[0] == 400


def test_handshake_by_post_is_400(env: StreamEnv) -> None:
    headers = b"Connection: Upgrade\r\n" + KEY + b"Sec-WebSocket-Version: 13\r\n"
    assert handshake_status(env, headers, method=b"POST")[0] == 400
