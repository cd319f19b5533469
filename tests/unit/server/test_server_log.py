"""Log rendering: kv lines a peer cannot forge, JSON lines, connection ids."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from pochta.config import LogSettings
from pochta.log import configure_logging, get_logger, new_connection_id, render_kv, reset_logging


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    reset_logging()


def test_kv_line_shape(out: io.StringIO) -> None:
    configure_logging(LogSettings(), stream=out)
    get_logger().info("listening", name="imap", addr="127.0.0.1:1143", tls="starttls")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ info listening name=imap addr=127\.0\.0\.1:1143 tls=starttls\n",
        out.getvalue(),
    )


def test_timestamps_are_the_current_utc_second(out: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    # Formatted once per second and kept: the next second must give the next text.
    configure_logging(LogSettings(), stream=out)
    for now in (1_700_000_000.2, 1_700_000_000.9, 1_700_000_001.0, 86_399.5):
        monkeypatch.setattr("time.time", lambda now=now: now)
        get_logger().info("tick")
    assert [line.split(" ")[0] for line in out.getvalue().splitlines()] == [
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:21Z",
        "1970-01-01T23:59:59Z",
    ]


def test_kv_values_cannot_forge_lines() -> None:
    line = render_kv(
        None,
        "info",
        {
            "event": "command",
            "timestamp": "T",
            "level": "info",
            "cmd": b"EHLO x\r\n2026 info fake=1",
            "quote": 'a "b" c=d',
            "empty": "",
            "none": None,
            "flag": True,
            "ratio": 0.5,
            "ctl": "\x00\x1b",
        },
    )
    assert "\n" not in line
    assert "\r" not in line
    assert line == (
        'T info command cmd="EHLO x\\r\\n2026 info fake=1" quote="a \\"b\\" c=d" empty="" none=- flag=true '
        'ratio=0.5 ctl="\\x00\\x1b"'
    )


def test_conn_goes_first_among_keys() -> None:
    line = render_kv(None, "info", {"event": "x", "a": 1, "conn": "abcd2345", "level": "info"})
    assert line == "info x conn=abcd2345 a=1"


def test_bound_connection_id_is_on_every_line(out: io.StringIO) -> None:
    configure_logging(LogSettings(), stream=out)
    conn_id = new_connection_id()
    assert re.fullmatch(r"[a-z2-7]{8}", conn_id)
    assert new_connection_id() != conn_id
    log = get_logger(conn=conn_id)
    log.info("connect", peer="127.0.0.1:5000")
    log.warning("bad command")
    assert all(f" conn={conn_id}" in line for line in out.getvalue().splitlines())


def test_contextvars_bind_for_module_level_loggers(out: io.StringIO) -> None:
    configure_logging(LogSettings(), stream=out)
    structlog.contextvars.bind_contextvars(conn="zzzzzzzz")
    try:
        get_logger().info("from the store")
    finally:
        structlog.contextvars.clear_contextvars()
    assert "info from the store conn=zzzzzzzz" in out.getvalue()


def test_json_lines(out: io.StringIO) -> None:
    configure_logging(LogSettings(format="json"), stream=out)
    get_logger(conn="abcd2345").info("listening", name="imap", data=b"\xff")
    record = json.loads(out.getvalue())
    assert list(record)[:4] == ["timestamp", "level", "event", "conn"]
    assert record["event"] == "listening"
    assert record["name"] == "imap"
    assert record["data"] == "\\xff"


def test_level_filter_and_stdlib_records(out: io.StringIO) -> None:
    configure_logging(LogSettings(level="warning"), stream=out)
    get_logger().info("hidden")
    logging.getLogger("asyncio").warning("from %s", "asyncio")
    assert "hidden" not in out.getvalue()
    assert re.search(r"warning from asyncio logger=asyncio$", out.getvalue(), re.M)
