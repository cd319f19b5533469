"""``[store] url``: the forms accepted, the precise errors, and what the factory and the CLI make of
a PostgreSQL URL: the store opened on it, or a precise error when it cannot be (docs/scaling.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

import pg_env
from pochta.cli import main
from pochta.config import ConfigError, Settings, load_settings
from pochta.config_store_url import parse_store_url
from pochta.store.factory import PSYCOPG_MISSING, EngineRefused, StoreUnavailable, open_store, unsupported
from pochta.testing.pg_cluster import PgCluster

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url


def _settings(tmp_path: Path, url: str) -> Settings:
    path = tmp_path / "pochta.toml"
    path.write_text(f"[store]\nurl = {url!r}\n")
    return load_settings(path)


def test_the_default_is_sqlite_in_the_data_directory() -> None:
    assert Settings().store.url == ""
    assert Settings().store.engine.engine == "sqlite"
    assert Settings().store.engine.sqlite_path is None


@pytest.mark.parametrize(
    ("url", "engine", "detail"),
    [
        ("sqlite:///pochta.db", "sqlite", "pochta.db"),
        ("sqlite:////var/lib/pochta/pochta.db", "sqlite", "/var/lib/pochta/pochta.db"),
        (
            "postgresql://mail:secret@db.example:5433/pochta",
            "postgresql",
            "postgresql+psycopg://mail:secret@db.example:5433/pochta",
        ),
        ("postgresql+psycopg://mail@db/pochta", "postgresql", "postgresql+psycopg://mail@db/pochta"),
        (
            "postgresql:///pochta?host=/run/postgresql",
            "postgresql",
            "postgresql+psycopg:///pochta?host=/run/postgresql",
        ),
    ],
)
def test_accepted_forms(url: str, engine: str, detail: str) -> None:
    parsed = parse_store_url(url)
    assert parsed.engine == engine
    assert detail in (parsed.sqlite_path, parsed.postgresql_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pochta.db", "not a URL"),
        ("mysql://db/pochta", "unknown store engine 'mysql'"),
        ("postgresql+psycopg2://db/pochta", "driver 'psycopg2' is not supported"),
        ("sqlite://", "a SQLite URL names a file"),
        ("sqlite:///", "a SQLite URL names a file"),
        ("sqlite:///pochta.db?mode=ro", "takes no options"),
        ("sqlite:///data/..", "not a directory"),
        ("postgresql://db.example", "names no database"),
        ("postgresql://db.example:99999/pochta", "bad port"),
        ("postgresql:///pochta", "names no server"),
    ],
)
def test_bad_urls_are_configuration_errors_naming_the_key(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, url)
    assert "url" in str(caught.value)
    assert message in str(caught.value)


def test_a_sqlite_url_must_name_the_data_directorys_own_file(tmp_path: Path) -> None:
    assert unsupported(tmp_path, _settings(tmp_path, "sqlite:///pochta.db")) is None
    assert unsupported(tmp_path, _settings(tmp_path, f"sqlite:///{tmp_path}/pochta.db")) is None
    refused = unsupported(tmp_path, _settings(tmp_path, "sqlite:////srv/other.db"))
    assert refused is not None
    assert "/srv/other.db" in refused
    assert "pochta.db" in refused


def _pg_data(tmp_path: Path, url: str) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "pochta.toml").write_text(f"[store]\nurl = {url!r}\n")
    return data


def test_open_store_opens_postgresql_with_blobs_in_the_data_directory(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)

    async def run() -> None:
        store = await open_store(tmp_path, settings)
        try:
            await store.add_domain("example.org")
            blob = await store.put_blob(b"Subject: x\r\n\r\nbody\r\n")
            assert store.read_blob(blob) == b"Subject: x\r\n\r\nbody\r\n"
            assert store.commit_count() == 1  # the domain; a blob file is no transaction
        finally:
            await store.close()
        again = await open_store(tmp_path, settings)  # a second process sees the same database
        try:
            assert [d.name for d in await again.list_domains()] == ["example.org"]
        finally:
            await again.close()

    asyncio.run(run())
    assert not (tmp_path / "pochta.db").exists()  # no SQLite database beside it
    assert (tmp_path / "blobs").is_dir()


def test_an_unreachable_server_is_one_message_without_the_password(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    # A database that does not exist on a running server, with a password in the URL.
    url = pg_cluster.url("nosuchdb").replace("pochta@", "pochta:s3cret@")
    with pytest.raises(StoreUnavailable) as caught:
        asyncio.run(open_store(tmp_path, _settings(tmp_path, url)))
    message = str(caught.value)
    assert "cannot open the PostgreSQL store" in message
    assert "nosuchdb" in message
    assert "s3cret" not in message


def test_without_psycopg_the_refusal_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    settings = _settings(tmp_path, "postgresql://mail@127.0.0.1/pochta")
    assert unsupported(tmp_path, settings) == PSYCOPG_MISSING
    with pytest.raises(EngineRefused, match=r"pip install 'pochta\[postgresql\]'"):
        asyncio.run(open_store(tmp_path, settings))


def test_cli_commands_run_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    data = _pg_data(tmp_path, pg_url)
    runner = CliRunner()
    for command in (["domain", "add", "example.org"], ["user", "add", "a@example.org", "--password-stdin"]):
        result = runner.invoke(main, [*command, "--data", str(data)], input="secret-password\n")
        assert result.exit_code == 0, result.output
    listed = runner.invoke(main, ["user", "list", "--data", str(data)])
    assert listed.exit_code == 0, listed.output
    assert "a@example.org" in listed.output
    assert not (data / "pochta.db").exists()


@pytest.mark.parametrize("command", [["backup"], ["restore"]])
def test_backup_and_restore_send_postgresql_to_its_own_tools(
    tmp_path: Path, pg_url: str, command: list[str]
) -> None:
    data = _pg_data(tmp_path, pg_url)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = CliRunner().invoke(main, [*command, "--data", str(data), str(elsewhere)])
    assert result.exit_code == 1, result.output
    assert "PostgreSQL's tools (pg_dump" in result.output
    assert "Traceback" not in result.output
    assert list(elsewhere.iterdir()) == []


def test_cli_reports_an_unreachable_database_without_a_traceback(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    data = _pg_data(tmp_path, pg_cluster.url("nosuchdb"))
    result = CliRunner().invoke(main, ["user", "list", "--data", str(data)])
    assert result.exit_code == 1, result.output
    assert "cannot open the PostgreSQL store" in result.output
    assert "Traceback" not in result.output


def test_init_with_a_store_url_writes_it_and_refuses_a_database_already_set_up(
    tmp_path: Path, pg_url: str
) -> None:
    runner = CliRunner()
    first = tmp_path / "first"
    result = runner.invoke(
        main, ["init", "--data", str(first), "--domain", "example.org", "--store-url", pg_url]
    )
    assert result.exit_code == 0, result.output
    assert load_settings(first / "pochta.toml").store.url == pg_url
    assert not (first / "pochta.db").exists()
    listed = runner.invoke(main, ["domain", "list", "--data", str(first)])
    assert "example.org" in listed.output
    # A second init on the same database would change what the first one serves: refused, and
    # nothing is created.
    second = tmp_path / "second"
    again = runner.invoke(
        main, ["init", "--data", str(second), "--domain", "example.org", "--store-url", pg_url]
    )
    assert again.exit_code == 1, again.output
    assert "already holds the domain example.org" in again.output
    assert not second.exists()


def test_serve_stops_with_one_line_when_the_database_cannot_be_opened(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    data = tmp_path / "data"
    init = CliRunner().invoke(main, ["init", "--data", str(data), "--domain", "example.org"])
    assert init.exit_code == 0, init.output
    with open(data / "pochta.toml", "a", encoding="utf-8") as config:
        config.write(f"\n[store]\nurl = {pg_cluster.url('nosuchdb')!r}\n")
    result = CliRunner().invoke(main, ["serve", "--data", str(data), "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert "cannot start: cannot open the PostgreSQL store" in result.output
    assert "Traceback" not in result.output
