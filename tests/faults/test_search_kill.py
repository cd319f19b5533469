"""SIGKILL of a real ``pochta serve`` under LMTP delivery load while its search indexer runs.

Every message the server acknowledged must be found by SEARCH after the indexer caught up: by its
body word (BODY/TEXT through the full-text index) and its subject (SUBJECT through the header values
kept at delivery). The indexer runs every 20 ms in small batches so that the kill lands in or around
its transactions as well as the deliveries'.
"""

from __future__ import annotations

import asyncio
import random
import smtplib
import threading
import time
from pathlib import Path

from faults_support import base_seed

from pochta.config import load_settings
from pochta.store.sqlite.store import open_sqlite_store
from serve_process import ServeProcess, init_data_dir

SENDERS = 4
CONFIG = "[search]\nindex_batch = 7\nindex_interval = 0.02\n"


def _word(n: int) -> str:
    return f"wombat{n:05d}x"


def _message(n: int) -> bytes:
    return (
        f"From: s{n}@example.net\r\nTo: alice@example.org\r\nSubject: subject okapi{n:05d}\r\n"
        f"Message-ID: <{n}@crash.example>\r\n\r\nline one\r\nthe word {_word(n)} here\r\n"
    ).encode()


def _send(port: int, numbers: list[int], acked: list[int], stop: threading.Event) -> None:
    """Deliver over LMTP until the server dies; record each acknowledged number."""
    try:
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as client:
            for n in numbers:
                if stop.is_set():
                    return
                client.sendmail("carol@example.net", ["alice@example.org"], _message(n))
                acked.append(n)  # after the 250: acknowledged means durable
    except (OSError, smtplib.SMTPException):
        return  # the kill


def _wait_for(acked: list[int], count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(acked) < count and time.monotonic() < deadline:
        time.sleep(0.005)


async def test_every_acknowledged_message_is_found_after_the_indexer_catches_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data, listeners=("lmtp",), accounts={"alice@example.org": "pw pw pw pw"}, config=CONFIG)
    rnd = random.Random(base_seed())
    acked: list[int] = []
    total = 0
    for _round in range(2):  # the second run finds the first one's backlog and adds to it
        server = ServeProcess(data, tmp_path / "serve.log")
        try:
            port = server.wait_listening(["lmtp"], timeout=30)["lmtp"]
            stop = threading.Event()
            numbers = list(range(total, total + 400))
            total += 400
            threads = [
                threading.Thread(target=_send, args=(port, numbers[i::SENDERS], acked, stop))
                for i in range(SENDERS)
            ]
            for thread in threads:
                thread.start()
            await asyncio.to_thread(_wait_for, acked, len(acked) + rnd.randint(40, 150))
            await asyncio.sleep(rnd.random() * 0.05)
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(30)
        finally:
            server.kill()
    assert len(acked) > 80

    store = await open_sqlite_store(data, load_settings(data / "pochta.toml"), indexer=False)
    try:
        while (await store.index_pending()).done:
            pass
        assert await store.index_backlog() == 0
        report = await store.verify()
        assert not report.damaged, report
        account = await store.get_account("alice@example.org")
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        by_word: dict[str, set[int]] = {}
        everything = await store.search_text(inbox.id, "wombat", "body")
        assert len(everything) >= len(acked)  # a message may be stored and killed before its 250
        for n in acked:
            found = await store.search_text(inbox.id, _word(n), "body")
            assert len(found) == 1, (n, found)
            assert await store.search_text(inbox.id, _word(n).upper(), "text") == found
            subject, undecided = await store.search_header(inbox.id, "subject", f"okapi{n:05d}")
            assert (subject, undecided) == (found, set()), n
            by_word[_word(n)] = found
        assert len(set().union(*by_word.values())) == len(acked)  # one message each
    finally:
        await store.close()
