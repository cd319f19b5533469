"""The webmail's message frame (web/webmail_reader.py) and the download's inline rule
(proto/jmap/download.py): the policies that are the second wall after the sanitiser."""

from __future__ import annotations

from pochta.proto.jmap.download import content_disposition, download_policy
from pochta.web.message_html import SafeHtml
from pochta.web.webmail_reader import _html_of, frame_document, frame_headers, frame_policy

BASE = "https://mail.example.org"


def test_frame_policy_runs_no_script_and_loads_images_only_from_the_accounts_downloads() -> None:
    policy = frame_policy(BASE, "A7", remote_images=False)
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    assert directives["script-src"] == "'none'"
    assert directives["img-src"] == "https://mail.example.org/jmap/download/A7/ data:"
    assert directives["frame-ancestors"] == "'self'"
    assert "allow-scripts" not in directives["sandbox"]
    assert directives["default-src"] == "'none'"


def test_frame_policy_allows_remote_images_only_when_asked() -> None:
    shown = frame_policy(BASE, "A7", remote_images=True)
    assert "img-src https://mail.example.org/jmap/download/A7/ data: http: https:" in shown
    assert frame_headers(shown)["Referrer-Policy"] == "no-referrer"


def test_frame_document_carries_the_held_count() -> None:
    document = frame_document(SafeHtml("<p>hi</p>", 2))
    assert '<meta name="remote-images" content="2">' in document
    assert "<p>hi</p>" in document


def test_html_body_sanitised_and_text_parts_escaped_with_cid_resolved() -> None:
    email = {
        "htmlBody": [{"partId": "1", "type": "text/html"}, {"partId": "2", "type": "text/plain"}],
        "bodyValues": {
            "1": {"value": '<img src="cid:logo@x"><img src="https://t.example/p.gif"><script>x()</script>'},
            "2": {"value": "<b>not markup</b>"},
        },
    }
    safe = _html_of(email, lambda cid: "/jmap/download/A1/Bx/logo.png" if cid == "logo@x" else None, False)
    assert safe.remote_images == 1
    assert 'src="/jmap/download/A1/Bx/logo.png"' in safe.html
    assert "script" not in safe.html
    assert "&lt;b&gt;not markup&lt;/b&gt;" in safe.html


def test_downloads_show_inline_only_raster_images_and_pdf() -> None:
    assert content_disposition("a.pdf", inline=True).startswith("inline;")
    assert content_disposition("a.pdf").startswith("attachment;")
    assert download_policy("application/pdf", inline=True) == "frame-ancestors 'self'"
    assert download_policy("text/html", inline=False).endswith("sandbox")
    assert "default-src 'none'" in download_policy("image/png", inline=True)
