"""Where `pochta migrate` puts each remote folder (pochta.fetch.migrate_names), and how the CLI
reads imap://LOGIN@HOST[:PORT]."""

from __future__ import annotations

import click
import pytest

from pochta.cli.migrate import parse_source
from pochta.fetch.imap_remote import RemoteFolder, TlsMode, uid_set
from pochta.fetch.migrate_names import plan_folders

OURS = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk", "\\Archive": "Archive"}


def _folder(
    name: str, *attributes: str, delimiter: str | None = ".", subscribed: bool = False
) -> RemoteFolder:
    return RemoteFolder(name, delimiter, frozenset(attributes), subscribed)


def _plan(folders: list[RemoteFolder], special_use: bool = True, **mapping: str) -> dict[str, str | None]:
    plans = plan_folders(folders, folder_map=mapping, local_special=OURS, server_has_special_use=special_use)
    return {plan.remote.name: plan.local for plan in plans}


def test_special_use_attributes_and_nesting() -> None:
    folders = [
        _folder("INBOX"),
        _folder("Sent Items", "\\Sent"),
        _folder("Sent Items.2019"),
        _folder("Gelöscht", "\\Trash"),
        _folder("Work", "\\Noselect"),
        _folder("Work.a/b"),
        _folder("[Gmail].All Mail", "\\All"),
        _folder("Spam"),  # the server has SPECIAL-USE and does not mark it: an ordinary folder
    ]
    assert _plan(folders) == {
        "INBOX": "INBOX",
        "Sent Items": "Sent",
        "Sent Items.2019": "Sent/2019",
        "Gelöscht": "Trash",
        "Work": "Work",
        "Work.a/b": "Work/a_b",
        "[Gmail].All Mail": None,
        "Spam": "Spam",
    }


def test_common_names_without_special_use() -> None:
    folders = [
        _folder("INBOX"),
        _folder("Sent Messages"),
        _folder("Spam"),
        _folder("Deleted Items"),
        _folder("Sent"),
    ]
    assert _plan(folders, special_use=False) == {
        "INBOX": "INBOX",
        "Deleted Items": "Trash",
        "Sent": "Sent",  # the first of two \Sent candidates by name order takes our Sent
        "Sent Messages": "Sent Messages",
        "Spam": "Junk",
    }


def test_inbox_namespace_prefix_and_map() -> None:
    folders = [
        _folder("INBOX"),
        _folder("INBOX.Drafts"),
        _folder("INBOX.Lists"),
        _folder("INBOX.Lists.python"),
    ]
    assert _plan(folders, special_use=False, **{"INBOX.Lists": "Mailing lists"}) == {
        "INBOX": "INBOX",
        "INBOX.Drafts": "Drafts",
        "INBOX.Lists": "Mailing lists",
        "INBOX.Lists.python": "Mailing lists/python",
    }
    # One folder below INBOX is a child of INBOX, not a namespace.
    assert _plan([_folder("INBOX"), _folder("INBOX.Work")]) == {"INBOX": "INBOX", "INBOX.Work": "INBOX/Work"}


def test_parse_source() -> None:
    assert parse_source("imap://alice%40example.org@mail.example.net", TlsMode.IMPLICIT) == (
        "alice@example.org",
        "mail.example.net",
        993,
    )
    assert parse_source("imap://bob@127.0.0.1:1143", TlsMode.NONE) == ("bob", "127.0.0.1", 1143)
    assert parse_source("imap://bob@h", TlsMode.STARTTLS) == ("bob", "h", 143)
    for bad in ("pop3://bob@h", "imap://h", "imap://bob:pw@h", "imap://bob@h/INBOX", "imap://bob@h:99999"):
        with pytest.raises(click.BadParameter):
            parse_source(bad, TlsMode.IMPLICIT)


def test_uid_sets() -> None:
    assert uid_set([9, 1, 2, 3, 7, 10]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"
    assert uid_set([]) == ""
