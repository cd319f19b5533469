"""[[milters]] tables: the socket forms accepted and refused, the defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pochta.config import Settings


def test_defaults_and_socket_forms() -> None:
    settings = Settings.model_validate(
        {
            "milters": [
                {"socket": "inet:127.0.0.1:11332"},
                {"socket": "unix:/run/opendkim.sock", "name": "dkim"},
            ]
        }
    )
    first, second = settings.milters
    assert (first.listeners, first.default_action, first.label) == (
        ["smtp"],
        "tempfail",
        "inet:127.0.0.1:11332",
    )
    assert (first.address.host, first.address.port, first.address.path) == ("127.0.0.1", 11332, None)
    assert (second.address.path, second.label) == ("/run/opendkim.sock", "dkim")
    assert Settings().milters == []
    assert (
        Settings.model_validate({"milters": [{"socket": "inet:[::1]:8891"}]}).milters[0].address.host == "::1"
    )


@pytest.mark.parametrize(
    "table",
    [
        {"socket": "127.0.0.1:11332"},
        {"socket": "inet:127.0.0.1"},
        {"socket": "inet:127.0.0.1:0"},
        {"socket": "inet:[zz::1]:25"},
        {"socket": "unix:relative"},
        {"socket": "inet:h:1", "default_action": "reject"},
        {"socket": "inet:h:1", "listeners": ["lmtp"]},
        {"socket": "inet:h:1", "command_timeout": 0},
        {},
    ],
)
def test_bad_tables(table: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"milters": [table]})
