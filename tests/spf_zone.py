"""Drive the pure SPF evaluator from a zone in a dict (no DNS server): the test side of
``spf_eval.check_host``'s yield/send protocol, recording the questions asked."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from pochta.mailauth.spf_eval import Answered, Query, SpfOutcome, SpfRequest, check_host

TIMEOUT = "TIMEOUT"  # a name (or a (name, type)) whose questions time out
Zone = Mapping[tuple[str, str], Sequence[str]]


class ZoneAnswers:
    def __init__(self, zone: Zone, timeouts: Sequence[str | tuple[str, str]] = ()) -> None:
        self.zone = {
            (name.lower().rstrip("."), rrtype): list(records) for (name, rrtype), records in zone.items()
        }
        self.timeouts = {t.lower() if isinstance(t, str) else (t[0].lower(), t[1]) for t in timeouts}
        self.asked: list[Query] = []

    def answer(self, query: Query) -> Answered:
        self.asked.append(query)
        name = query.name.lower().rstrip(".")
        if name in self.timeouts or (name, query.rrtype) in self.timeouts:
            return Answered("temperror")
        records = self.zone.get((name, query.rrtype))
        if not records:
            return Answered("none")
        return Answered("found", tuple(records))


def run_spf(
    zone: Zone,
    ip: str,
    sender: str,
    helo: str = "mail.example.com",
    *,
    timeouts: Sequence[str | tuple[str, str]] = (),
    receiver: str = "mx.example.org",
) -> tuple[SpfOutcome, ZoneAnswers]:
    """check_host() for MAIL FROM ``sender`` ("" = null: postmaster@helo) from ``ip``."""
    answers = ZoneAnswers(zone, timeouts)
    if not sender:
        sender = f"postmaster@{helo}"
    local, _, domain = sender.rpartition("@")
    request = SpfRequest(
        ipaddress.ip_address(ip), domain, f"{local or 'postmaster'}@{domain}", helo, receiver, 1700000000
    )
    evaluation = check_host(request)
    try:
        query = next(evaluation)
        while True:
            query = evaluation.send(answers.answer(query))
    except StopIteration as done:
        return done.value, answers
