"""Creating a data directory: config, certificate, store, first domain and (optionally) account.

Everything is built in a temporary sibling directory and renamed into place at the end, so a failure
at any step (bad option, full disk, SIGKILL) leaves either no data directory or a complete one, never
a half-initialised directory that a later `pochta serve` would trip over.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from pochta.auth.passwords import generate_password, hash_password, make_scram_credentials
from pochta.config import (
    CONFIG_FILE_NAME,
    LISTENER_KINDS,
    ConfigError,
    Settings,
    format_validation_error,
    resolve_path,
)
from pochta.durable import fsync_path, fsync_tree
from pochta.naming import normalize_address, normalize_domain
from pochta.queue import dkim_keys
from pochta.server.tls import ensure_certificate
from pochta.store.api import StoreError
from pochta.store.factory import open_store

SERVER_SECRET_FILE = "server-secret"  # noqa: S105 (a file name, not a secret)


def ensure_server_secret(data_dir: Path) -> bytes:
    """The data directory's random secret (created once, mode 0600).

    SCRAM answers unknown users with a fake salt derived from it, so the salt an attacker sees for
    a non-existent account is stable across restarts, like a real one (RFC 5802 §5.1 leaves
    indistinguishability to the server). App passwords are found by a digest keyed with it
    (``pochta.auth.passwords.app_password_lookup``): losing it makes them unusable, so it belongs in
    every backup. The server and the CLI may both create it: the first to publish it wins (a hard
    link never replaces), the other reads it.
    """
    path = data_dir / SERVER_SECRET_FILE
    return bytes.fromhex(_publish_once(path, os.urandom(32).hex() + "\n").strip())


def ensure_srs_secret(path: Path) -> None:
    """The SRS secret file (``srs.secret_file``): made once with a random secret, mode 0600, when
    missing (``init``, or the first start of a data directory made before SRS). An administrator
    rotates by adding a line at the top (docs/deliverability.md "SRS")."""
    _publish_once(path, "# SRS secrets: the first signs, every one verifies\n" + os.urandom(24).hex() + "\n")


def _publish_once(path: Path, text: str) -> str:
    """The file's text, writing ``text`` (fsync'ed, mode 0600) when it does not exist. The server
    and the CLI may both create it: the first to publish it wins (a hard link never replaces), the
    other reads it."""
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text(encoding="ascii")
    finally:
        os.unlink(tmp)
    return text


class InitError(Exception):
    """The data directory cannot be created as asked; nothing was changed."""


@dataclass(frozen=True)
class InitResult:
    data_dir: Path
    settings: Settings
    account: str | None
    password: str | None


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_config(settings: Settings) -> str:
    """The first config file: the values chosen at init, and pointers to everything else."""
    lines = [
        "# pochta configuration. Every key, its default and its limits: docs/configuration.md",
        "# (or `pochta config reference`). Check a change with `pochta config check`.",
        "",
        f"hostname = {_toml_string(settings.hostname)}",
        "",
        "[listeners]",
        '# name = "host:port", "[v6addr]:port", "/path/to/socket" (lmtp only) or "off".',
        "# Standard ports for production: smtp 25, submission 587, submissions 465, imap 143,",
        "# imaps 993, pop3 110, pop3s 995, managesieve 4190, http 80, https 443 (binding below 1024",
        "# needs privileges).",
    ]
    for name in LISTENER_KINDS:
        lines.append(f"{name} = {_toml_string(settings.listeners[name])}")
    lines += [
        "",
        "[tls]",
        "# A certificate from your CA replaces the self-signed one created at init.",
        f"certificate = {_toml_string(settings.tls.certificate)}",
        f"key = {_toml_string(settings.tls.key)}",
        "",
    ]
    if settings.store.url:
        lines += [
            "[store]",
            "# The database of this installation (docs/scaling.md); blob files stay in blobs/ here.",
            f"url = {_toml_string(settings.store.url)}",
            "",
        ]
    return "\n".join(lines)


def build_settings(hostname: str, listen: dict[str, str], config_path: Path, store_url: str = "") -> Settings:
    values: dict[str, object] = {"hostname": hostname, "listeners": listen}
    if store_url:
        values["store"] = {"url": store_url}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(config_path, exc)) from None


async def _create_store(
    workdir: Path, settings: Settings, domain: str, account: str | None, password: str | None
) -> None:
    try:
        store = await open_store(workdir, settings)
    except StoreError as exc:  # an unreachable PostgreSQL server, psycopg missing
        raise InitError(str(exc)) from None
    try:
        if settings.store.url and await store.get_domain(domain) is not None:
            # A database another data directory already set up: init would change it, and could
            # not take that back. A further node copies the first one's data directory instead.
            raise InitError(
                f"the database of [store] url already holds the domain {domain}: to run another "
                "node on it, copy the first node's data directory (its config, server-secret and "
                "certificate; docs/scaling.md)"
            )
        await store.add_domain(domain)
        await dkim_keys.first_keys(store, domain, settings.dkim)
        if account is not None and password is not None:
            password_hash = await asyncio.to_thread(hash_password, password)
            scram = await asyncio.to_thread(make_scram_credentials, password)
            await store.add_account(account, password_hash, scram)
    finally:
        await store.close()


def initialise(
    data_dir: Path,
    *,
    domain: str,
    hostname: str | None = None,
    listen: dict[str, str] | None = None,
    account: str | None = None,
    store_url: str = "",
) -> InitResult:
    """Create a complete data directory, or raise InitError/ConfigError having changed nothing."""
    domain_name = normalize_domain(domain)
    settings = build_settings(hostname or domain_name, listen or {}, data_dir / CONFIG_FILE_NAME, store_url)
    account_address = normalize_address(account) if account else None
    if account_address is not None and account_address.rpartition("@")[2] != domain_name:
        raise InitError(f"the first account {account_address} must be in the domain {domain_name}")
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise InitError(f"{data_dir} already exists and is not empty; refusing to overwrite it")

    parent = data_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.init-", dir=parent))
    password = generate_password() if account_address else None
    try:
        os.chmod(workdir, 0o700)  # holds the TLS key and password hashes
        (workdir / CONFIG_FILE_NAME).write_text(render_config(settings), encoding="utf-8")
        ensure_server_secret(workdir)
        ensure_srs_secret(resolve_path(workdir, settings.srs.secret_file))
        ensure_certificate(
            resolve_path(workdir, settings.tls.certificate),
            resolve_path(workdir, settings.tls.key),
            settings.hostname,
        )
        asyncio.run(_create_store(workdir, settings, domain_name, account_address, password))
        fsync_tree(workdir)
        if data_dir.exists():
            data_dir.rmdir()  # empty, checked above; rename cannot replace a directory otherwise
        os.rename(workdir, data_dir)
        fsync_path(parent)  # the rename itself must survive a power cut, not only the files
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return InitResult(data_dir, settings, account_address, password)
