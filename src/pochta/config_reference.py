"""The configuration reference, generated from the settings model (docs/configuration.md).

Generating it keeps the documentation and the defaults in one place: a test fails when the
committed docs/configuration.md differs from what this renders.
"""

from __future__ import annotations

from typing import Any

from annotated_types import Ge, Gt, Le, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pochta.config import LISTENER_KINDS, NOT_YET_AVAILABLE, Settings

HEADER = """# Configuration reference

pochta reads one TOML file, `DATA/pochta.toml` (`DATA` is `--data`, `$POCHTA_DATA` or
`./pochta-data`). Every key is optional; a missing key takes the default below. A bad value stops
`pochta serve` with exit code 2 and a message naming the file, the key and the problem, before
anything is created or changed; `pochta config check` does the same check on demand.

This page is generated from the settings model: `pochta config reference > docs/configuration.md`.
"""


def _constraints(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        if isinstance(item, Ge):
            parts.append(f">= {item.ge}")
        elif isinstance(item, Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, Le):
            parts.append(f"<= {item.le}")
        elif isinstance(item, MinLen):
            parts.append(f"length >= {item.min_length}")
    return ", ".join(parts)


def _type_name(info: FieldInfo) -> str:
    annotation: Any = info.annotation
    args = getattr(annotation, "__args__", None)
    if getattr(annotation, "__origin__", None) is not None and "Literal" in repr(annotation):
        return " \\| ".join(f'`"{a}"`' for a in args or ())
    if type(None) in (args or ()):
        # `str | None`: an optional key; its "|" would otherwise split the table cell.
        inner = [a for a in args or () if a is not type(None)]
        return " or ".join(getattr(a, "__name__", repr(a)) for a in inner) + " (optional)"
    return getattr(annotation, "__name__", repr(annotation)).replace("|", "\\|")


def toml_value(value: Any) -> str:
    """A default written as it would be in pochta.toml (lists and tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def default_cell(info: FieldInfo) -> str:
    """The default column: the value in TOML syntax, or "unset" for an optional key."""
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    return "`" + toml_value(value).replace("|", "\\|") + "`"


def _table(model: type[BaseModel]) -> list[str]:
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    return lines + [_row(name, info) for name, info in model.model_fields.items()]


def _row(name: str, info: FieldInfo) -> str:
    description = (info.description or "").replace("|", "\\|")
    return f"| `{name}` | {_type_name(info)} | {default_cell(info)} | {_constraints(info)} | {description} |"


def render_reference(settings_model: type[Settings]) -> str:
    out = [HEADER, "## Top level", ""]
    sections: list[tuple[str, type[BaseModel]]] = []
    top = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for name, info in settings_model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections.append((name, annotation))
        elif name == "listeners":
            continue
        else:
            top.append(_row(name, info))
    out += [*top, ""]
    out += [
        "## [listeners]",
        "",
        'Each listener is `"host:port"`, `"[v6addr]:port"`, `"*:port"` (all addresses), a UNIX socket',
        'path (`lmtp` only) or `"off"`. Unlisted names keep their defaults. TLS is fixed by the name:',
        "",
        "| name | protocol | TLS | default |",
        "|---|---|---|---|",
    ]
    for name, kind in LISTENER_KINDS.items():
        out.append(f"| `{name}` | {kind.protocol} | {kind.tls.value} | `{kind.default}` |")
    out.append("")
    for name, service in NOT_YET_AVAILABLE.items():
        out.append(
            f'`{name}`: {service} is not available yet; nothing listens for it, and any value but `"off"` '
            "is a configuration error."
        )
        out.append("")
    for name, model in sections:
        out += [f"## [{name}]", "", *_table(model), ""]
    return "\n".join(out)
