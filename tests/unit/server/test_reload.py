"""What a reload applies at once and what it keeps until a restart (server/reload.py)."""

from __future__ import annotations

from pochta.config import Settings
from pochta.server.reload import Change, changes, keep_restart_values


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


def test_changes_name_each_key_and_each_listener() -> None:
    old = settings()
    new = settings(
        listeners={"imap": "127.0.0.1:143", "pop3": "off"},
        limits={"max_recipients": 5},
        tls={"certificate": "other.pem"},
    )
    assert [(c.key, c.needs_restart) for c in changes(old, new)] == [
        ("listeners.imap", True),
        ("listeners.pop3", True),
        ("tls.certificate", False),
        ("limits.max_recipients", False),
    ]
    assert changes(old, settings()) == []


def test_restart_keys_keep_their_running_value() -> None:
    old = settings(queue={"concurrency": 3})
    new = settings(
        hostname="mail.example.org",
        listeners={"imap": "127.0.0.1:143"},
        server={"idle_timeout_unauthenticated": 5.0, "max_connections": 7},
        queue={"concurrency": 9},
        login={"delay_max": 1.0},
    )
    kept = keep_restart_values(old, new)
    assert kept.hostname == "localhost"
    assert kept.listeners == old.listeners
    assert kept.server.idle_timeout_unauthenticated == old.server.idle_timeout_unauthenticated
    assert kept.queue.concurrency == 3
    assert kept.server.max_connections == 7  # applied at once
    assert kept.login.delay_max == 1.0
    assert changes(kept, new) == [c for c in changes(old, new) if c.needs_restart]


def test_restart_classification() -> None:
    assert Change("store.busy_timeout", 1, 2).needs_restart
    assert Change("search.index_batch", 100, 50).needs_restart
    assert Change("metrics.listen", "off", "127.0.0.1:9").needs_restart
    assert not Change("log.level", "info", "debug").needs_restart
    assert not Change("smtp.sender_policy", "strict", "off").needs_restart
