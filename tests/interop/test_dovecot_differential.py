"""Differential test against Dovecot: the same messages, delivered to both servers over LMTP (RFC
2033), must give the same FETCH ENVELOPE, BODYSTRUCTURE and BODY[section] answers, item by item.

Debian's Dovecot (dovecot-imapd, dovecot-lmtpd) is started by hand with its own configuration in a
temporary directory (tests/dovecot_env.py: ``dovecot -F -c CONFIG``, stopped by its PID), LMTP and
IMAP on free loopback ports, mail in a Maildir under the same directory. pochta runs in-process
(tests/imap_env.py) with an LMTP and an IMAP listener on one store. Every message of the shared
corpus (``../shared/corpus`` beside the repository) and of ``tests/corpus/mime`` is delivered to
both, in the same order; both answers are read with imaplib and parsed into Python lists before they
are compared.

Where pochta answers differently on purpose, the difference is one entry of ``DELIBERATE`` below,
with its reason; docs/imap.md ("Differences from Dovecot") describes the same list. Any other
difference fails the test.
"""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path
from typing import Any

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, ImapEnv, fetch_items, imap_server, imap_settings
from shared_dir import corpus_messages, shared_path

pytestmark = pytest.mark.interop


SHARED_CORPUS = shared_path("corpus", "POCHTA_SHARED_CORPUS")
MAX_SECTIONS = 80  # per message: enough for every corpus message, bounded for a hostile one


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap", "lmtp"), password=PASSWORD)


# -- fetching --------------------------------------------------------------------------------------


def _is_message(part: list[Any]) -> bool:
    return (
        isinstance(part[0], str) and part[0].lower() == "message"
        and str(part[1]).lower() in ("rfc822", "global") and len(part) > 8
    )  # fmt: skip


def sections(structure: list[Any]) -> list[str]:
    """Every section a client can name from a BODYSTRUCTURE (RFC 9051 §6.4.5.1), in order."""
    out = ["HEADER", "TEXT"]
    stack: list[tuple[str, list[Any]]] = [("", structure)]
    while stack:
        prefix, part = stack.pop()
        if isinstance(part[0], list):  # multipart: its children (lists) come before the subtype
            children = list(takewhile(lambda item: isinstance(item, list), part))
            numbers = [f"{prefix}{index}" for index in range(1, len(children) + 1)]
            for number in numbers:
                out += [number, number + ".MIME"]
            stack.extend(
                (number + ".", child)
                for number, child in reversed(list(zip(numbers, children, strict=False)))
            )
            continue
        if not prefix:
            out.append("1")  # a message that is not multipart has the single part 1
        if _is_message(part):
            number = prefix.rstrip(".") or "1"  # a message/rfc822 message: its part 1 is the inner one
            out += [number + ".HEADER", number + ".TEXT"]
            inner = part[8]
            if isinstance(inner[0], list):
                stack.append((number + ".", inner))
            else:
                out.append(number + ".1")
    return out[:MAX_SECTIONS]


def _deliver(port: int, recipient: str, messages: list[tuple[str, bytes]]) -> list[str]:
    """Deliver each message on its own LMTP connection; the outcome of each ("ok" or the error)."""
    outcomes = []
    for _, data in messages:
        try:
            with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("sender@example.net", [recipient], data)
            outcomes.append("ok")
        except smtplib.SMTPException as exc:
            outcomes.append(repr(exc))
    return outcomes


def _answers(host: str, port: int, count: int) -> list[dict[str, Any]]:
    with imaplib.IMAP4(host, port, timeout=30) as client:
        client.login(ALICE, PASSWORD)
        typ, data = client.select("INBOX", readonly=True)
        assert typ == "OK", data
        assert int(data[0] or 0) == count, data
        return [fetch_items(client, number, "ENVELOPE BODYSTRUCTURE") for number in range(1, count + 1)]


