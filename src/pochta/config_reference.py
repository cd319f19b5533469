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
`pochta serve` with exit code 2 and a message naming the file, the key and the problem
(`pochta.toml: listeners.imap: port must be 0..65535, got 70000`), before anything is created or
changed.

## Checking a change

`pochta config check` runs every check `pochta serve` runs before it starts: each value, the
certificate and key files (they must exist and belong together), two listeners (or the metrics
endpoint) on one address (`*` counts as every address), a UNIX socket path that is not a socket.
It also binds each listener address and closes it at once, which finds an address in use, a port
below 1024 without the privilege, or an address this machine does not have. While `pochta serve`
runs on the data directory (it holds `DATA/pochta.pid` locked) its own addresses are in use by it,
so check does not bind them and says so; `--no-bind` skips binding anyway.

## Applying a change: reload

`pochta config reload` checks the file the same way, then sends SIGHUP to the running server (found
through `DATA/pochta.pid`; a pid file left by a crashed server is recognised as stale, because its
lock is gone). On SIGHUP the server reads and checks the file again. If the file is bad, the server
keeps the configuration it runs and logs each problem with its key
(`config reload failed, running configuration kept key=limits.max_recipients ...`). Otherwise it
logs every changed key, as one of:

- `config changed key=... old=... new=...`: applied at once, to sessions that start from now on
  (sessions already open keep the limits they started with). This holds for `[limits]`,
  `[login]`, `[smtp]`, `[pop3]`, `[imap]`, `[mime]`, `[log]`, `[server]` (except
  `idle_timeout_unauthenticated`), and `[tls]` `certificate` and `key`: the pair is loaded again
  for new handshakes (SIGHUP reloads it even when the paths did not change, for a renewed
  certificate).
- `config change needs a restart key=... running=... new=...`: the running value stays until the
  next start, because it was set up once: `hostname`, `[listeners]`, `[store]`, `[search]`, `[queue]`,
  `[metrics]`, `tls.handshake_timeout` and `server.idle_timeout_unauthenticated`.

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
    """The default column: the value in TOML syntax, "unset" for an optional key, "required"
    for a key a table must have (a [[milters]] socket)."""
    if info.is_required():
        return "required"
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
    arrays: list[tuple[str, type[BaseModel]]] = []  # [[name]]: a list of tables
    top = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for name, info in settings_model.model_fields.items():
        annotation = info.annotation
        item = (getattr(annotation, "__args__", None) or (None,))[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections.append((name, annotation))
        elif (
            getattr(annotation, "__origin__", None) is list
            and isinstance(item, type)
            and issubclass(item, BaseModel)
        ):
            arrays.append((name, item))
            top.append(_row(name, info))
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
    for name, model in arrays:
        out += [f"## [[{name}]]", "", f"A list of tables (`[[{name}]]` each), none by default.", ""]
        out += [*_table(model), ""]
    return "\n".join(out)
