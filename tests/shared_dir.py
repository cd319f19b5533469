"""Where the project's shared material is (``../shared``: the corpus, the conformance suites).

Beside the repository in a development checkout; CI clones main elsewhere on the same machine, so
the machine's ``/work/shared`` is tried next. An environment variable may name the place first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_path(relative: str, env: str) -> Path:
    """``$env`` if set, else ``../shared/<relative>``, else ``/work/shared/<relative>``; the first
    that exists (the first candidate when none does, for the skip message)."""
    configured = os.environ.get(env)
    candidates = [Path(configured)] if configured else []
    candidates += [REPO.parent / "shared" / relative, Path("/work/shared") / relative]
    return next((path for path in candidates if path.exists()), candidates[0])


def corpus_messages() -> list[tuple[str, bytes]]:
    """(name, bytes) of every message of the shared corpus (``../shared/corpus``, or
    ``$POCHTA_SHARED_CORPUS``) and of ``tests/corpus/mime``, with CRLF line ends as an MTA relays
    them (pochta refuses bare CR or LF over LMTP)."""
    shared = shared_path("corpus", "POCHTA_SHARED_CORPUS")
    local = REPO / "tests" / "corpus" / "mime"
    out = []
    for path in sorted(shared.glob("*/*.eml")) + sorted(local.glob("*.eml")):
        name = str(path.relative_to(shared if path.is_relative_to(shared) else REPO))
        out.append((name, re.sub(rb"\r\n|\r|\n", b"\r\n", path.read_bytes())))
    return out