def _sections(host: str, port: int, wanted: list[list[str]]) -> list[dict[str, Any]]:
    with imaplib.IMAP4(host, port, timeout=30) as client:
        client.login(ALICE, PASSWORD)
        client.select("INBOX", readonly=True)
        return [
            fetch_items(client, number, " ".join(f"BODY.PEEK[{section}]" for section in names))
            for number, names in enumerate(wanted, 1)
        ]


# -- comparing -------------------------------------------------------------------------------------

_TRACE = ("received:", "return-path:", "delivered-to:")


def _without_trace(header: str) -> str:
    """A top-level header without the trace fields each server prepends at delivery."""
    lines = header.split("\r\n")
    while lines and (lines[0].lower().startswith(_TRACE) or (lines[0][:1] in (" ", "\t"))):
        lines.pop(0)
    return "\r\n".join(lines)


@dataclass(frozen=True)
class Deliberate:
    """A deliberate difference. ``explain(message, item, ours, theirs)`` returns both answers with
    this difference taken out (equal when it was the only one). docs/imap.md, "Differences from
    Dovecot", describes the same list."""

    name: str
    reason: str
    explain: Callable[[str, str, Any, Any], tuple[Any, Any]]


def normalising(change: Callable[[str, Any], Any]) -> Callable[[str, str, Any, Any], tuple[Any, Any]]:
    return lambda _message, item, ours, theirs: (change(item, ours), change(item, theirs))


def for_messages(
    *names: str, items: tuple[str, ...] = ("BODYSTRUCTURE", "BODY[")
) -> Callable[[str, str, Any, Any], tuple[Any, Any]]:
    """The differences of the named corpus messages in the named items (by prefix)."""

    def explain(message: str, item: str, ours: Any, theirs: Any) -> tuple[Any, Any]:
        return (theirs, theirs) if message in names and item.startswith(items) else (ours, theirs)

    return explain


_EMPTY_ELEMENT = [None, None, "MISSING_MAILBOX", "MISSING_DOMAIN"]


def _address_lists(_message: str, item: str, ours: Any, theirs: Any) -> tuple[Any, Any]:
    """Dovecot stops reading an address list at the first element it cannot parse and shows an
    empty element as a MISSING_MAILBOX placeholder: its list is then a prefix of ours."""
    if item != "ENVELOPE" or not isinstance(ours, list) or not isinstance(theirs, list):
        return ours, theirs
    ours = list(ours)
    for index in range(2, 8):
        mine, their = ours[index], theirs[index]
        if isinstance(mine, list) and isinstance(their, list):
            kept = [address for address in their if address != _EMPTY_ELEMENT]
            if mine[: len(kept)] == kept:
                ours[index] = their
    return ours, theirs


def _strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, list):
        return [_strings(item, change) for item in value]
    return change(value) if isinstance(value, str) else value


def _latin1(text: str) -> str:
    """A string that came as 8-bit octets that are not UTF-8, read as Latin-1 like pochta does."""
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _header_charset(item: str, value: Any) -> Any:
    if item in ("ENVELOPE", "BODYSTRUCTURE"):
        return _strings(value, _latin1)
    return value


def _params(params: Any, change: Callable[[list[Any]], list[Any]]) -> Any:
    if not isinstance(params, list):
        return params
    return change(params)


def _lower_names(params: list[Any]) -> list[Any]:
    return [
        item.lower() if index % 2 == 0 and isinstance(item, str) else item
        for index, item in enumerate(params)
    ]


def _disposition(value: Any, change: Callable[[list[Any]], list[Any]]) -> Any:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        return [value[0].lower() if change is _lower_names else value[0], _params(value[1], change)]
    return value


