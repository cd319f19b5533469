"""Generated conversations for SORT and THREAD tests: replies with References and In-Reply-To as mail
clients write them, and the untidy cases RFC 5256 §3 REFERENCES must cope with (truncated or
missing References, parents that are not in the mailbox, duplicate and quoted Message-IDs, replies
known only by their subject, loops), deterministic for a seed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

SUBJECTS = (
    "Quarterly report", "lunch on friday?", "[team] Build broken", "Fwd: invoice 2026-11", "Re: hello",
    "Übersicht der Änderungen", "naïve question", "(no subject)", "Planning", "planning", "",
)  # fmt: skip
PEOPLE = (
    ("Alice Example", "alice@example.org"), ("bob", "bob@example.net"), ("", "carol@example.com"),
    ("=?utf-8?q?=C3=89mile_Z=C3=B6ller?=", "emile@example.de"), ("Dave", "dave@example.org"),
)  # fmt: skip
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _address(person: tuple[str, str]) -> str:
    name, address = person
    return f"{name} <{address}>" if name else address


def threaded_messages(count: int, seed: int) -> list[tuple[bytes, datetime]]:
    """``count`` messages (CRLF) with their internal dates, in delivery order."""
    rng = random.Random(seed)
    sent: list[tuple[str, str, list[str]]] = []  # (message id, subject, references) so far
    out: list[tuple[bytes, datetime]] = []
    for n in range(count):
        when = START + timedelta(minutes=rng.randrange(0, 20_000))
        mid = f"<{n}.{seed}@example.org>"
        refs: list[str] = []
        subject = rng.choice(SUBJECTS)
        kind = rng.random()
        if sent and kind < 0.55:
            parent_id, parent_subject, parent_refs = rng.choice(sent)
            refs = [*parent_refs, parent_id]
            subject = rng.choice(("Re: ", "RE: ", "Re: Re: ", "Fwd: ", "")) + parent_subject
            if rng.random() < 0.15:
                refs = refs[-1:]  # truncated by the client
            if rng.random() < 0.1:
                refs.insert(0, f"<gone{rng.randrange(5)}@example.org>")  # a parent not in the mailbox
        header = [
            f"From: {_address(rng.choice(PEOPLE))}",
            f"To: {_address(rng.choice(PEOPLE))}",
        ]
        if rng.random() < 0.3:
            header.append(f"Cc: {_address(rng.choice(PEOPLE))}")
        if subject or rng.random() < 0.5:
            header.append(f"Subject: {subject}")
        if rng.random() < 0.85:
            zone = rng.choice(("+0000", "+0100", "-0500", "+0530"))
            header.append(f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S')} {zone}")
        mode = rng.random()
        if mode < 0.05:
            pass  # no Message-ID
        elif mode < 0.08 and sent:
            mid = rng.choice(sent)[0]  # a duplicate
            header.append(f"Message-ID: {mid}")
        elif mode < 0.1:
            header.append(f'Message-ID: <"{n}.{seed}"@example.org>')  # quoted: the same id unquoted
        else:
            header.append(f"Message-ID: {mid}")
        if refs:
            style = rng.random()
            if style < 0.7:
                header.append("References: " + "\r\n ".join(refs))
                header.append(f"In-Reply-To: {refs[-1]}")
            elif style < 0.85:
                header.append(f"In-Reply-To: {refs[-1]}")
            else:
                header.append("References: " + " ".join(refs))
        sent.append((mid, subject, refs))
        body = f"Message {n}.\r\n" + "x" * rng.randrange(0, 400) + "\r\n"
        out.append((("\r\n".join(header) + "\r\n\r\n" + body).encode(), when))
    return out


def looping_messages() -> list[bytes]:
    """Messages whose References make loops (each names the other, one names itself)."""
    return [
        b"Message-ID: <a@loop>\r\nReferences: <b@loop>\r\nSubject: loop\r\n\r\na\r\n",
        b"Message-ID: <b@loop>\r\nReferences: <a@loop>\r\nSubject: Re: loop\r\n\r\nb\r\n",
        b"Message-ID: <c@loop>\r\nReferences: <c@loop> <a@loop> <c@loop>\r\nSubject: c\r\n\r\nc\r\n",
        b"Message-ID: <d@loop>\r\nReferences: <e@loop> <d@loop> <e@loop>\r\n\r\nd\r\n",
    ]
