"""`pochta tls status|renew`: the server's certificate and its ACME renewal (docs/certificates.md).
When and how a certificate is obtained is ``pochta.acme``'s; these commands show and trigger it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography import x509

from pochta.acme import AcmeFailed, AcmeState, CertificateManager, certificate_names
from pochta.cli.common import CommandFailed, data_option, with_store_and_data_dir
from pochta.config import Settings
from pochta.store.api import Store


def _when(epoch: float) -> str:
    return "never" if not epoch else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _describe(path: Path) -> list[str]:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return [f"certificate: {path}: none yet"]
    except ValueError:
        return [f"certificate: {path}: not a PEM certificate"]
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        covered = ", ".join(names.get_values_for_type(x509.DNSName)) or "-"
    except x509.ExtensionNotFound:
        covered = "-"
    self_signed = certificate.issuer == certificate.subject
    issuer = "self-signed" if self_signed else certificate.issuer.rfc4514_string()
    return [
        f"certificate: {path}",
        f"  names: {covered}",
        f"  issuer: {issuer}",
        f"  valid until: {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
    ]


async def _domain_names(store: Store) -> list[str]:
    return [domain.name for domain in await store.list_domains()]


@click.group()
def tls() -> None:
    """The server's TLS certificate and its renewal by ACME (RFC 8555)."""


@tls.command("status")
@data_option
@with_store_and_data_dir
async def tls_status(store: Store, settings: Settings, data_dir: Path) -> None:
    """The certificate the listeners use, and what ACME did and will do."""
    manager = CertificateManager(data_dir, settings)
    for line in _describe(manager.cert_path):
        click.echo(line)
    if not settings.tls.acme:
        click.echo("acme: off (tls.acme = false)")
        return
    domains = await _domain_names(store)
    state = AcmeState.load(data_dir)
    click.echo(f"acme: {settings.tls.acme_directory}")
    click.echo(f"  wanted names: {', '.join(certificate_names(settings, domains))}")
    click.echo(f"  last attempt: {_when(state.last_attempt)}; last success: {_when(state.last_success)}")
    if state.last_error:
        click.echo(f"  last error: {state.last_error}")
    for name, why in (state.skipped or {}).items():
        click.echo(f"  left out: {name}: {why}")
    reason = manager.due(domains)
    click.echo(f"  renewal: {'due: ' + reason if reason else 'not due'}")


@tls.command("renew")
@data_option
@click.option("--force", is_flag=True, help="Obtain a new certificate even if the present one is fine.")
@with_store_and_data_dir
async def tls_renew(store: Store, settings: Settings, data_dir: Path, force: bool) -> None:
    """Obtain the certificate now. The running server answers the http-01 challenges (its `http`
    listener must be reachable on port 80 under every name) and loads the new files within
    tls.reload_check_interval seconds."""
    if not settings.tls.acme:
        raise CommandFailed("ACME is off: set tls.acme = true in pochta.toml (docs/certificates.md)")
    manager = CertificateManager(data_dir, settings)
    domains = await _domain_names(store)
    reason = manager.due(domains)
    if reason is None and not force:
        click.echo("the certificate is fine; nothing to do (--force obtains a new one anyway)")
        return
    try:
        issued = await asyncio.to_thread(manager.obtain, domains)
    except AcmeFailed as exc:
        raise CommandFailed(f"ACME failed: {exc}") from None
    click.echo(f"certificate installed for {', '.join(issued.names)}")
    for name, why in issued.failed.items():
        click.echo(f"left out {name}: {why}")


def register_tls_commands(main: click.Group) -> None:
    main.add_command(tls)
