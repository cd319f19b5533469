"""Settings: defaults, validation messages that name file and key, listener address forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pochta.config import (
    LISTENER_KINDS,
    ConfigError,
    ListenAddress,
    Settings,
    SieveSettings,
    TlsMode,
    load_settings,
    parse_listen_address,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pochta.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_file_gives_every_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings == Settings()
    assert set(settings.listeners) == set(LISTENER_KINDS)
    assert settings.enabled_listeners()["imap"] == ListenAddress("127.0.0.1", 1143, None)
    assert settings.limits.max_line_length == 64 * 1024


def test_listener_can_be_switched_off_and_moved(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, '[listeners]\npop3 = "off"\nimap = "[::1]:143"\nlmtp = "/run/pochta/lmtp"\n')
    )
    enabled = settings.enabled_listeners()
    assert "pop3" not in enabled
    assert enabled["imap"] == ListenAddress("::1", 143, None)
    assert enabled["imap"].describe() == "[::1]:143"
    assert enabled["lmtp"] == ListenAddress(None, None, "/run/pochta/lmtp")
    assert enabled["smtp"].port == 2525  # unlisted names keep defaults


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('[listeners]\nimap = "127.0.0.1:99999"\n', "listeners.imap", "port must be 0..65535"),
        ('[listeners]\nimap = "/tmp/imap.sock"\n', "listeners.imap", "only allowed for lmtp"),
        ('[listeners]\nfoo = "127.0.0.1:1"\n', "listeners.foo", "unknown listener; known: smtp,"),
        ('[listeners]\nsmtp = "mail.example.org:25"\n', "listeners.smtp", "must be an IP address"),
        ("[listeners]\nimap = 143\n", "listeners.imap", "valid string"),
        ('[listeners]\nhttps = "/run/pochta.sock"\n', "listeners.https", "only allowed for lmtp"),
        ("[http]\nmax_header_size = 100\n", "http.max_header_size", "greater than or equal to 1024"),
        ("[http]\nheader_timeout = 0\n", "http.header_timeout", "greater than 0"),
        ('[mta_sts]\nmode = "strict"\n', "mta_sts.mode", "'enforce', 'testing' or 'none'"),
        ("[mta_sts]\nmax_age = 40000000\n", "mta_sts.max_age", "less than or equal to 31557600"),
        ('[mta_sts]\nmx = ["bad host"]\n', "mta_sts.mx", "not a host name"),
        ("[limits]\nmax_recipients = 0\n", "limits.max_recipients", "greater than or equal to 1"),
        ('[limits]\nmax_recipients = "many"\n', "limits.max_recipients", "valid integer"),
        ("[limits]\nno_such_limit = 1\n", "limits.no_such_limit", "Extra inputs are not permitted"),
        ('hostname = "bad host"\n', "hostname", "not a valid host name"),
        ('[login]\nplaintext_on_insecure = "sometimes"\n', "login.plaintext_on_insecure", "'loopback'"),
        ('[metrics]\nlisten = "nowhere"\n', "metrics.listen", "expected host:port"),
        ('[queue.transport]\n"example.com" = "x:y:z"\n', 'queue.transport."example.com"', ""),
        ('[imap]\nmetadata_admin = "postmaster"\n', "imap.metadata_admin", "not a URI"),
        ('[imap]\nmetadata_admin = "1mailto:x"\n', "imap.metadata_admin", "not a URI"),
        # RFC 5464 §4.1: at least 1024 octets per value and 10 entries per mailbox must be allowed.
        (
            "[imap]\nmetadata_max_entry_size = 1023\n",
            "imap.metadata_max_entry_size",
            "greater than or equal to 1024",
        ),
        ('[sieve]\nbefore = ["/nonexistent/spam.sieve"]\n', "sieve.before", "is not a file"),
        ('[sieve.domain_after]\n"Example.org" = []\n', "sieve.domain_after", "lower case"),
        ("[sieve]\nerror_days = 0\n", "sieve.error_days", "greater than or equal to 1"),
        # sieve.imap_rules (RFC 6785 IMAPSIEVE): a script file that exists, one at least, known causes.
        (
            '[[sieve.imap_rules]]\nmailbox = "Junk"\nbefore = "/nonexistent/spam.sieve"\n',
            "sieve.imap_rules.0.before",
            "is not a file",
        ),
        ('[[sieve.imap_rules]]\nmailbox = "Junk"\n', "sieve.imap_rules.0", "names no script"),
        (
            "[imap]\nmetadata_max_entries_per_mailbox = 9\n",
            "imap.metadata_max_entries_per_mailbox",
            "greater than",
        ),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: ")
    assert fragment in message


def test_http_listeners_are_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    """http (plain) and https (implicit TLS) listen on loopback by default like the others; an
    older config with http "off" still loads, and turns it off."""
    enabled = Settings().enabled_listeners()
    assert enabled["http"].describe() == "127.0.0.1:8080"
    assert enabled["https"].describe() == "127.0.0.1:8443"
    assert LISTENER_KINDS["https"].tls is TlsMode.IMPLICIT
    settings = load_settings(write(tmp_path, '[listeners]\nhttp = "off"\n'))
    assert set(settings.enabled_listeners()) == set(LISTENER_KINDS) - {"http"}
    settings = load_settings(write(tmp_path, '[listeners]\nmanagesieve = "off"\n'))
    assert set(settings.enabled_listeners()) == set(LISTENER_KINDS) - {"managesieve"}


def test_toml_syntax_error_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "hostname = \n")
    with pytest.raises(ConfigError, match=r"pochta\.toml: not valid TOML"):
        load_settings(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "pochta.toml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0.0.0:25", ListenAddress("0.0.0.0", 25, None)),
        ("*:25", ListenAddress("*", 25, None)),
        ("localhost:0", ListenAddress("localhost", 0, None)),
        ("[2001:db8::1]:993", ListenAddress("2001:db8::1", 993, None)),
        ("unix:/var/run/lmtp", ListenAddress(None, None, "/var/run/lmtp")),
    ],
)
def test_listen_address_forms(value: str, expected: ListenAddress) -> None:
    assert parse_listen_address(value, allow_unix=True) == expected


@pytest.mark.parametrize(
    "value", ["25", "host", ":25", "2001:db8::1:25", "[::1]25", "unix:relative", "1.2.3.4:x"]
)
def test_listen_address_rejects(value: str) -> None:
    with pytest.raises(ValueError, match=r"expected|port|absolute|IPv6"):
        parse_listen_address(value, allow_unix=True)


def test_hostname_is_normalised() -> None:
    assert Settings(hostname="Mail.Example.ORG.").hostname == "mail.example.org"


def test_message_limit_per_session_defaults(tmp_path: Path) -> None:
    # SMTP and submission: 100 messages a session; LMTP (trusted MTAs): no limit unless configured.
    settings = load_settings(write(tmp_path, ""))
    assert (settings.smtp.max_messages_per_connection, settings.lmtp.max_messages_per_connection) == (100, 0)
    settings = load_settings(write(tmp_path, "[lmtp]\nmax_messages_per_connection = 5000\n"))
    assert settings.lmtp.max_messages_per_connection == 5000


def test_search_indexer_settings(tmp_path: Path) -> None:
    defaults = Settings().search
    assert (defaults.indexer, defaults.index_batch, defaults.index_interval) == (True, 100, 1.0)
    assert defaults.index_batch_chars == 256 * 1024
    assert defaults.index_pause == 0.25
    assert load_settings(write(tmp_path, "[search]\nindex_pause = 2\n")).search.index_pause == 2.0
    settings = load_settings(
        write(tmp_path, "[search]\nindexer = false\nindex_batch = 64\nindex_interval = 0.5\n")
    )
    assert (settings.search.indexer, settings.search.index_batch, settings.search.index_interval) == (
        False,
        64,
        0.5,
    )
    for bad in (
        "index_batch = 0",
        "index_batch_chars = 0",
        "index_interval = 0",
        "index_interval = 7200",
        "index_pause = 0",
        "index_pause = 7200",
    ):
        with pytest.raises(ConfigError, match=r"search\.index_"):
            load_settings(write(tmp_path, f"[search]\n{bad}\n"))


def test_accept_balance_wait(tmp_path: Path) -> None:
    assert Settings().server.accept_balance_wait == 0.005
    settings = load_settings(write(tmp_path, "[server]\naccept_balance_wait = 0\n"))
    assert settings.server.accept_balance_wait == 0.0
    for bad in ("accept_balance_wait = -1", "accept_balance_wait = 2"):
        with pytest.raises(ConfigError, match=r"server\.accept_balance_wait"):
            load_settings(write(tmp_path, f"[server]\n{bad}\n"))


def test_inline_blob_settings(tmp_path: Path) -> None:
    defaults = Settings().store
    assert (defaults.inline_blob_max, defaults.blob_prefetch_bytes) == (32 * 1024, 1024 * 1024)
    settings = load_settings(write(tmp_path, "[store]\ninline_blob_max = 0\nblob_prefetch_bytes = 65536\n"))
    assert (settings.store.inline_blob_max, settings.store.blob_prefetch_bytes) == (0, 65536)
    for bad in ("inline_blob_max = -1", "inline_blob_max = 2097152", "blob_prefetch_bytes = 1000"):
        with pytest.raises(ConfigError, match=r"store\.(inline_blob_max|blob_prefetch_bytes)"):
            load_settings(write(tmp_path, f"[store]\n{bad}\n"))


def test_metadata_admin_uri_and_its_default() -> None:
    from pochta.mail.metadata import computed_entries

    assert Settings().imap.metadata_admin == ""
    assert computed_entries(Settings(), None) == {}  # no URI and no postmaster: no /shared/admin
    postmaster = Settings.model_validate({"smtp": {"postmaster": "Boss@Example.org"}})
    assert computed_entries(postmaster, None) == {"/shared/admin": b"mailto:Boss@example.org"}
    configured = Settings.model_validate(
        {"imap": {"metadata_admin": " tel:+1-555-0100 "}, "smtp": {"postmaster": "a@b.c"}}
    )
    assert computed_entries(configured, None) == {"/shared/admin": b"tel:+1-555-0100"}


def test_sieve_settings_bounds_and_the_limits_they_give() -> None:
    sieve = Settings().sieve
    assert (sieve.quota().max_scripts, sieve.run_limits().max_redirects) == (50, 4)
    custom = SieveSettings(max_redirects=0, max_nesting=8, max_actions=5)
    assert (custom.run_limits().max_redirects, custom.run_limits().max_actions) == (0, 5)
    assert custom.parse_limits().max_block_nesting == 8
    for bad in (
        {"max_script_size": 2048, "max_storage": 1024},
        {"vacation_min_period": 10, "vacation_default_period": 5},
        {"duplicate_default_period": 100, "duplicate_max_period": 50},
        {"max_name_length": 127},  # RFC 5804 §1.6: servers MUST allow 128 characters
        {"max_variables": 100},  # RFC 5229 §6: at least 128
    ):
        with pytest.raises(ValidationError):
            SieveSettings(**bad)


def test_imap_rules_read_from_toml(tmp_path: Path) -> None:
    script = tmp_path / "spam.sieve"
    script.write_text("keep;\n")
    text = (
        "[sieve]\nimap_events = true\n"
        f'[[sieve.imap_rules]]\nmailbox = "\\\\Junk"\nfrom = "*"\ncauses = ["COPY"]\nbefore = "{script}"\n'
        f'[[sieve.imap_rules]]\nmailbox = "INBOX"\nafter = "{script}"\n'
    )
    rules = load_settings(write(tmp_path, text)).sieve.imap_rules
    assert [(r.mailbox, r.source, r.causes, r.before, r.after) for r in rules] == [
        ("\\Junk", "*", ["COPY"], script, None),
        ("INBOX", None, ["APPEND", "COPY", "FLAG"], None, script),  # every cause by default
    ]
    bad = f'[[sieve.imap_rules]]\nmailbox = "Junk"\ncauses = ["EXPUNGE"]\nbefore = "{script}"\n'
    with pytest.raises(ConfigError, match=r"sieve\.imap_rules"):
        load_settings(write(tmp_path, bad))
    assert Settings().sieve.imap_events is True
    assert Settings().sieve.imap_rules == []
