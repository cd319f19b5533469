"""SIGHUP: read ``pochta.toml`` again, check it, apply what can apply at once, name what cannot.

The new file passes the same checks as at start (``preflight.check_settings``, without binding);
if it does not, the running configuration stays and each problem is logged with its key. Otherwise
every changed key is logged, either ``config changed`` (new sessions use the new value) or
``config change needs a restart`` (the running value stays until the next start: sockets, the store,
the queue worker and the metrics endpoint were set up with it). Sessions already open keep what
they started with (their limits were handed to their protocol core at the greeting).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from pochta.config import CONFIG_FILE_NAME, ConfigError, Settings, load_settings
from pochta.log import get_logger
from pochta.server.preflight import check_settings

__all__ = ["RESTART_KEYS", "Change", "Reconfigurable", "Reloader", "changes", "keep_restart_values"]

_KEY = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z0-9_.-]+)*")

# Keys (or whole sections) fixed at start. Everything else applies to new sessions at once.
RESTART_KEYS = (
    "hostname",  # greeting names, Received, the queue worker's HELO and its local-name check
    "listeners",  # sockets
    "tls.handshake_timeout",  # part of each listener's connection options
    "server.idle_timeout_unauthenticated",  # likewise
    "store",  # the open store and its housekeeping task
    "search",  # the indexer: a housekeeping task with the settings it started with
    "metrics",  # the endpoint's socket
    "queue",  # the worker, its router and resolver
)


@runtime_checkable
class Reconfigurable(Protocol):
    """A part of the running server that takes new settings for the sessions it starts next."""

    def reconfigure(self, settings: Settings) -> None: ...


@dataclass(frozen=True)
class Change:
    key: str
    old: Any
    new: Any

    @property
    def needs_restart(self) -> bool:
        return any(self.key == k or self.key.startswith(k + ".") for k in RESTART_KEYS)


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _flatten(getattr(value, name), f"{prefix}{name}.", out)
    elif isinstance(value, dict) and prefix == "listeners.":
        for name, item in value.items():
            out[f"{prefix}{name}"] = item
    else:
        out[prefix.rstrip(".")] = value


def changes(old: Settings, new: Settings) -> list[Change]:
    """Every key whose value differs, in the order of the model (listeners one by one)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flatten(old, "", before)
    _flatten(new, "", after)
    return [
        Change(key, before.get(key), after.get(key))
        for key in dict.fromkeys([*before, *after])
        if before.get(key) != after.get(key)
    ]


def keep_restart_values(old: Settings, new: Settings) -> Settings:
    """``new``, except that every key needing a restart keeps its running (``old``) value."""
    update: dict[str, Any] = {}
    for name in Settings.model_fields:
        old_value, new_value = getattr(old, name), getattr(new, name)
        if Change(name, None, None).needs_restart:
            update[name] = old_value
        elif isinstance(new_value, BaseModel):
            kept = {
                field: getattr(old_value, field)
                for field in type(new_value).model_fields
                if Change(f"{name}.{field}", None, None).needs_restart
            }
            update[name] = new_value.model_copy(update=kept) if kept else new_value
    return new.model_copy(update=update)


def _short(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


class Reloader:
    """Owns the running settings of ``pochta serve`` and replaces them on ``reload()``."""

    def __init__(self, data_dir: Path, settings: Settings, apply: Callable[[Settings], None]) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self._apply = apply

    def reload(self) -> bool:
        """Read, check and apply the config file; False (and the old config kept) if it is bad."""
        log = get_logger()
        path = self.data_dir / CONFIG_FILE_NAME
        try:
            new = load_settings(path)
        except ConfigError as exc:
            for line in str(exc).splitlines():
                # "FILE: key: problem" (a bad value) or "FILE: problem" (TOML syntax, unreadable)
                rest = line.removeprefix(f"{path}: ")
                key, _, message = rest.partition(": ")
                if _KEY.fullmatch(key) and message:
                    log.error("config reload failed, running configuration kept", key=key, error=message)
                else:
                    log.error("config reload failed, running configuration kept", file=str(path), error=rest)
            return False
        problems = check_settings(self.data_dir, new, bind=False)
        for problem in problems:
            log.error(
                "config reload failed, running configuration kept", key=problem.key, error=problem.message
            )
        if problems:
            return False
        diff = changes(self.settings, new)
        for change in diff:
            if change.needs_restart:
                log.warning(
                    "config change needs a restart",
                    key=change.key,
                    running=_short(change.old),
                    new=_short(change.new),
                )
            else:
                log.info("config changed", key=change.key, old=_short(change.old), new=_short(change.new))
        effective = keep_restart_values(self.settings, new)
        self._apply(effective)
        self.settings = effective
        restart = sum(change.needs_restart for change in diff)
        log.info("config reloaded", changed=len(diff) - restart, needs_restart=restart)
        return True