def _map_structure(structure: Any, change: Callable[[list[Any]], list[Any]], lower: bool) -> Any:
    """Apply ``change`` to every parameter list of a BODYSTRUCTURE; with ``lower``, make type
    names, subtypes, encodings and disposition types lower-case."""
    if not isinstance(structure, list) or not structure:
        return structure
    out = list(structure)
    if isinstance(out[0], list):  # multipart
        count = len(list(takewhile(lambda item: isinstance(item, list), out)))
        for index in range(count):
            out[index] = _map_structure(out[index], change, lower)
        rest = count
        if lower and rest < len(out) and isinstance(out[rest], str):
            out[rest] = out[rest].lower()
        if rest + 1 < len(out):
            out[rest + 1] = _params(out[rest + 1], change)
        if rest + 2 < len(out):
            out[rest + 2] = _disposition(out[rest + 2], change)
        return out
    if lower:
        for index in (0, 1, 5):
            if isinstance(out[index], str):
                out[index] = out[index].lower()
    out[2] = _params(out[2], change)
    kind = (str(out[0]).lower(), str(out[1]).lower())
    if kind[0] == "text":
        extension = 8
    elif kind[0] == "message" and kind[1] in ("rfc822", "global") and len(out) > 9:
        out[8] = _map_structure(out[8], change, lower)
        extension = 10
    else:
        extension = 7
    if extension + 1 < len(out):
        out[extension + 1] = _disposition(out[extension + 1], change)
    return out


def _mime_name_case(item: str, value: Any) -> Any:
    return _map_structure(value, _lower_names, True) if item == "BODYSTRUCTURE" else value


def _decode_2231(params: list[Any]) -> list[Any]:
    """Parameters as name/value pairs with RFC 2231 continuations joined and values decoded."""
    pairs: dict[str, list[tuple[int, str, bool]]] = {}
    order: list[str] = []
    for index in range(0, len(params) - 1, 2):
        name, value = str(params[index]).lower(), str(params[index + 1])
        encoded = name.endswith("*")
        name = name.rstrip("*")
        base, _, number = name.partition("*")
        if base not in pairs:
            pairs[base] = []
            order.append(base)
        pairs[base].append((int(number) if number.isdigit() else 0, value, encoded))
    out: list[Any] = []
    for base in order:
        pieces = sorted(pairs[base], key=lambda piece: piece[0])
        charset = "us-ascii"
        text = []
        for number, value, encoded in pieces:
            if encoded and number == 0 and value.count("'") >= 2:
                charset, _, value = value.split("'", 2)
            if encoded:
                raw = urllib.parse.unquote_to_bytes(value)
                try:
                    value = raw.decode(charset or "us-ascii")
                except (LookupError, UnicodeDecodeError):
                    value = raw.decode("latin-1")
            text.append(value)
        out += [base, "".join(text)]
    return out


def _rfc2231(item: str, value: Any) -> Any:
    return _map_structure(value, _decode_2231, False) if item == "BODYSTRUCTURE" else value


