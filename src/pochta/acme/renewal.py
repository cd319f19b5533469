"""When the certificate needs ACME, obtaining it, and putting it where the listeners read it.

``due`` says why a certificate must be (re)obtained: there is none, it is self-signed (the first
run's), it lacks a wanted name, or it expires within ``tls.acme_renew_days``. ``CertificateManager``
runs one order and installs the result atomically (key first, then the chain: a reader that sees
the new chain finds its key already there), records the outcome in ``acme/state.json`` for `pochta
tls status`, and ``renew_periodically`` does that in the housekeeper (exactly one process of a data
directory). Every worker reloads the files when they change (``server.tls.watch_certificate``).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509

from pochta.acme.account import account_key
from pochta.acme.challenges import ChallengeFiles
from pochta.acme.order import AcmeFailed, Issued, OrderRequest, place_order
from pochta.config import Settings, resolve_path
from pochta.durable import write_atomically
from pochta.log import get_logger

__all__ = ["AcmeState", "CertificateManager", "certificate_names", "due", "renew_periodically"]

STATE_FILE = Path("acme") / "state.json"
# How often the housekeeper looks at the certificate when nothing is due: expiry is days away,
# but a domain added meanwhile wants its mta-sts/autoconfig names soon.
_CHECK_INTERVAL = 3600.0
# A name whose challenge failed is asked for again after a day (its DNS may have been fixed), not
# at every check: each failed validation counts against the ACME server's rate limits.
_SKIPPED_RETRY = 86400.0


def certificate_names(settings: Settings, domains: Sequence[str]) -> list[str]:
    """What the certificate covers: the hostname first (it must validate), then the configured extra
    names, then each local domain's MTA-STS policy host and autoconfig host."""
    names = [settings.hostname, *settings.tls.acme_names]
    if settings.tls.acme_service_names:
        for domain in domains:
            names += [f"mta-sts.{domain}", f"autoconfig.{domain}"]
    return list(dict.fromkeys(name.lower().rstrip(".") for name in names))


def _dns_names(certificate: x509.Certificate) -> set[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return {name.lower() for name in extension.value.get_values_for_type(x509.DNSName)}


def due(
    cert_path: Path,
    names: Sequence[str],
    renew_days: int,
    skipped: Sequence[str] = (),
    now: float | None = None,
) -> str | None:
    """Why the certificate at ``cert_path`` must be obtained again, or None when it is fine.
    ``skipped``: names that failed validation last time and are not asked for again before renewal."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except FileNotFoundError:
        return "no certificate"
    except ValueError:
        return "the certificate file cannot be read"
    if certificate.issuer == certificate.subject:
        return "the certificate is self-signed"
    missing = [n for n in names if n not in _dns_names(certificate) and n not in skipped]
    if missing:
        return "the certificate does not cover " + ", ".join(missing)
    moment = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.UTC)
    left = certificate.not_valid_after_utc - moment
    if left < datetime.timedelta(days=renew_days):
        return f"the certificate expires in {max(left.days, 0)} days"
    return None


@dataclass
class AcmeState:
    """What the last ACME attempt did (``acme/state.json``)."""

    last_attempt: float = 0.0
    last_success: float = 0.0
    last_error: str = ""
    names: tuple[str, ...] = ()
    skipped: dict[str, str] | None = None  # names left out at the last success, with the reason

    @classmethod
    def load(cls, data_dir: Path) -> AcmeState:
        try:
            raw = json.loads((data_dir / STATE_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return cls()
        return cls(
            last_attempt=float(raw.get("last_attempt", 0)),
            last_success=float(raw.get("last_success", 0)),
            last_error=str(raw.get("last_error", "")),
            names=tuple(raw.get("names", ())),
            skipped=dict(raw.get("skipped") or {}),
        )

    def save(self, data_dir: Path) -> None:
        path = data_dir / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(asdict(self), indent=1).encode(), 0o644)


class CertificateManager:
    """ACME for one data directory and its settings."""

    def __init__(self, data_dir: Path, settings: Settings) -> None:
        self.data_dir = data_dir
        self.settings = settings
        tls = settings.tls
        self.cert_path = resolve_path(data_dir, tls.certificate)
        self.key_path = resolve_path(data_dir, tls.key)

    def due(self, domains: Sequence[str], now: float | None = None) -> str | None:
        state = AcmeState.load(self.data_dir)
        names = certificate_names(self.settings, domains)
        moment = time.time() if now is None else now
        skipped = list(state.skipped or {}) if moment - state.last_success < _SKIPPED_RETRY else []
        return due(self.cert_path, names, self.settings.tls.acme_renew_days, skipped, moment)

    def obtain(self, domains: Sequence[str]) -> Issued:
        """Run one order (blocking) and install what it gives; AcmeFailed when nothing was issued."""
        tls = self.settings.tls
        request = OrderRequest(
            directory=tls.acme_directory,
            names=certificate_names(self.settings, domains),
            email=tls.acme_email,
            ca_file=str(resolve_path(self.data_dir, tls.acme_ca_file)) if tls.acme_ca_file else None,
            key_type=tls.acme_key_type,
        )
        state = AcmeState.load(self.data_dir)
        state.last_attempt = time.time()
        try:
            issued = place_order(request, account_key(self.data_dir), ChallengeFiles(self.data_dir))
        except AcmeFailed as exc:
            state.last_error = str(exc)
            state.save(self.data_dir)
            raise
        self.install(issued)
        state.last_success, state.last_error = state.last_attempt, ""
        state.names, state.skipped = issued.names, issued.failed
        state.save(self.data_dir)
        return issued

    def install(self, issued: Issued) -> None:
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        self.cert_path.parent.mkdir(parents=True, exist_ok=True)
        # Key first: a process reloading between the two writes must not pair the old chain with a
        # new key; it pairs the new key with the old chain, fails, keeps its previous context, and
        # the next check loads the matching pair.
        write_atomically(self.key_path, issued.key_pem, 0o600)
        write_atomically(self.cert_path, issued.fullchain_pem, 0o644)


async def renew_periodically(
    manager: CertificateManager,
    domains: Callable[[], Awaitable[Sequence[str]]],
    installed: Callable[[], None],
) -> None:
    """In the housekeeper, until cancelled: obtain the certificate whenever ``due`` says so (at once
    at start), waiting ``tls.acme_retry`` after a failure. ``domains`` is an async callable giving
    the local domain names; ``installed`` reloads this process's TLS context at once."""
    log = get_logger(task="acme")
    while True:
        wait = _CHECK_INTERVAL
        try:
            names = await domains()
            reason = manager.due(names)
            if reason is not None:
                log.info(
                    "obtaining a certificate", reason=reason, directory=manager.settings.tls.acme_directory
                )
                issued = await asyncio.to_thread(manager.obtain, names)
                installed()
                log.info("certificate installed", names=",".join(issued.names))
                for name, why in issued.failed.items():
                    log.warning("name left out of the certificate", name=name, reason=why)
        except AcmeFailed as exc:
            log.error("ACME failed", error=str(exc))
            wait = manager.settings.tls.acme_retry
        except Exception as exc:  # keep serving with the certificate we have; try again later
            log.error("ACME failed", error=repr(exc))
            wait = manager.settings.tls.acme_retry
        await asyncio.sleep(wait)
