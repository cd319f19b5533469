"""The smtpReply of a queued recipient's attempt (RFC 8621 section 7: multi-line replies as one)."""

from __future__ import annotations

from pochta.server.jmap.submission_status import _one_line


def test_replies_become_one_line() -> None:
    assert _one_line("250 2.0.0 Ok: queued as 12", "delivered") == "250 2.0.0 Ok: queued as 12"
    # RFC 8621 section 7's example.
    spam = "550-5.7.1 Our system has detected that this message is\r\n550 5.7.1 likely spam."
    assert _one_line(spam, "failed") == "550 5.7.1 Our system has detected that this message is likely spam."
    assert _one_line(None, "delivered").startswith("250 ")
    assert _one_line(None, "failed").startswith("550 ")
    assert _one_line(None, "pending").startswith("451 ")
