"""What the checks of one message found (``AuthResults``, typed: Sieve, DMARC and filters read it)
and its Authentication-Results field (RFC 8601; RFC 7601 is the text kept here, with the same
sections), written with the ``authres`` library.

RFC 7601 §5: a field that claims our authserv-id and did not come from us is a forgery: it is
removed before delivery (``claims``). Fields of other authserv-ids are left alone: they are
another ADMD's and readers trust them or not by their id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import authres
import authres.arc
import authres.dmarc

from pochta.mailauth.arc_verify import ArcResult
from pochta.mailauth.dkim_verify import DkimResult
from pochta.mailauth.dmarc import DmarcResult
from pochta.mailauth.dmarc_policy import Disposition
from pochta.mailauth.spf import SpfCheck

__all__ = ["AuthResults", "authentication_results_field", "claims"]

_HEADER_B_CHARS = 8  # RFC 6008 section 4: the start of b=, enough to tell signatures of one d= apart


@dataclass(frozen=True)
class AuthResults:
    """The results of one message's checks, in the order they ran, and what DMARC's policy
    makes of them (``disposition``: what delivery does)."""

    authserv_id: str
    dkim: tuple[DkimResult, ...] = field(default_factory=tuple)
    arc: ArcResult | None = None  # None: not checked (arc.verify off)
    spf: SpfCheck | None = None
    dmarc: DmarcResult | None = None
    disposition: Disposition | None = None

    def dkim_pass_domains(self) -> list[str]:
        """The d= of each passing signature (DMARC's DKIM alignment, RFC 7489 section 4.2)."""
        return [r.domain for r in self.dkim if r.result == "pass"]


def authentication_results_field(results: AuthResults) -> bytes:
    """The whole field, CRLF-terminated, to put at the top of the header (RFC 7601 §5)."""
    entries = []
    for one in results.dkim:
        if one.result == "none":
            entries.append(authres.DKIMAuthenticationResult(result="none"))
            continue
        properties = []
        if one.b:
            properties.append(authres.AuthenticationResultProperty("header", "b", one.b[:_HEADER_B_CHARS]))
        entries.append(
            authres.DKIMAuthenticationResult(
                result=one.result,
                header_d=one.domain or None,
                header_s=one.selector or None,
                header_a=one.algorithm or None,
                reason=one.reason[:200] or None,
                properties=properties,
            )
        )
    if results.arc is not None:
        entries.append(_arc_entry(results.arc))
    entries.extend(_spf_entries(results.spf))
    entries.extend(_dmarc_entries(results.dmarc, results.disposition))
    header = authres.AuthenticationResultsHeader(authserv_id=results.authserv_id, results=entries)
    text = str(header).replace("\r", " ").replace("\n", " ")
    return _fold(text).encode("utf-8") + b"\r\n"


def _arc_entry(arc: ArcResult) -> authres.AuthenticationResult:
    """RFC 8617 §6: arc= with header.oldest-pass (a pass) and smtp.remote-ip; the newest seal's
    domain and the chain's length as a comment, for a reader."""
    properties = []
    if arc.result == "pass" and arc.oldest_pass is not None:
        properties.append(authres.AuthenticationResultProperty("header", "oldest-pass", str(arc.oldest_pass)))
    if arc.remote_ip:
        properties.append(authres.AuthenticationResultProperty("smtp", "remote-ip", arc.remote_ip))
    comment = f"i={arc.instances} as.d={arc.domain}" if arc.instances and arc.domain else None
    return authres.arc.ARCAuthenticationResult(
        result=arc.result,
        result_comment=comment,
        reason=arc.reason[:200] or None,
        properties=properties,
    )


def _spf_entries(spf: SpfCheck | None) -> list[authres.SPFAuthenticationResult]:
    """RFC 7208 section 9.1 / RFC 8601 section 2.7.2: one spf result per identity checked,
    smtp.mailfrom=<sender> and smtp.helo=<domain>."""
    if spf is None:
        return []
    mailfrom = spf.mailfrom
    # A reason only for the errors: it says what the domain's owner must fix.
    reason = mailfrom.reason[:200] if mailfrom.result in ("permerror", "temperror") else ""
    entries = [
        authres.SPFAuthenticationResult(
            result=mailfrom.result, smtp_mailfrom=mailfrom.sender or None, reason=reason or None
        )
    ]
    if spf.helo is not None:
        entries.append(
            authres.SPFAuthenticationResult(result=spf.helo.result, smtp_helo=spf.helo.sender or None)
        )
    return entries


def _dmarc_entries(
    dmarc: DmarcResult | None, disposition: Disposition | None
) -> list[authres.dmarc.DMARCAuthenticationResult]:
    """RFC 7489 section 11.2: dmarc=<result> header.from=<domain>, with the published policy as
    policy.dmarc and, in a comment, what was done (as large receivers write it)."""
    if dmarc is None:
        return []
    comment = None
    if dmarc.record is not None:
        done = disposition.action if disposition is not None else "none"
        comment = f"p={dmarc.record.p} sp={dmarc.record.sp} dis={done}"
    reason = dmarc.reason[:200] if dmarc.result in ("temperror", "permerror") else ""
    return [
        authres.dmarc.DMARCAuthenticationResult(
            result=dmarc.result,
            result_comment=comment,
            header_from=dmarc.from_domain or None,
            policy=dmarc.policy if dmarc.record is not None else None,
            reason=reason or None,
        )
    ]


def _fold(text: str, width: int = 78) -> str:
    """Fold at the spaces between resinfo items and properties (RFC 5322 §2.2.3)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = "\t" + word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n".join(lines)


def _without_comments(value: str) -> str:
    out, depth, escaped = [], 0, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and depth:
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(char)
    return "".join(out)


def claims(value: bytes | str, authserv_id: str) -> bool:
    """Does this Authentication-Results field value (after the colon) name ``authserv_id``?"""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    head = _without_comments(text).split(";", 1)[0].split()
    # RFC 7601 §2.2: authserv-id is the first token (a version may follow); compared without case.
    return bool(head) and head[0].strip('"').lower().rstrip(".") == authserv_id.lower().rstrip(".")


def _fields(header: bytes) -> list[bytes]:
    """The header section cut into fields, each with its continuation lines (RFC 5322 §2.2.3)."""
    fields: list[bytes] = []
    for line in header.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def remove_claimed(header: bytes, authserv_id: str) -> tuple[bytes, int]:
    """``header`` (a header section, CRLF lines) without the Authentication-Results fields that
    claim ``authserv_id`` (RFC 7601 §5: forged, or ours from an earlier pass), and how many went."""
    kept: list[bytes] = []
    removed = 0
    for one in _fields(header):
        name, colon, value = one.partition(b":")
        if colon and name.strip().lower() == b"authentication-results" and claims(value, authserv_id):
            removed += 1
        else:
            kept.append(one)
    return b"".join(kept), removed
