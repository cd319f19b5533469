"""A loopback DNS server for tests: answers from a dict, over UDP on 127.0.0.1, never forwards.

    zone = {
        ("example.net.", "MX"): ["10 mx1.example.net.", "20 mx2.example.net."],
        ("mx1.example.net.", "A"): ["127.0.0.1"],
        ("www.example.net.", "CNAME"): ["mx1.example.net."],
    }
    async with DnsStub(zone, servfail={"broken.example."}, silent={"slow.example."}) as dns:
        settings = RouteSettings(nameservers=[dns.nameserver])
        ...
        assert ("example.net.", "MX") in dns.queries

Answers, per question (name matched case-insensitively, absolute with the trailing dot):
- name, or (name, type), in `silent`: no answer at all (the client times out);
- name, or (name, type), in `servfail`: SERVFAIL;
- (name, type) in the zone: NOERROR with those records (rdata in zone-file text, as for
  `dns.rrset.from_text`);
- name has a CNAME in the zone (and the question is not for CNAME): the CNAME, then the answer for its
  target, followed within the zone (as a recursive resolver returns it);
- name has records of other types only: NOERROR with an empty answer (dnspython's NoAnswer);
- otherwise: NXDOMAIN.

`secure` (True: every answer; or names / (name, type) pairs) sets the AD bit on those answers, as a
DNSSEC-validating resolver does for signed data (nothing is signed: it is the resolver's word that
DANE trusts).

`zone`, `servfail` and `silent` may be changed while the server runs. `queries` lists each question
received as (name, type), lower-case name with its trailing dot, in arrival order. Records go out in zone
order (no round-robin). UDP only: answers are small and never truncated. The server binds only `host`
(127.0.0.1 or ::1) on port 0 (a free port).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

Zone = Mapping[tuple[str, str], Sequence[str]]
Match = str | tuple[str, str]  # a name (every type) or a (name, type) pair


def _absolute(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _match(entry: Match) -> Match:
    return _absolute(entry) if isinstance(entry, str) else (_absolute(entry[0]), entry[1].upper())


class DnsStub(asyncio.DatagramProtocol):
    """Authoritative-looking answers from `zone`; see the module docstring."""

    def __init__(
        self,
        zone: Zone,
        *,
        servfail: Iterable[Match] = (),
        silent: Iterable[Match] = (),
        ttl: int = 300,
        host: str = "127.0.0.1",
        secure: bool | Iterable[Match] = False,
    ) -> None:
        self.zone: dict[tuple[str, str], list[str]] = {
            (_absolute(name), rdtype.upper()): list(records) for (name, rdtype), records in zone.items()
        }
        self.servfail = {_match(entry) for entry in servfail}
        self.silent = {_match(entry) for entry in silent}
        self.secure: bool | set[Match] = secure if isinstance(secure, bool) else {_match(e) for e in secure}
        self.queries: list[tuple[str, str]] = []
        self.host = host
        self.port = 0
        self._ttl = ttl
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def nameserver(self) -> str:
        """This server as a RouteSettings.nameservers entry: "127.0.0.1:5353" or "[::1]:5353"."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def __aenter__(self) -> DnsStub:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return  # not DNS: ignore, as a real server would
        if len(query.question) != 1:
            return
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if self._transport is None or name in self.silent or (name, rdtype) in self.silent:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        if self.secure is True or (
            isinstance(self.secure, set) and (name in self.secure or (name, rdtype) in self.secure)
        ):
            response.flags |= dns.flags.AD
        if name in self.servfail or (name, rdtype) in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            response.set_rcode(self._answer(response, name, rdtype))
        # want_shuffle=False: records go out in zone order, so tests can assert address order.
        self._transport.sendto(response.to_wire(want_shuffle=False), addr)

    def _answer(self, response: dns.message.Message, name: str, rdtype: str) -> dns.rcode.Rcode:
        for _ in range(8):  # follow CNAMEs inside the zone, with a bound against loops
            if (name, rdtype) in self.zone:
                response.answer.append(self._rrset(name, rdtype))
                return dns.rcode.NOERROR
            if rdtype != "CNAME" and (name, "CNAME") in self.zone:
                cname = self._rrset(name, "CNAME")
                response.answer.append(cname)
                name = _absolute(cname[0].to_text())
                continue
            break
        known = any(owner == name for owner, _ in self.zone)
        return dns.rcode.NOERROR if known else dns.rcode.NXDOMAIN

    def _rrset(self, name: str, rdtype: str) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(name, self._ttl, "IN", rdtype, self.zone[(name, rdtype)])


class DnsStubThread:
    """A DnsStub on an event loop of its own thread, so that it answers while a test blocks (on
    HTTP, a browser, a stdlib client); ``stub`` is the running DnsStub, ``close()`` stops it."""

    def __init__(self, zone: Mapping[tuple[str, str], Sequence[str]] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stub = asyncio.run_coroutine_threadsafe(self._start(dict(zone or {})), self.loop).result(10)

    async def _start(self, zone: dict[tuple[str, str], Sequence[str]]) -> DnsStub:
        return await DnsStub(zone).__aenter__()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stub.__aexit__(None, None, None), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
