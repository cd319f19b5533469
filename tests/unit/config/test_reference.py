"""docs/configuration.md is generated from the settings model and must not drift from it."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pochta.config import LISTENER_KINDS, Settings
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


def _documented_defaults(text: str) -> dict[str, str]:
    """`section.key` (or `key` at the top level) -> the default cell of its row in the reference."""
    defaults: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## ["):
            section = line.removeprefix("## [").removesuffix("]") + "."
        elif line.startswith("## "):
            section = ""
        elif line.startswith("| `") and line.count(" | ") >= 4:
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) == 5:  # key | type | default | allowed | meaning (not the listener table)
                defaults[section + cells[0].strip("`")] = cells[2]
    return defaults


def _fields() -> Iterator[tuple[str, FieldInfo]]:
    for section_name, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, field in model.model_fields.items():
                yield f"{section_name}.{name}", field
        elif section_name != "listeners":  # its defaults are the listener table
            yield section_name, info


@pytest.mark.parametrize(("key", "field"), list(_fields()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_default_is_shown_and_reads_back_as_the_default(key: str, field: FieldInfo) -> None:
    """The default column of the committed page, read as TOML, is the model's default: no
    "(see below)", no list or table left out, no cell broken by a stray "|"."""
    cell = _documented_defaults(DOC.read_text(encoding="utf-8")).get(key)
    assert cell is not None, f"{key}: no row in docs/configuration.md"
    default = field.get_default(call_default_factory=True)
    if default is None:
        assert cell == "unset", f"{key}: {cell!r}"
        return
    assert cell.startswith("`"), f"{key}: default cell {cell!r} is not a value"
    assert cell.endswith("`"), f"{key}: default cell {cell!r} is not a value"
    value = tomllib.loads("v = " + cell.strip("`").replace("\\|", "|"))["v"]
    assert value == default, f"{key}: the page shows {cell}, the model's default is {default!r}"


def test_listener_table_shows_every_default() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, kind in LISTENER_KINDS.items():
        assert f"| `{name}` | {kind.protocol} | {kind.tls.value} | `{kind.default}` |" in text
