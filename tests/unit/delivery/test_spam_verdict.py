"""The spam verdict pochta acts on (docs/antispam.md "rspamd"): the fields a client brought are
stripped at the MX, and only a milter's own modification of the junk header means Junk."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pochta.config import AntispamSettings
from pochta.delivery.spam_verdict import JunkVerdict, strip_fields


def test_strip_fields_removes_named_fields_with_their_folding() -> None:
    header = (
        b"Received: from a\r\n\tby b\r\n"
        b"X-Spam: No\r\n"
        b"X-Spamd-Result: default: False [0.00 / 15.00];\r\n\tR_DUMMY(0.00)[]\r\n"
        b"Subject: hi\r\n"
        b"x-spam: no\r\n"
    )
    kept = strip_fields(header, AntispamSettings().stripped())
    assert kept == b"Received: from a\r\n\tby b\r\nSubject: hi\r\n"


def test_strip_fields_keeps_everything_without_names() -> None:
    assert strip_fields(b"X-Spam: No\r\n", frozenset()) == b"X-Spam: No\r\n"


def test_junk_header_always_stripped() -> None:
    settings = AntispamSettings(junk_header="X-Verdict", strip_headers=[])
    assert settings.stripped() == frozenset({b"x-verdict"})


def test_junk_verdict_matches_name_and_value_without_case() -> None:
    verdict = JunkVerdict("X-Spam", "Yes")
    assert verdict.says_junk("x-spam", " yes")
    assert not verdict.says_junk("X-Spam", "No")
    assert not verdict.says_junk("X-Spam-Flag", "Yes")
    assert not JunkVerdict("", "Yes").says_junk("X-Spam", "Yes")


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ValidationError):
        AntispamSettings(junk_header="X Spam")
    with pytest.raises(ValidationError):
        AntispamSettings(rspamd_controller="https://127.0.0.1:11334")
    with pytest.raises(ValidationError):
        AntispamSettings(strip_headers=["bad:name"])
    assert AntispamSettings(rspamd_controller="http://127.0.0.1:11334/").rspamd_controller == (
        "http://127.0.0.1:11334"
    )
