"""The Maildir reader and writer: layouts, names with and without info, flags, keywords, dates."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from pochta.fetch.importer_source import Skipped, SourceMessage
from pochta.fetch.maildir import (
    MaildirFolder,
    MaildirWriter,
    find_folders,
    info_flags,
    read_folder,
    split_name,
)

MESSAGE = b"Subject: m\n\nbody\n"


def maildir(path: Path) -> Path:
    for part in ("cur", "new", "tmp"):
        (path / part).mkdir(parents=True, exist_ok=True)
    return path


def put(folder: Path, part: str, name: str, data: bytes = MESSAGE, mtime: int = 1_600_000_000) -> Path:
    path = folder / part / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def read(folder: Path, name: str = "") -> list[SourceMessage | Skipped]:
    return list(read_folder(MaildirFolder(folder, name), ""))


def test_names_with_and_without_info() -> None:
    assert split_name("1600.M1P2.host:2,RS") == ("1600.M1P2.host", "RS")
    assert split_name("1600.M1P2.host!2,S") == ("1600.M1P2.host", "S")
    assert split_name("1600.M1P2.host,S=123:2,") == ("1600.M1P2.host,S=123", "")
    assert split_name("1600.M1P2.host") == ("1600.M1P2.host", None)


def test_flag_letters_and_dovecot_keywords() -> None:
    keywords = {0: "$Junk", 1: "work", 3: "bad keyword"}
    assert info_flags("DFPRSTabcd", keywords) == {
        "\\Draft",
        "\\Flagged",
        "$Forwarded",
        "\\Answered",
        "\\Seen",
        "\\Deleted",
        "$Junk",
        "work",
    }  # "c" has no keyword, "d"'s is not an atom
    assert info_flags("", {}) == frozenset()


def test_both_layouts_and_modified_utf7_names(tmp_path: Path) -> None:
    root = maildir(tmp_path / "Maildir")
    maildir(root / ".Sent")
    maildir(root / ".Work.Projects")
    maildir(root / ".Entw&APw-rfe")
    (root / ".NotAFolder").mkdir()
    names = [folder.name for folder in find_folders(root)]
    assert names == ["", "Entwürfe", "Sent", "Work/Projects"]
    fs = maildir(tmp_path / "fs")
    maildir(fs / "Work" / "Projects")
    maildir(fs / "Lists")
    assert [folder.name for folder in find_folders(fs)] == ["", "Lists", "Work/Projects"]


def test_messages_flags_dates_and_odd_files(tmp_path: Path) -> None:
    folder = maildir(tmp_path / "m")
    (folder / "dovecot-keywords").write_text("0 $Label1\n1 todo\n")
    put(folder, "cur", "1.a.host:2,Sab", mtime=1_500_000_000)
    put(folder, "new", "2.b.host")  # no info: a new message without flags
    put(folder, "cur", "3.c.host:2,", b"")  # empty
    put(folder, "cur", "4.d.host:2,S", b"\x00\x01 binary junk")
    put(folder, "cur", "5.e.host:2,S", b"Subject: cr\r\rbody\r")  # CR-only line ends
    put(folder, "tmp", "6.f.host", MESSAGE)  # a delivery in progress: never read
    (folder / "cur" / "7.g.host:2,S").symlink_to(tmp_path / "gone")  # unreadable
    (folder / "cur" / ".hidden").write_bytes(MESSAGE)
    found = read(folder)
    by_key = {item.key: item for item in found}
    assert sorted(by_key) == ["1.a.host", "2.b.host", "3.c.host", "4.d.host", "5.e.host", "7.g.host"]
    first = by_key["1.a.host"]
    assert isinstance(first, SourceMessage)
    assert first.flags == {"\\Seen", "$Label1", "todo"}
    assert first.internal_date == datetime.fromtimestamp(1_500_000_000, UTC)
    assert first.data == b"Subject: m\r\n\r\nbody\r\n"
    assert isinstance(by_key["2.b.host"], SourceMessage)
    assert by_key["2.b.host"].flags == frozenset()
    cr = by_key["5.e.host"]
    assert isinstance(cr, SourceMessage)
    assert cr.data == b"Subject: cr\r\n\r\nbody\r\n"
    reasons = {key: item.reason for key, item in by_key.items() if isinstance(item, Skipped)}
    assert reasons["3.c.host"] == "empty message"
    assert "header field" in reasons["4.d.host"]
    assert reasons["7.g.host"].startswith("unreadable")


def test_courier_keywords(tmp_path: Path) -> None:
    folder = maildir(tmp_path / "c")
    put(folder, "cur", "1.a.host:2,S")
    put(folder, "cur", "2.b.host:2,")
    put(folder, "cur", "3.c.host:2,")
    keywords = folder / "courierimapkeywords"
    keywords.mkdir()
    (keywords / ":list").write_text("$Label1\nproject\n\n1.a.host:0 1\n2.b.host:1\n")
    (keywords / ".4.2.b.host").write_text("later\n")  # an update after the list: it wins
    (keywords / "3.c.host").write_text("solo\n")
    flags = {item.key: item.flags for item in read(folder) if isinstance(item, SourceMessage)}
    assert flags == {
        "1.a.host": {"\\Seen", "$Label1", "project"},
        "2.b.host": {"later"},
        "3.c.host": {"solo"},
    }


def test_writer_then_reader_keeps_bytes_flags_keywords_and_dates(tmp_path: Path) -> None:
    root = tmp_path / "out"
    when = datetime(2019, 8, 7, 6, 5, 4, tzinfo=UTC)
    writer = MaildirWriter(root, "Work/Entwürfe")
    flags = frozenset({"\\Seen", "\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "$Forwarded", "$Label1"})
    path = writer.add(b"Subject: w\r\n\r\nbody\r\n", flags, when)
    writer.add(b"Subject: v\r\n\r\nx\r\n", frozenset(), when)
    writer.finish()
    assert path.parent == root / ".Work.Entw&APw-rfe" / "cur"
    assert path.read_bytes() == b"Subject: w\n\nbody\n"  # LF, as Dovecot writes
    assert path.name.endswith(":2,DFRSTab")
    [folder] = [f for f in find_folders(root) if f.name]
    assert folder.name == "Work/Entwürfe"
    found = [item for item in read(folder.path, folder.name) if isinstance(item, SourceMessage)]
    assert {item.data for item in found} == {b"Subject: w\r\n\r\nbody\r\n", b"Subject: v\r\n\r\nx\r\n"}
    assert {item.flags for item in found} == {flags, frozenset()}
    assert {item.internal_date for item in found} == {when}


def test_dots_and_backslashes_inside_a_level_are_escaped_as_dovecot_does(tmp_path: Path) -> None:
    root = tmp_path / "out"
    writer = MaildirWriter(root, "Release v1.2/a\\b")
    writer.add(b"Subject: x\r\n\r\ny\r\n", frozenset(), datetime(2020, 1, 1, tzinfo=UTC))
    writer.finish()
    assert writer.path.name == ".Release v1\\2e2.a\\5cb"
    assert [folder.name for folder in find_folders(root) if folder.name] == ["Release v1.2/a\\b"]
