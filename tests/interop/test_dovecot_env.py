"""The Dovecot peer of tests/dovecot_env.py in the setup bench/vs_dovecot.py uses: sdbox mail, POP3,
and a passwd-file holding pochta's own argon2id hash next to a {PLAIN} password."""

from __future__ import annotations

import imaplib
import poplib
import smtplib

import pytest

from dovecot_env import dovecot_missing, dovecot_server
from pochta.auth.passwords import hash_password

pytestmark = pytest.mark.interop

PASSWORD = "peer password 1"
MESSAGE = b"From: a@example.net\r\nTo: b@example.org\r\nSubject: peer\r\n\r\nhello\r\n"


def test_dovecot_peer_sdbox_pop3_and_argon2id_logins() -> None:
    missing = dovecot_missing(("imap", "pop3", "lmtp"))
    if missing:
        pytest.skip(missing)
    users = {
        "hashed@example.org": "{ARGON2ID}" + hash_password(PASSWORD),
        "plain@example.org": "{PLAIN}" + PASSWORD,
    }
    with dovecot_server(protocols=("imap", "pop3", "lmtp"), mail_format="sdbox", users=users) as server:
        with smtplib.LMTP("127.0.0.1", server.lmtp, timeout=30) as lmtp:
            for user in users:  # one recipient per transaction: smtplib reads one reply after DATA
                lmtp.sendmail("a@example.net", [user], MESSAGE)
        for user in users:
            with imaplib.IMAP4("127.0.0.1", server.imap, timeout=30) as imap:
                imap.login(user, PASSWORD)
                typ, data = imap.select("INBOX", readonly=True)
                assert (typ, data) == ("OK", [b"1"])
            pop = poplib.POP3("127.0.0.1", server.pop3, timeout=30)
            pop.user(user)
            pop.pass_(PASSWORD)
            assert pop.stat()[0] == 1
            assert b"\r\n".join(pop.retr(1)[1]).endswith(b"hello")
            pop.quit()
        with imaplib.IMAP4("127.0.0.1", server.imap, timeout=30) as imap, pytest.raises(imaplib.IMAP4.error):
            imap.login("hashed@example.org", "wrong password")
        sdbox = list((server.root / "mail" / "hashed@example.org").rglob("u.*"))
        assert len(sdbox) == 1, sdbox  # sdbox: one u.UID file per message
        assert "Error:" not in server.log_text()
