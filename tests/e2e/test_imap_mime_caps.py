"""MIME caps (config mime.max_depth / mime.max_parts, Dovecot's 100 levels and 10,000 parts) seen
by clients: past a cap the rest of a part is one leaf, the same in BODYSTRUCTURE, BODY[section],
ENVELOPE and SEARCH; POP3 serves the stored bytes untouched."""

from __future__ import annotations

import asyncio
import imaplib
import poplib
from collections.abc import AsyncIterator
from itertools import takewhile
from pathlib import Path

import pytest

from imap_env import ALICE, PASSWORD, ImapEnv, fetch_items, imap_server, imap_settings
from pochta.config import MimeSettings
from pochta.mime import ParsedMessage, parse_message
from pochta.store.model import Target


def wide(count: int) -> bytes:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(count))
    return (
        b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: wide\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + parts + b"--B--\r\n"
    )


def deep(multiparts: int) -> bytes:
    inner = b"Content-Type: text/plain\r\n\r\nthe deepest words\r\n"
    for level in range(multiparts):
        boundary = b"d%d" % level
        inner = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary + b"\r\n"
            + inner + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip
    return b"From: Dave <dave@example.net>\r\nSubject: deep\r\n" + inner


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    settings = imap_settings(listeners={"pop3": "127.0.0.1:0"}, mime={"max_parts": 5, "max_depth": 3})
    async with imap_server(tmp_path, settings) as running:
        yield running


def _imap(env: ImapEnv) -> imaplib.IMAP4:
    client = env.login()
    client.select("INBOX")
    return client


async def test_parts_cap_last_part_holds_the_rest(env: ImapEnv) -> None:
    data = wide(8)  # 9 parts; the cap is 5: parts 1-3, and part 4 runs to the end
    await env.deliver(data)

    def fetch() -> tuple[dict[str, object], dict[str, object]]:
        with _imap(env) as client:
            structure = fetch_items(client, 1, "ENVELOPE BODYSTRUCTURE")
            sections = fetch_items(client, 1, "BODY.PEEK[3] BODY.PEEK[4] BODY.PEEK[4.MIME] BODY.PEEK[5]")
            typ, found = client.search(None, "TEXT", '"part 7"')
            assert typ == "OK"
            assert found == [b"1"]  # the words of the capped leaf are searchable, as in its body
            return structure, sections

    structure, sections = await asyncio.to_thread(fetch)
    envelope = structure["ENVELOPE"]
    assert isinstance(envelope, list)
    assert envelope[1] == "wide"
    bodystructure = structure["BODYSTRUCTURE"]
    assert isinstance(bodystructure, list)
    children = list(takewhile(lambda item: isinstance(item, list), bodystructure))  # then "MIXED"
    assert len(children) == 4
    rest = data[data.index(b"part 3\r\n") :]
    assert children[3][6] == len(rest)
    assert sections["BODY[3]"] == "part 2"
    assert sections["BODY[4]"] == rest.decode()  # the rest, byte for byte
    assert sections["BODY[4.MIME]"] == "Content-Type: text/plain\r\n\r\n"
    assert sections["BODY[5]"] in (None, "")  # no part 5


async def test_depth_cap_makes_an_octet_stream_leaf(env: ImapEnv) -> None:
    data = deep(4)  # levels: 4 multiparts and a text part; the cap is 3
    await env.deliver(data)

    def fetch() -> dict[str, object]:
        with _imap(env) as client:
            return fetch_items(client, 1, "BODYSTRUCTURE BODY.PEEK[1.1] BODY.PEEK[1.1.1]")

    answer = await asyncio.to_thread(fetch)
    leaf = answer["BODYSTRUCTURE"]
    assert isinstance(leaf, list)
    leaf = leaf[0][0]  # level 3
    assert leaf[:3] == ["APPLICATION", "OCTET-STREAM", ["BOUNDARY", "d1"]]
    body = answer["BODY[1.1]"]
    assert isinstance(body, str)
    assert body.startswith("--d1\r\nContent-Type: multipart/mixed; boundary=d0\r\n")
    assert "the deepest words" in body
    assert leaf[6] == len(body)
    assert answer["BODY[1.1.1]"] in (None, "")


async def test_pop3_serves_capped_messages_unchanged(env: ImapEnv) -> None:
    messages = [wide(8), deep(4)]
    for data in messages:
        await env.deliver(data)

    def retrieve() -> list[bytes]:
        host, port = env.address("pop3")
        client = poplib.POP3(host, port, timeout=10)
        try:
            client.user(ALICE)
            client.pass_(PASSWORD)
            return [b"\r\n".join(client.retr(number)[1]) + b"\r\n" for number in (1, 2)]
        finally:
            client.quit()

    assert await asyncio.to_thread(retrieve) == messages


async def test_twenty_thousand_parts_with_default_caps(tmp_path: Path) -> None:
    data = wide(20_000)
    async with imap_server(tmp_path) as env:
        await env.deliver(data)

        def fetch() -> tuple[int, dict[str, object]]:
            with _imap(env) as client:
                typ, answer = client.fetch("1", "(BODYSTRUCTURE)")
                assert typ == "OK"
                first = answer[0]
                size = len(first[0]) + len(first[1]) if isinstance(first, tuple) else len(first or b"")
                return size, fetch_items(client, 1, "BODY.PEEK[9999]")

        size, sections = await asyncio.to_thread(fetch)
    # 1.48 MB of BODYSTRUCTURE without the cap; 10,000 parts' worth (~740 KB, as Dovecot) with it
    assert size < 800_000
    last = sections["BODY[9999]"]
    assert isinstance(last, str)
    assert last.startswith("part 9998\r\n")
    assert last.endswith("part 19999\r\n--B--\r\n")


async def test_reconstruct_rederives_a_parse_cached_under_other_caps(env: ImapEnv) -> None:
    # A message stored before the caps changed keeps its cached parse until `pochta reconstruct`.
    data = wide(8)
    info = await env.mailbox()
    blob = await env.store.put_blob(data)
    old = parse_message(data, MimeSettings(max_parts=20_000, max_depth=64))
    await env.store.deliver(blob, old, [Target(info.id, frozenset(), None)])
    report = await env.store.reconstruct()
    assert report.caches_changed == 1
    rows = await env.store.cached(info.id, await env.uids())
    assert rows[0].parsed_json == parse_message(data, env.settings.mime).to_json(with_text=False)
    assert len(ParsedMessage.from_json(rows[0].parsed_json).root.children) == 4