DELIBERATE: list[Deliberate] = [
    Deliberate(
        "mime-name-case",
        "Media types, subtypes, encodings, parameter names and disposition types go out upper-case "
        "as in RFC 9051's examples (they are case-insensitive, RFC 2045 §5.1); Dovecot repeats "
        "the case the message used.",
        normalising(_mime_name_case),
    ),
    Deliberate(
        "8bit-header-as-utf8",
        "Header octets that are not UTF-8 are read as Latin-1 and sent as UTF-8: an IMAP string "
        "is UTF-8 (RFC 9051 §4.3, RFC 6532); Dovecot passes the raw octets on.",
        normalising(_header_charset),
    ),
    Deliberate(
        "rfc2231-decoded",
        "Parameters are sent decoded (RFC 2231 continuations joined, charsets converted), a "
        "non-ASCII value as name*=utf-8''... so that clients need not implement RFC 2231 again; "
        "Dovecot sends the parameters as written.",
        normalising(_rfc2231),
    ),
    Deliberate(
        "address-list-goes-on",
        "An address list is read to its end: an element that cannot be parsed is shown as far as it "
        "can be read and the next element is read too; empty elements (RFC 5322 §4.4 obs-addr-list) "
        "are dropped. Dovecot stops at the first broken element and shows an empty one as "
        "MISSING_MAILBOX.",
        _address_lists,
    ),
    Deliberate(
        "nil-for-missing-section",
        "BODY[section] of a section that does not exist is NIL (RFC 9051 §7.5.2 body section data is "
        "an nstring; an empty string would claim an empty part); Dovecot sends an empty string.",
        lambda _message, _item, ours, theirs: (
            (theirs, theirs) if ours is None and theirs == "" else (ours, theirs)
        ),
    ),
    Deliberate(
        "first-of-repeated-fields",
        "Of a field that RFC 5322 §3.6 allows once but that appears twice (Date, Subject, From...), "
        "ENVELOPE shows the first, like the submission From: check and SEARCH; Dovecot shows the last "
        "Date/Subject and joins repeated address fields.",
        for_messages("malformed/019.eml", items=("ENVELOPE",)),
    ),
    Deliberate(
        "strict-delimiters",
        'A delimiter line is the boundary alone, then optional "--" and white space (RFC 2046 '
        "§5.1.1), and ends only the parts of its own multipart (an enclosing one's delimiter ends "
        "the region). Dovecot also takes a line that merely starts with a boundary, of any "
        "enclosing multipart, so messages whose boundaries are prefixes of each other, or that "
        "reuse a boundary when nesting, split differently.",
        for_messages(
            "malformed/003.eml",
            "malformed/004.eml",
            "malformed/005.eml",
            "malformed/007.eml",
            "malformed/013.eml",
            "malformed/016.eml",
            "malformed/019.eml",
            "malformed/020.eml",
            "malformed/021.eml",
        ),
    ),
    Deliberate(
        "multipart-without-delimiters",
        "A multipart in which no delimiter is found shows its whole body as one text part (BODY[1] "
        "holds every byte, RFC 7103 §8); Dovecot shows an empty part and the text only in BODY[TEXT].",
        for_messages(
            "malformed/002.eml",
            "tests/corpus/mime/boundary_never_found.eml",
            "tests/corpus/mime/boundary_preamble_only.eml",
        ),
    ),
    Deliberate(
        "header-without-separator",
        "A header that ends at a line that is not a field, without the blank line, is read as a header "
        "followed by its body (RFC 7103 §7.2); Dovecot reads every line up to the blank line as header, "
        "so the message has an empty body. The same holds for an encapsulated message without header.",
        for_messages("tests/corpus/mime/no_separator.eml", "malformed/022.eml"),
    ),
    Deliberate(
        "unreadable-content-type",
        "A Content-Type that cannot be parsed is treated as absent (text/plain; charset=us-ascii, "
        "RFC 2045 §5.2); Dovecot sends empty type and subtype strings, which clients cannot show.",
        for_messages("malformed/017.eml"),
    ),
    Deliberate(
        "encoded-message-rfc822",
        "A message/rfc822 part in base64 (forbidden by RFC 2046 §5.2.1) is a leaf whose BODY[n] is the "
        "encoded text and that has no BODY[n.HEADER]/[n.TEXT]; its BODYSTRUCTURE names an empty text "
        "part without extension data. Dovecot lets the encoded text be the header of the inner message "
        "and counts the CRLF before the next delimiter into the part.",
        for_messages("rfc/008.eml"),
    ),
    Deliberate(
        "parameter-value-with-space",
        'An unquoted parameter value runs to the next ";" (RFC 7103 §8: unquoted file names with '
        'spaces are common, name=my file.pdf), also where a generator left the ";" out '
        "(access-type=mail-server server=...); Dovecot cuts it at the white space. RFC 2231 "
        "continuations are placed where their first piece stood (Dovecot: where the last did); a "
        "folded Content-Location keeps no white space (RFC 2557 §4.4.1), Dovecot keeps one.",
        for_messages("rfc/001.eml", "tests/corpus/mime/rfc2231_attachments.eml"),
    ),
]


