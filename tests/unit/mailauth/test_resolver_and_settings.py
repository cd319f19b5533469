"""The [mailauth] settings and trusted_networks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pochta.config import Settings
from pochta.config_mailauth import MailAuthSettings


def test_trusted_networks() -> None:
    settings = Settings()
    assert settings.trusts("127.0.0.1")
    assert settings.trusts("::1")
    assert not settings.trusts("127.0.0.2")
    assert not settings.trusts("unix")
    assert not settings.trusts("192.0.2.1")
    assert Settings(trusted_networks=["192.0.2.0/24"]).trusts("::ffff:192.0.2.7")
    with pytest.raises(ValidationError, match=r"trusted_networks: '192\.0\.2\.0/33' is not an address"):
        Settings(trusted_networks=["192.0.2.0/33"])
    with pytest.raises(ValidationError):
        MailAuthSettings(dkim_max_signatures=0)
    assert Settings().mailauth.dkim_max_signatures == 10
