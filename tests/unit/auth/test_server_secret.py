"""The data directory's server-secret: created once, private, the same for every process that asks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pochta.bootstrap import SERVER_SECRET_FILE, ensure_server_secret


def test_created_once_private_and_stable(tmp_path: Path) -> None:
    first = ensure_server_secret(tmp_path)
    assert len(first) == 32
    assert stat.S_IMODE((tmp_path / SERVER_SECRET_FILE).stat().st_mode) == 0o600
    assert ensure_server_secret(tmp_path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [SERVER_SECRET_FILE]  # no temp file left


def test_the_first_to_publish_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (the CLI beside the server) publishes its secret between our read and our
    link: ours is dropped and theirs used, never replaced."""
    theirs = os.urandom(32)
    real_link = os.link

    def link_after_them(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        Path(dst).write_text(theirs.hex() + "\n", encoding="ascii")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_them)
    assert ensure_server_secret(tmp_path) == theirs
    monkeypatch.undo()
    assert ensure_server_secret(tmp_path) == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == [SERVER_SECRET_FILE]
