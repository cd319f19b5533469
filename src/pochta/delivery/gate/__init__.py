"""The MX gate: DNS blocklists and allowlists, greylisting and connection-level checks for clients
outside ``trusted_networks`` (docs/antispam.md). The SMTP handler asks a ``GateSession``
at connect, HELO, MAIL and RCPT; the logic lives here."""

from pochta.delivery.gate.gate import Gate
from pochta.delivery.gate.limits import MxLimits
from pochta.delivery.gate.session import GateSession

__all__ = ["Gate", "GateSession", "MxLimits"]
