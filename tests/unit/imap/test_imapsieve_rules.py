"""Matching of the administrator's IMAPSIEVE rules (sieve.imap_rules, docs/sieve.md "IMAPSIEVE"):
mailbox and source by name pattern or special-use attribute, causes, and ``from`` as Dovecot's
imapsieve_mailboxN_from (a COPY from a matching mailbox only; "*" or unset: any event)."""

from __future__ import annotations

from pathlib import Path

from pochta.config_sieve import ImapRule
from pochta.server.imap.imapsieve import _Rule
from pochta.store.model import MailboxInfo


def _box(name: str, special_use: str | None = None) -> MailboxInfo:
    return MailboxInfo(1, 1, name, 1, 1, 1, special_use, False, 0, 0, 0, 0)


def _rule(tmp_path: Path, **fields: object) -> _Rule:
    script = tmp_path / "rule.sieve"
    script.write_text("keep;\n")
    return _Rule(ImapRule.model_validate({"before": str(script)} | fields))


def test_mailbox_by_name_pattern_or_special_use(tmp_path: Path) -> None:
    junk = _rule(tmp_path, mailbox="\\junk")  # attributes compare without case
    assert junk.matches("COPY", _box("Spam", "\\Junk"), None)
    assert not junk.matches("COPY", _box("Junk"), None)  # the name alone is not the attribute
    pattern = _rule(tmp_path, mailbox="Lists/%")
    assert pattern.matches("APPEND", _box("Lists/ietf"), None)
    assert not pattern.matches("APPEND", _box("Lists/ietf/sieve"), None)  # % stops at the separator
    assert _rule(tmp_path, mailbox="inbox").matches("FLAG", _box("INBOX"), None)  # INBOX in any case
    assert _rule(tmp_path, mailbox="*").matches("FLAG", _box("Any/Thing"), None)


def test_causes_and_source(tmp_path: Path) -> None:
    rule = _rule(tmp_path, mailbox="*", causes=["COPY"], **{"from": "\\Junk"})
    assert rule.matches("COPY", _box("INBOX"), _box("Spam", "\\Junk"))
    assert not rule.matches("COPY", _box("INBOX"), _box("Archive", "\\Archive"))
    assert not rule.matches("APPEND", _box("INBOX"), None)  # not a cause of the rule
    only_copies = _rule(tmp_path, mailbox="*", **{"from": "INBOX"})
    assert not only_copies.matches("FLAG", _box("INBOX"), None)  # a from given: COPY events only
    anything = _rule(tmp_path, mailbox="*", **{"from": "*"})
    assert anything.matches("APPEND", _box("INBOX"), None)  # "*": as if unset
