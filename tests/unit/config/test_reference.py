"""docs/configuration.md is generated from the settings model and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from pochta.config import Settings
from pochta.config_reference import render_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_committed_reference_matches_the_model() -> None:
    expected = render_reference(Settings)
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/configuration.md is stale: run `pochta config reference > docs/configuration.md`"
    )


def test_every_field_is_documented() -> None:
    text = render_reference(Settings)
    for section_name, info in Settings.model_fields.items():
        model = info.annotation
        fields = getattr(model, "model_fields", {section_name: info})
        for name, field in fields.items():
            assert field.description, f"{section_name}.{name} has no description"
            assert f"`{name}`" in text or f"## [{name}]" in text
