"""The rules of IMAP external accounts (pochta.fetch.imap_keys): options, folders, keys and which
records are stale (docs/fetch.md "IMAP accounts")."""

from __future__ import annotations

import hashlib

import pytest

from pochta.fetch.imap_keys import (
    ImapOptions,
    InvalidOptions,
    ListedFolder,
    content_key,
    earlier_digests,
    local_folder,
    message_key,
    parse_folders,
    parse_key,
    stale_keys,
)


def test_folders_default_to_inbox_and_inbox_is_case_blind() -> None:
    assert parse_folders(None) == ("INBOX",)
    assert parse_folders("inbox, Work ,Lists/python,Work") == ("INBOX", "Work", "Lists/python")
    assert parse_folders("Notes: 2024") == ("Notes: 2024",)
    for bad in ("INBOX,,Work", " ", "A,\r\nB"):
        with pytest.raises(InvalidOptions):
            parse_folders(bad)


def test_remote_folders_file_under_their_own_names() -> None:
    assert local_folder("INBOX", ".", None) is None  # INBOX
    assert local_folder("inbox", ".", "Remote") == "Remote"
    assert local_folder("Lists.python", ".", None) == "Lists/python"
    assert local_folder("Lists.python", ".", "Remote") == "Remote/Lists/python"
    assert local_folder("Lists/python", "/", None) == "Lists/python"
    assert local_folder("a/b.c", ".", None) == "a_b/c"  # a "/" inside one level
    assert local_folder("Work", None, "Archive") == "Archive/Work"


def test_options_round_trip_and_garbage_falls_back_to_inbox() -> None:
    options = ImapOptions(("INBOX", "Work"), mirror_flags=True)
    assert ImapOptions.from_json(options.to_json()) == options
    assert ImapOptions.from_json("{}") == ImapOptions()
    assert ImapOptions.from_json("not json") == ImapOptions()
    assert ImapOptions.from_json('{"folders": []}') == ImapOptions()
    assert ImapOptions.from_json('{"folders": [1]}').folders == ("INBOX",)


def test_keys_carry_folder_uidvalidity_uid_even_with_colons_in_the_name() -> None:
    assert message_key("INBOX", 7, 42) == "imap:INBOX:7:42"
    parsed = parse_key(message_key("Notes: 2024", 7, 42))
    assert parsed is not None
    assert (parsed.folder, parsed.uidvalidity, parsed.uid, parsed.digest) == ("Notes: 2024", 7, 42, None)
    key = content_key("a:b", 3, 9, b"bytes")
    digest = hashlib.sha256(b"bytes").hexdigest()
    assert key == f"imap-sha256:a:b:3:9:{digest}"
    parsed = parse_key(key)
    assert parsed is not None
    assert (parsed.folder, parsed.uid, parsed.digest, parsed.message_key) == (
        "a:b",
        9,
        digest,
        "imap:a:b:3:9",
    )
    for other in ("uidl:abc", "top:123", "imap:INBOX:x:1", "imap:INBOX", "imap-sha256:F:1:2"):
        assert parse_key(other) is None


def test_a_message_gone_from_its_folder_is_stale_with_its_digest() -> None:
    known = {message_key("INBOX", 5, 1), content_key("INBOX", 5, 1, b"1")}
    known |= {message_key("INBOX", 5, 2), content_key("INBOX", 5, 2, b"2")}
    known |= {"uidl:from-another-protocol", message_key("Unlisted", 1, 1)}
    listed = [ListedFolder("INBOX", 5, frozenset({2, 3}))]
    assert stale_keys(known, listed) == {message_key("INBOX", 5, 1), content_key("INBOX", 5, 1, b"1")}
    # A digest whose message record is missing serves nothing either.
    assert stale_keys({content_key("INBOX", 5, 2, b"2")}, listed) == {content_key("INBOX", 5, 2, b"2")}


def test_records_of_an_older_uidvalidity_stay_until_every_current_message_is_recorded() -> None:
    old = {message_key("Work", 1, 1), content_key("Work", 1, 1, b"a")}
    folder = ListedFolder("Work", 2, frozenset({1, 2}))
    assert earlier_digests(old, folder) == {hashlib.sha256(b"a").hexdigest()}
    assert earlier_digests(old, ListedFolder("Work", 1, frozenset({1}))) == set()
    partly = old | {message_key("Work", 2, 1)}
    assert stale_keys(partly, [folder]) == set()  # UID 2 not recorded yet: its digest may match
    done = partly | {message_key("Work", 2, 2)}
    assert stale_keys(done, [folder]) == old