@dataclass
class Figures:
    compared: int = 0
    agreeing: int = 0  # identical answers
    explained: dict[str, int] = field(default_factory=dict)  # deliberate difference -> items
    unexplained: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.agreeing}/{self.compared} items identical; "
            f"{sum(self.explained.values())} deliberate differences {self.explained}; "
            f"{len(self.unexplained)} unexplained"
        )


def compare(figures: Figures, where: str, item: str, ours: Any, theirs: Any) -> None:
    figures.compared += 1
    if ours == theirs:
        figures.agreeing += 1
        return
    for rule in DELIBERATE:
        ours, theirs = rule.explain(where, item, ours, theirs)
        if ours == theirs:
            figures.explained[rule.name] = figures.explained.get(rule.name, 0) + 1
            return
    figures.unexplained.append(f"{where} {item}:\n  pochta:  {ours!r}\n  dovecot: {theirs!r}")


def run(env: ImapEnv, peer: DovecotServer, messages: list[tuple[str, bytes]]) -> Figures:
    ours_accepted = _deliver(env.port("lmtp"), ALICE, messages)
    theirs_accepted = _deliver(peer.lmtp, ALICE, messages)
    assert [o == "ok" for o in ours_accepted] == [o == "ok" for o in theirs_accepted], [
        (name, mine, theirs)
        for (name, _), mine, theirs in zip(messages, ours_accepted, theirs_accepted, strict=True)
        if mine != theirs
    ]
    names = [name for (name, _), ok in zip(messages, ours_accepted, strict=True) if ok == "ok"]
    ours = _answers(*env.plain, len(names))
    theirs = _answers("127.0.0.1", peer.imap, len(names))
    wanted = []
    for mine, their in zip(ours, theirs, strict=True):
        union = sections(mine["BODYSTRUCTURE"])
        union += [name for name in sections(their["BODYSTRUCTURE"]) if name not in union]
        # and one part that exists in neither: what a server answers for a missing section
        structure = mine["BODYSTRUCTURE"]
        parts = len(list(takewhile(lambda item: isinstance(item, list), structure)))
        wanted.append([*union[: MAX_SECTIONS - 1], str(max(parts, 1) + 1)])
    ours_sections = _sections(*env.plain, wanted)
    theirs_sections = _sections("127.0.0.1", peer.imap, wanted)
    figures = Figures()
    for index, name in enumerate(names):
        for item in ("ENVELOPE", "BODYSTRUCTURE"):
            compare(figures, name, item, ours[index][item], theirs[index][item])
        for section in wanted[index]:
            item = f"BODY[{section}]"
            mine, their = ours_sections[index].get(item), theirs_sections[index].get(item)
            if section == "HEADER" and isinstance(mine, str) and isinstance(their, str):
                mine, their = _without_trace(mine), _without_trace(their)
            compare(figures, name, item, mine, their)
    return figures


async def test_fetch_answers_agree_with_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    messages = corpus_messages()
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {SHARED_CORPUS}")
    settings = imap_settings(listeners={"lmtp": "127.0.0.1:0"})
    async with imap_server(tmp_path, settings) as env:
        figures = await asyncio.to_thread(run, env, dovecot, messages)
    print("\n".join(figures.unexplained))  # shown by pytest when the test fails
    print(figures.summary())
    # every message compared in several items, so that a broken fetch cannot pass unnoticed
    assert figures.compared >= 5 * len(messages), figures.summary()
    # each deliberate difference still occurs: a rule that explains nothing is out of date
    assert set(figures.explained) == {rule.name for rule in DELIBERATE}, figures.summary()
    assert not figures.unexplained, "\n".join(figures.unexplained[:40]) + "\n" + figures.summary()
