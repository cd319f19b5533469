"""What is done with a message after DMARC: the disposition (RFC 7489 section 6.6.4 and 6.7), from
the policy the domain published, ``pct`` sampling, and local policy in ``[mailauth]``: per-domain
overrides (``dmarc_overrides``), an allowlist of trusted forwarders (``dmarc_allow``) and the
master switch ``dmarc_enforce``. Pure; the delivery pipeline carries it out (reject: 550 5.7.1 at
the end of DATA; quarantine: the recipient's Junk mailbox).

The reasons are those of the aggregate report's PolicyOverrideType (RFC 7489 appendix C), so the
domain's owner learns why its policy was not applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pochta.mailauth.dkim_verify import DkimResult
from pochta.mailauth.dmarc import DmarcResult
from pochta.mailauth.dmarc_record import Policy, organizational_domain
from pochta.mailauth.spf import SpfCheck

__all__ = ["Disposition", "decide"]

Override = Literal["", "local_policy", "trusted_forwarder", "sampled_out"]
# RFC 7489 section 6.6.4: a message not selected by pct= gets the next less strict policy.
_WEAKER: dict[Policy, Policy] = {"reject": "quarantine", "quarantine": "none", "none": "none"}


@dataclass(frozen=True)
class Disposition:
    action: Policy
    override: Override = ""
    comment: str = ""


def _find(domain: str, table: Iterable[str]) -> str | None:
    """The entry of ``table`` that is ``domain`` or a parent of it, the most specific first."""
    names = {name.lower().rstrip(".") for name in table}
    labels = domain.lower().rstrip(".").split(".")
    for start in range(len(labels)):
        candidate = ".".join(labels[start:])
        if candidate in names:
            return candidate
    return None


def _authenticated(spf: SpfCheck | None, dkim: Sequence[DkimResult]) -> list[str]:
    """The domains this message proves it comes from, whatever its From says."""
    out = [r.domain for r in dkim if r.result == "pass" and r.domain]
    if spf is not None and spf.mailfrom.result == "pass" and spf.mailfrom.domain:
        out.append(spf.mailfrom.domain)
    return out


def decide(
    result: DmarcResult,
    spf: SpfCheck | None,
    dkim: Sequence[DkimResult],
    *,
    overrides: Mapping[str, Policy],
    allow: Sequence[str],
    enforce: bool,
    sample: float,
) -> Disposition:
    """The disposition of a message. ``sample`` is a number in [0, 1) drawn for it (pct=)."""
    if result.result != "fail":
        return Disposition("none")  # pass, none, temperror, permerror: nothing is applied
    policy = result.policy
    override: Override = ""
    comment = ""
    matched = _find(result.from_domain, overrides) or _find(
        organizational_domain(result.from_domain), overrides
    )
    if matched is not None:
        wanted = {k.lower().rstrip("."): v for k, v in overrides.items()}[matched]
        if wanted != policy:
            policy, override, comment = wanted, "local_policy", f"dmarc_overrides for {matched}"
    elif result.record is not None and result.record.pct < 100 and sample * 100 >= result.record.pct:
        weaker = _WEAKER[policy]
        if weaker != policy:  # RFC 7489 section 6.6.4: not selected by pct=
            policy, override, comment = weaker, "sampled_out", f"pct={result.record.pct}"
    if policy != "none":
        for domain in _authenticated(spf, dkim):
            trusted = _find(domain, allow)
            if trusted is not None:
                # A forwarder or list we trust (authenticated by SPF or DKIM, never by From).
                return Disposition("none", "trusted_forwarder", f"dmarc_allow {trusted}")
    if policy != "none" and not enforce:
        return Disposition("none", "local_policy", "dmarc_enforce is off")
    return Disposition(policy, override, comment)
