"""RFC 8970 §3 previews as the delivery parse computes them (``mime.text.extract_text``) and as FETCH
PREVIEW serves them (``server.imap.fetch_objects.cut_preview``), over the shared corpus."""

from __future__ import annotations

import pytest

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.server.imap.fetch_objects import PREVIEW_CHARS, cut_preview
from shared_dir import corpus_messages

CORPUS = dict(corpus_messages())
FABLE = 'Die Hasen und die Frösche Die Hasen klagten einst über ihre mißliche Lage; "wir leben"'


def preview(data: bytes) -> str:
    return cut_preview(parse_message(data, Settings().mime).preview)


@pytest.mark.parametrize(
    "name",
    [
        "legacy/002.eml",  # text/html only, quoted-printable, ISO-8859-1: markup stripped
        "legacy/003.eml",  # multipart/alternative: the text/plain alternative
        "legacy/022.eml",  # text/plain in base64
        "legacy/001.eml",  # text/plain, quoted-printable
    ],
)
def test_corpus_previews(name: str) -> None:
    text = preview(CORPUS[name])
    assert text.startswith(FABLE), text
    assert "<" not in text  # no markup
    assert len(text) <= PREVIEW_CHARS


@pytest.mark.parametrize("name", ["legacy/000.eml", "rfc/001.eml"])
def test_no_text_gives_empty_preview(name: str) -> None:
    # RFC 8970 §3.2: no meaningful preview (an image only; external bodies only) is "", never NIL.
    assert preview(CORPUS[name]) == ""


def test_empty_message() -> None:
    assert preview(b"Subject: nothing\r\n\r\n") == ""
    assert preview(b"") == ""


@pytest.mark.parametrize(("name", "data"), sorted(CORPUS.items()))
def test_every_corpus_preview_is_plain_bounded_text(name: str, data: bytes) -> None:
    text = preview(data)
    # RFC 8970 §3.3: at most 200 characters (MUST NOT exceed 256), whitespace collapsed, UTF-8.
    assert len(text) <= PREVIEW_CHARS
    assert text == " ".join(text.split())
    text.encode("utf-8")


def test_cut_counts_characters_not_octets() -> None:
    # A preview character is one UCS character (RFC 8970 §3.3): 300 two-octet characters are cut at
    # 200 characters, never inside one.
    long = "é" * 300
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + long.encode("utf-8")
    text = preview(body)
    assert text == "é" * PREVIEW_CHARS
    assert len(text.encode("utf-8")) == 2 * PREVIEW_CHARS
    # Shorter previews stay whole; a cut never ends in white space.
    assert cut_preview("short text") == "short text"
    assert cut_preview("word " * 60) == ("word " * 40).rstrip()


def test_html_whitespace_and_entities() -> None:
    html = (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p {color: red}</style></head><body><p>Hello&nbsp;&amp;\r\n\r\n"
        b"   welcome</p><div>to   <b>pochta</b></div></body></html>"
    )
    assert preview(html) == "Hello & welcome to pochta"
