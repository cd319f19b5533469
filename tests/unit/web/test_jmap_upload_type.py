"""The media type an upload keeps (RFC 8620 section 6.1: the request's Content-Type), and the
upload settings' bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pochta.config_jmap import JmapSettings
from pochta.web.jmap_upload import DEFAULT_TYPE, upload_type


def test_the_type_is_the_content_type_as_sent() -> None:
    assert upload_type("image/png") == "image/png"
    assert upload_type("  text/plain; charset=utf-8 ") == "text/plain; charset=utf-8"


@pytest.mark.parametrize("sent", [None, "", "   ", "x/" + "y" * 300, "text/plain\x00"])
def test_a_missing_or_unkeepable_type_is_octets(sent: str | None) -> None:
    assert upload_type(sent) == DEFAULT_TYPE == "application/octet-stream"


def test_upload_lifetime_has_a_day_by_default_and_bounds() -> None:
    assert JmapSettings().upload_lifetime == 86_400
    assert JmapSettings(upload_lifetime=60).upload_lifetime == 60
    with pytest.raises(ValidationError):
        JmapSettings(upload_lifetime=59)
    with pytest.raises(ValidationError):
        JmapSettings(upload_lifetime=31 * 86_400)
