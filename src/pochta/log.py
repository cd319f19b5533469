"""Structured logging: one line per event, ``key=value`` (default) or JSON, to stderr.

``configure_logging`` is called once by the CLI before anything logs. Every session binds a short
connection id (``conn=...``) so that all lines of one session can be grepped together::

    2026-11-22T00:00:00Z info listening name=imap addr=127.0.0.1:1143 tls=starttls
    2026-11-22T00:00:01Z info connect conn=k3vq7b2m listener=imap peer=127.0.0.1:50122

Values a peer controls (host names, commands, error text) may contain anything, so the ``kv``
renderer quotes and escapes every value that is not a plain token: a client can never forge a log
line by sending CR/LF.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO, cast

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

from pochta.config import LogSettings

__all__ = [
    "bind_connection_id",
    "bind_worker",
    "configure_logging",
    "get_logger",
    "new_connection_id",
    "render_kv",
    "reset_logging",
]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

# Keys rendered in a fixed place (first, without a key) rather than as key=value.
_TIMESTAMP = "timestamp"
_LEVEL = "level"
_EVENT = "event"
# The connection id goes first among the key=value pairs, so a session's lines line up.
_FIRST_KEYS = ("conn",)


class _LineWriter:
    """The structlog 'logger': writes one rendered line. ``stream=None`` means the current sys.stderr,
    looked up per line so that a test's capture (or a re-opened stderr) is honoured."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        # The store's writer thread logs too; a line must never interleave with another.
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        with self._lock:
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _WriterFactory:
    def __init__(self, writer: _LineWriter) -> None:
        self._writer = writer

    def __call__(self, *args: Any) -> _LineWriter:
        return self._writer


_SPECIAL = re.compile(r'[ "=\\]')


def _needs_quoting(text: str) -> bool:
    return not text or not text.isprintable() or _SPECIAL.search(text) is not None


class _SecondStamper:
    """``timestamp`` in whole seconds, UTC: formatted once per second, not once per line."""

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, "")

    def __call__(self, _logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
        second = int(time.time())
        last = self._last
        if last[0] != second:
            last = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
            self._last = last  # one tuple: threads logging at once never see a torn pair
        event_dict[_TIMESTAMP] = last[1]
        return event_dict


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif not char.isprintable() and char != " ":
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _format_value(value: object) -> str:
    if value is None:
        return "-"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "backslashreplace")
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return _escape(text) if _needs_quoting(text) else text


def render_kv(_logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
    """Render ``timestamp level event key=value ...`` on one line."""
    timestamp = str(event_dict.pop(_TIMESTAMP, ""))
    level = str(event_dict.pop(_LEVEL, method_name))
    event = str(event_dict.pop(_EVENT, ""))
    # The event is our own fixed text ("listening", "tls handshake failed"), so spaces are fine
    # there; anything that could be mistaken for a key=value pair or a line break is escaped.
    if not event or any(c in event for c in '"=\\') or not event.isprintable():
        event = _escape(event)
    parts = [timestamp, level, event] if timestamp else [level, event]
    for key in _FIRST_KEYS:
        if key in event_dict:
            parts.append(f"{key}={_format_value(event_dict.pop(key))}")
    parts.extend(f"{key}={_format_value(value)}" for key, value in event_dict.items())
    return " ".join(parts)


def _order_for_json(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    ordered: dict[str, Any] = {}
    for key in (_TIMESTAMP, _LEVEL, _EVENT, *_FIRST_KEYS):
        if key in event_dict:
            ordered[key] = event_dict.pop(key)
    ordered.update(event_dict)
    return ordered


def _json_dumps(obj: Mapping[str, Any], **kwargs: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def _drop_stdlib_meta(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("_record", None)
    event_dict.pop("_from_structlog", None)
    return event_dict


class _StdlibHandler(logging.Handler):
    """Routes stdlib ``logging`` records (asyncio's own warnings, libraries) through our renderer."""

    def __init__(self, writer: _LineWriter, level: int) -> None:
        super().__init__(level)
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.msg(self.format(record))
        except Exception:
            self.handleError(record)


def configure_logging(settings: LogSettings | None = None, *, stream: TextIO | None = None) -> None:
    """Configure structlog (and the stdlib root logger) from ``settings``.

    ``stream`` defaults to stderr, resolved at each write. Calling it again replaces the previous
    configuration (tests use this; the server calls it once at start-up).
    """
    settings = settings if settings is not None else LogSettings()
    level = _LEVELS[settings.level]
    writer = _LineWriter(stream)
    # Whole seconds in UTC, as in the examples operators know from other mail servers' logs.
    timestamper = _SecondStamper()
    renderer: Any
    if settings.format == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
        final: list[Any] = [_order_for_json, renderer]
    else:
        final = [render_kv]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        timestamper,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, *final],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_WriterFactory(writer),
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
        ],
        processors=[_drop_stdlib_meta, structlog.processors.format_exc_info, *final],
    )
    root = logging.getLogger()
    _remove_stdlib_handlers(root)
    handler = _StdlibHandler(writer, level)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    global _saved_root_level
    if _saved_root_level is None:
        _saved_root_level = root.level
    root.setLevel(level)


_saved_root_level: int | None = None


def _remove_stdlib_handlers(root: logging.Logger) -> None:
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)


def reset_logging() -> None:
    """Undo ``configure_logging`` (structlog defaults, stdlib root as before). For tests."""
    global _saved_root_level
    structlog.reset_defaults()
    root = logging.getLogger()
    _remove_stdlib_handlers(root)
    if _saved_root_level is not None:
        root.setLevel(_saved_root_level)
        _saved_root_level = None


def get_logger(**initial: Any) -> FilteringBoundLogger:
    """A bound logger; ``initial`` key/values are carried on every line it writes."""
    logger = cast(FilteringBoundLogger, structlog.get_logger())
    return logger.bind(**initial) if initial else logger


def new_connection_id() -> str:
    """A short, unique-enough id for one connection: 8 characters of [a-z2-7] (40 random bits)."""
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


def bind_worker(index: int) -> None:
    """Bind ``worker=<index>`` for the current task and those it starts (a supervised worker)."""
    structlog.contextvars.bind_contextvars(worker=index)


def bind_connection_id(conn_id: str) -> None:
    """Bind ``conn=<id>`` for the current task, so that module-level loggers used anywhere during the
    session (store, auth) carry it too. Each session runs in its own task, hence its own context."""
    structlog.contextvars.bind_contextvars(conn=conn_id)
