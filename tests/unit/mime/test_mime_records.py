"""What delivery keeps of a parse stays the same, message for message, across parser changes.

For every message of the shared corpus (``../shared/corpus``) and of ``tests/corpus/mime``, both
with CRLF line ends (as LMTP delivers them) and as the file holds it, the digests of what the store
keeps at delivery (DESIGN principle 4) are compared with ``parse_records.json``: the parse record
(``ParsedMessage.to_json`` with its text), the folded search text and header rows, and the stored
IMAP wire forms (ENVELOPE, BODY, BODYSTRUCTURE, with and without UTF-8). A fast path in the parser
must give the same bytes as the code it shortcuts; a change meant to alter a record rewrites the
file on purpose:

    .venv/bin/python tests/unit/mime/test_mime_records.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # shared_dir, when run as a script
from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.mime.imapform import wire_forms
from pochta.mime.search import folded_text, header_rows
from shared_dir import REPO, corpus_messages, shared_path

RECORDS = Path(__file__).with_name("parse_records.json")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def record(data: bytes) -> dict[str, str]:
    """Digests of each piece delivery stores for ``data``."""
    parsed = parse_message(data, MimeSettings())
    body, headers = folded_text(parsed)
    forms = wire_forms(parsed.root)
    return {
        "json": _digest(parsed.to_json()),
        "search_text": _digest(f"{headers}\x00{body}".encode("utf-8", "surrogatepass")),
        "header_rows": _digest(json.dumps(header_rows(parsed)).encode()),
        "wire": _digest(
            b"\x00".join(
                b"-" if form is None else form
                for form in (
                    forms.envelope,
                    forms.body,
                    forms.bodystructure,
                    forms.envelope_utf8,
                    forms.body_utf8,
                    forms.bodystructure_utf8,
                )
            )
        ),
    }


def messages() -> dict[str, bytes]:
    """Every corpus message in CRLF form, and as its file holds it (``raw:`` names)."""
    out = dict(corpus_messages())
    shared = shared_path("corpus", "POCHTA_SHARED_CORPUS")
    for path in sorted(shared.glob("*/*.eml")):
        out["raw:" + str(path.relative_to(shared))] = path.read_bytes()
    for path in sorted((REPO / "tests" / "corpus" / "mime").glob("*.eml")):
        out["raw:" + str(path.relative_to(REPO))] = path.read_bytes()
    return out


MESSAGES = messages()
EXPECTED: dict[str, dict[str, str]] = json.loads(RECORDS.read_text()) if RECORDS.exists() else {}


def test_every_corpus_message_has_a_record() -> None:
    assert len(MESSAGES) >= 150, "the shared corpus is missing"
    assert sorted(MESSAGES) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_record_unchanged(name: str) -> None:
    assert record(MESSAGES[name]) == EXPECTED.get(name)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit(__doc__)
    RECORDS.write_text(json.dumps({name: record(data) for name, data in MESSAGES.items()}, indent=1) + "\n")
    print(f"{len(MESSAGES)} records written to {RECORDS}")
