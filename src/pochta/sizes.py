"""Sizes in octets as people write them (`500M`, `2G`, `1048576`, `none`): one parser for the
command line (`pochta user set --quota`) and the settings keys that hold a size (`quota.bytes`
set on a unit). Pure: no I/O, no click."""

from __future__ import annotations

__all__ = ["SIZE_UNITS", "format_size", "parse_size"]

# Binary multiples, as `--quota 2G` has always meant.
SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int | None:
    """`500M`, `2G`, `1048576` or `none`/`unlimited` (None) -> octets; ValueError says why not."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B") if text.strip() else ""
    if value in ("NONE", "UNLIMITED"):
        return None
    number, unit = value, ""
    if value and value[-1] in SIZE_UNITS:
        number, unit = value[:-1], value[-1]
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"expected a size such as 500M, 2G or 'none', got {text!r}") from None
    if amount < 0:
        raise ValueError(f"size cannot be negative: {text!r}")
    if amount != amount or amount == float("inf"):  # "nan", "inf": float() reads them
        raise ValueError(f"expected a size such as 500M, 2G or 'none', got {text!r}")
    return int(amount * SIZE_UNITS[unit])


def format_size(size: int | None) -> str:
    """The shortest exact form: `2G`, `500M`, `1000`; None is `unlimited`."""
    if size is None:
        return "unlimited"
    for unit in ("T", "G", "M", "K"):
        factor = SIZE_UNITS[unit]
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)
