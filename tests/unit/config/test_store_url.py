"""``[store] url``: the forms accepted, the precise errors, and the refusal of an engine not complete
yet by the factory and by every CLI command (docs/scaling.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from pochta.cli import main
from pochta.config import ConfigError, Settings, load_settings
from pochta.config_store_url import parse_store_url
from pochta.store.factory import PG_NOT_COMPLETE, EngineRefused, open_store, unsupported


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


def test_open_store_refuses_postgresql_until_it_serves_mail(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "postgresql://mail@127.0.0.1/pochta")
    with pytest.raises(EngineRefused, match="the PostgreSQL store is not complete yet"):
        asyncio.run(open_store(tmp_path, settings))
    assert not (tmp_path / "pochta.db").exists()  # refused before anything was created


@pytest.mark.parametrize("command", [["serve"], ["user", "list"], ["queue", "list"], ["config", "check"]])
def test_every_cli_command_refuses_postgresql_with_one_message(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "pochta.toml").write_text('[store]\nurl = "postgresql://mail@127.0.0.1/pochta"\n')
    result = CliRunner().invoke(main, [*command, "--data", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert PG_NOT_COMPLETE in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "pochta.db").exists()
