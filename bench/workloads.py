"""What bench/vs_dovecot.py sends: realistic messages, an mbox for imaptest, and the clients that time
a server (LMTP/SMTP sessions come from smtp_accept.run_case; POP3 with poplib; IMAP with a raw socket
client; imaptest as a subprocess). Every client here talks to pochta and Dovecot the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import poplib
import random
import re
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from smtp_accept import CaseResult, run_case

DOMAIN = "example.org"
RARE = "quixotrophic"  # in exactly one message of a realistic mailbox
SUBJECT_WORD = "meeting"  # in about one subject of ten (and nowhere else)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


WORDS = _words(
    "the of and to in is that for it as was with be by on not this are or at which but have an they "
    "you were their one all we can her has there been if more when will would who so no out up into "
    "do than about some could them other its time only new these two may first then any like our over "
    "such make what see also after just most know should where well because people work year back use "
    "good way even through want much take between own before give last very day same under while "
    "report invoice project tomorrow please thanks attached review deadline budget schedule weekend "
    "coffee release server backup offsite quarterly draft agenda notes customer contract proposal "
    "update status team office travel flight hotel booking payment account order delivery shipment "
    "question answer problem issue ticket support network printer laptop password access document "
    "spreadsheet presentation slides figures numbers forecast revenue margin cost estimate approval "
    "signature client vendor supplier partner colleague manager director board quarter month week "
    "friday monday thursday morning afternoon evening lunch dinner call phone conference room floor "
    "building parking holiday vacation leave training course workshop session feedback survey result "
)
FIRST = _words(
    "Anna Boris Clara David Elena Felix Grace Hugo Irene Jonas Karin Lukas Maria Nils Olga Pavel Rosa "
    "Simon Tanja Viktor Wanda Yuri Zoe "
)
LAST = _words(
    "Schmidt Novak Ivanova Martin Rossi Garcia Kowalski Berg Larsen Dubois Petrov Costa Weber Horvat "
    "Silva Jansen Fischer Nowak Moreau Lindqvist "
)


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choices(WORDS, k=words))
    return text[:1].upper() + text[1:] + rng.choice((".", ".", ".", "?", "!"))


def _paragraphs(rng: random.Random, size: int) -> list[str]:
    """Lines of at most ~76 characters, paragraphs apart, about ``size`` octets in all."""
    lines: list[str] = []
    total = 0
    while total < size:
        paragraph = " ".join(_sentence(rng, rng.randint(6, 18)) for _ in range(rng.randint(2, 6)))
        while paragraph:
            cut = paragraph.rfind(" ", 0, 76) if len(paragraph) > 76 else len(paragraph)
            cut = cut if cut > 0 else len(paragraph)
            lines.append(paragraph[:cut])
            total += cut + 2
            paragraph = paragraph[cut + 1 :]
        lines.append("")
    return lines


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@{rng.choice(('example.net', 'example.com'))}"


def realistic_message(n: int, rng: random.Random, recipient: str, rare: bool = False) -> bytes:
    """Message ``n`` of a mailbox: CRLF lines, headers of a mail client, 70 % text/plain, 18 %
    multipart/alternative (text and HTML), 12 % multipart/mixed with a base64 attachment; text of
    about 2 KB (log-normal, 200 B - 40 KB). No line starts with "." or "From "."""
    name, address = _person(rng)
    words = [w for w in rng.choices(WORDS, k=rng.randint(3, 8))]
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words) + 1), SUBJECT_WORD)
    subject = " ".join(words).capitalize()
    if rng.random() < 0.25:
        subject = "Re: " + subject
    day, hour, minute = 1 + n % 28, rng.randrange(24), rng.randrange(60)
    weekday = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[n % 7]
    date = f"{weekday}, {day:02d} Nov 2026 {hour:02d}:{minute:02d}:00 +0100"
    headers = [
        f"Received: from mail.example.net (mail.example.net [192.0.2.{n % 250 + 1}])\r\n"
        f"\tby mx.{DOMAIN} with ESMTPS id {rng.getrandbits(48):012x}; {date}",
        f"From: {name} <{address}>",
        f"To: {recipient}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{n}.{rng.getrandbits(40):010x}@example.net>",
    ]
    if rng.random() < 0.3:
        cc_name, cc_address = _person(rng)
        headers.append(f"Cc: {cc_name} <{cc_address}>")
    if subject.startswith("Re: "):
        parent = f"<{max(0, n - rng.randint(1, 50))}.{rng.getrandbits(40):010x}@example.net>"
        headers += [f"In-Reply-To: {parent}", f"References: {parent}"]
    if rng.random() < 0.5:
        headers.append(f"User-Agent: {rng.choice(('Thunderbird/115.4', 'Mutt/2.2.9', 'Evolution 3.46'))}")
    headers.append("MIME-Version: 1.0")
    size = min(max(int(rng.lognormvariate(7.6, 0.8)), 200), 40_000)
    lines = _paragraphs(rng, size)
    if rare:
        lines.insert(len(lines) // 2, f"The code word is {RARE} for this one.")
    text = "\r\n".join(lines)
    kind = rng.random()
    if kind < 0.70:
        headers.append("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit")
        body = text
    else:
        boundary = f"----=_Part_{n}_{rng.getrandbits(32):08x}"
        plain = f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}"
        if kind < 0.88:
            html = "".join(f"<p>{line}</p>\r\n" for line in lines if line)
            second = f"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n{html}</body></html>"
            subtype = "alternative"
        else:
            blob = rng.randbytes(rng.randint(2_000, 60_000))
            encoded = base64.encodebytes(blob).decode().replace("\n", "\r\n").rstrip()
            second = (
                f'Content-Type: application/pdf; name="{rng.choice(WORDS)}.pdf"\r\n'
                f'Content-Disposition: attachment; filename="{rng.choice(WORDS)}.pdf"\r\n'
                f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
            )
            subtype = "mixed"
        headers.append(f'Content-Type: multipart/{subtype}; boundary="{boundary}"')
        body = (
            f"This is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\n{plain}\r\n"
            f"--{boundary}\r\n{second}\r\n--{boundary}--"
        )
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def realistic_mailbox(count: int, recipient: str, seed: int) -> list[bytes]:
    """``count`` messages, deterministic for ``seed``; message ``count // 2`` holds ``RARE``."""
    rng = random.Random(seed)
    return [realistic_message(n, rng, recipient, rare=n == count // 2) for n in range(count)]


def dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 §4.5.2: a line starting with "." gets another one (the LMTP/SMTP client sends raw)."""
    return re.sub(rb"(?m)^\.", b"..", message)


def write_mbox(path: Path, messages: Sequence[bytes]) -> None:
    """An mbox (LF lines, "From " separators) for imaptest's ``mbox=``."""
    with open(path, "wb") as out:
        for message in messages:
            out.write(b"From sender@example.net Mon Nov  2 10:00:00 2026\n")
            out.write(message.replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n\n")


# -- LMTP / SMTP ------------------------------------------------------------------------------------


def deliver(
    port: int, messages: Sequence[bytes], recipients: Sequence[str], sessions: int, lmtp: bool = True
) -> CaseResult:
    """``messages`` over ``sessions`` parallel LMTP (or SMTP) sessions, message i to recipients[i % n]."""
    sets = [[recipient] for recipient in recipients]
    per_connection = 0 if lmtp else 100  # pochta's smtp.max_messages_per_connection default
    stuffed = [dot_stuffed(message) for message in messages]
    return asyncio.run(run_case("127.0.0.1", port, lmtp, stuffed, sets, sessions, per_connection))


# -- POP3 -------------------------------------------------------------------------------------------


def pop3_download(port: int, user: str, password: str) -> tuple[int, int, float]:
    """Log in with poplib, LIST, RETR every message, QUIT (nothing deleted): messages, octets, seconds."""
    started = time.perf_counter()
    client = poplib.POP3("127.0.0.1", port, timeout=120)
    try:
        client.user(user)
        client.pass_(password)
        _, listing, _ = client.list()
        octets = 0
        for line in listing:
            number, _ = line.split()
            _, _, size = client.retr(int(number))
            octets += size
        client.quit()
    finally:
        with contextlib.suppress(OSError):
            client.close()
    return len(listing), octets, time.perf_counter() - started


def pop3_round_trips(port: int, user: str, password: str) -> list[float]:
    """Log in with a raw socket, RETR every message one at a time (each read to its terminator
    before the next is sent), QUIT: the microseconds of each RETR's round trip. The client's own
    cost is a buffer search per reply, so this is the server's latency, where poplib's rate is
    mostly poplib (it parses each reply line by line in Python)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()

    def until(end: bytes) -> bytes:
        while (found := buffer.find(end)) < 0:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buffer.extend(chunk)
        reply = bytes(buffer[: found + len(end)])
        del buffer[: found + len(end)]
        return reply

    try:
        until(b"\r\n")
        for command in (f"USER {user}", f"PASS {password}", "STAT"):
            sock.sendall(command.encode() + b"\r\n")
            reply = until(b"\r\n")
            if not reply.startswith(b"+OK"):
                raise ConnectionError(f"{command.split()[0]}: {reply!r}")
        times: list[float] = []
        for number in range(1, int(reply.split()[1]) + 1):
            started = time.perf_counter_ns()
            sock.sendall(b"RETR %d\r\n" % number)
            until(b"\r\n.\r\n")  # RFC 1939 §3: byte-stuffing keeps it out of the text
            times.append((time.perf_counter_ns() - started) / 1000)
        sock.sendall(b"QUIT\r\n")
        until(b"\r\n")
        return times
    finally:
        sock.close()


# -- IMAP -------------------------------------------------------------------------------------------


class ImapClient:
    """A minimal IMAP client on a raw socket: sends a command and reads everything up to its tagged
    reply without parsing it (so the client's own cost stays far below the server's; imaplib parses
    each response line in Python, which on FETCH 1:* of 20,000 messages costs more than the server)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.buffer = b""
        self.n = 0
        while b"\r\n" not in self.buffer:
            self._recv()
        self.buffer = self.buffer.partition(b"\r\n")[2]  # the greeting

    def _recv(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def command(self, text: str) -> bytes:
        """Send ``text``; everything the server answered, the tagged OK line included."""
        self.n += 1
        tag = b"b%d " % self.n
        self.sock.sendall(tag + text.encode() + b"\r\n")
        chunks = [self.buffer]
        self.buffer = b""
        marker = b"\r\n" + tag
        tail = b"\r\n" + chunks[0]
        while True:
            found = tail.find(marker)
            if found >= 0:
                end = tail.find(b"\r\n", found + len(marker))
                if end >= 0:
                    break
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            chunks.append(chunk)
            tail = tail[-(len(marker) + 200) :] + chunk  # the tagged line may span two reads
        answer = b"".join(chunks)
        start = (b"\r\n" + answer).rfind(marker)
        line_end = answer.find(b"\r\n", start) + 2
        self.buffer = answer[line_end:]
        if not answer[start:line_end].startswith(tag + b"OK"):
            raise RuntimeError(f"{text[:60]}: {answer[start:line_end]!r}")
        return answer[:line_end]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"z LOGOUT\r\n")
        self.sock.close()


def search_exists(answer: bytes) -> int:
    found = re.search(rb"^\* (\d+) EXISTS\r$", answer, re.M)
    return int(found.group(1)) if found else -1


def search_hits(answer: bytes) -> int:
    found = re.search(rb"^\* SEARCH([ 0-9]*)\r$", answer, re.M)
    return len(found.group(1).split()) if found else 0


# -- imaptest ---------------------------------------------------------------------------------------


@dataclass
class ImaptestResult:
    commands: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    output: str = ""

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds if self.seconds else 0.0


def run_imaptest(
    binary: Path,
    port: int,
    mbox: Path,
    password: str,
    users: str,
    clients: int,
    secs: int,
    extra: Sequence[str] = (),
) -> ImaptestResult:
    """imaptest's default mix against 127.0.0.1:``port`` (``extra`` arguments added, as
    ``checkpoint=5``); commands from its "Totals:" row, errors from its ``Error:`` and ``Panic:``
    lines."""
    args = [
        str(binary), "host=127.0.0.1", f"port={port}", f"user=user%d@{DOMAIN}", f"users={users}",
        f"pass={password}", f"mbox={mbox}", f"clients={clients}", f"secs={secs}", *extra,
    ]  # fmt: skip
    completed = subprocess.run(
        args, capture_output=True, text=True, errors="replace", timeout=secs + 120, stdin=subprocess.DEVNULL
    )
    output = completed.stdout + completed.stderr
    result = ImaptestResult(seconds=secs, output=output)
    lines = output.splitlines()
    if "Totals:" in lines:
        after = lines[lines.index("Totals:") + 1 :]
        names = after[0].split()
        counts = next(line.split() for line in after[1:] if re.fullmatch(r"[\d ]+", line.strip()))
        result.totals = dict(zip(names, (int(c) for c in counts), strict=False))
        result.commands = sum(result.totals.values())
    result.errors = [line.strip() for line in lines if "Error:" in line or "Panic:" in line]
    if completed.returncode != 0 and not result.totals:
        result.errors.append(f"imaptest exited {completed.returncode}: {output[-500:]}")
    return result


def distinct_errors(errors: Sequence[str], limit: int) -> list[str]:
    """The first ``limit`` kinds of error line, each with how often it occurred and its first line:
    the kind is the message without the user, the echoed response and the numbers."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for line in errors:
        message = re.sub(r"^.*?Error: (\S+\[\d+\]: )?", "", line).split(": * ")[0]
        key = re.sub(r"\d+", "N", message)[:160]
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, line)
    return [f"x{counts[key]}: {first[key][:300]}" for key in list(first)[:limit]]
