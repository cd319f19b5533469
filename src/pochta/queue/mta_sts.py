"""MTA-STS (RFC 8461) for the sending side: the ``_mta-sts`` TXT record, the policy file, and which MX
host names a policy allows. Pure: text in, values or ``PolicyError`` out (the fetch is ``sts_fetch``,
the cache and the decision ``tls_policy``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Mode = Literal["enforce", "testing", "none"]

MAX_AGE_LIMIT = 31557600  # RFC 8461 section 3.2: max_age is at most 31557600 seconds (about a year)

_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")  # RFC 8461 section 3.1: sts-id = 1*32(ALPHA / DIGIT)
_FIELD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")  # RFC 8461 section 3.2: sts-policy-term
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


class PolicyError(ValueError):
    """The TXT record or the policy file breaks RFC 8461; the text says how."""


@dataclass(frozen=True)
class Policy:
    mode: Mode
    max_age: int
    mx: tuple[str, ...]  # lower-case patterns: "mail.example.com" or "*.example.net"

    def allows(self, host: str) -> bool:
        return any(mx_matches(pattern, host) for pattern in self.mx)

    def text(self) -> str:
        """The policy in its file form (what the cache keeps and TLS-RPT reports as policy-string)."""
        lines = ["version: STSv1", f"mode: {self.mode}", *(f"mx: {p}" for p in self.mx)]
        return "\r\n".join([*lines, f"max_age: {self.max_age}"]) + "\r\n"


def parse_txt(records: list[str]) -> str | None:
    """The policy id of the ``_mta-sts`` TXT records, or None when the domain has no usable record.

    RFC 8461 section 3.1: records not starting with "v=STSv1" are discarded; unless exactly one is
    left and it is valid, the domain has no available policy."""
    candidates = [r for r in records if r.startswith("v=STSv1")]
    if len(candidates) != 1:
        return None
    fields = [f.strip() for f in candidates[0].split(";")]
    if fields[0].replace(" ", "") != "v=STSv1":
        return None
    found: str | None = None
    for field in fields[1:]:
        if not field:
            continue  # a trailing ";" is allowed (sts-field-delim)
        name, eq, value = field.partition("=")
        if not eq:
            return None
        if name.strip() == "id":
            if found is not None or not _ID.match(value.strip()):
                return None
            found = value.strip()
        # RFC 8461 section 3.1: other extension fields are allowed and ignored.
    return found


def parse_policy(text: str) -> Policy:
    """RFC 8461 section 3.2: "key: value" lines ended by CRLF or LF; version, mode and max_age once
    each, mx one or more (at least one unless mode is none); unknown keys are ignored."""
    values: dict[str, list[str]] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.match(name):
            raise PolicyError(f"line {number}: expected 'key: value', got {line[:60]!r}")
        values.setdefault(name, []).append(value.strip(" \t"))
    for key in ("version", "mode", "max_age"):
        if len(values.get(key, [])) != 1:
            raise PolicyError(f"'{key}' must appear exactly once")
    if values["version"][0] != "STSv1":
        raise PolicyError(f"unsupported version {values['version'][0]!r}")
    mode = values["mode"][0]
    if mode not in ("enforce", "testing", "none"):
        raise PolicyError(f"unknown mode {mode!r}")
    age = values["max_age"][0]
    if not (age.isascii() and age.isdigit()) or len(age) > 10 or int(age) > MAX_AGE_LIMIT:
        raise PolicyError(f"max_age {age!r} is not a number of seconds up to {MAX_AGE_LIMIT}")
    patterns = tuple(_pattern(p) for p in values.get("mx", []))
    if not patterns and mode != "none":
        raise PolicyError("no 'mx' pattern (required unless mode is none)")
    return Policy(mode, int(age), patterns)  # type: ignore[arg-type]  # mode checked above


def _pattern(value: str) -> str:
    pattern = value.lower().rstrip(".")
    labels = pattern.split(".")
    if labels[0] == "*":  # RFC 8461 section 3.2: a wildcard may be only the whole leftmost label
        labels = labels[1:]
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise PolicyError(f"mx pattern {value!r} is not a host name or *.domain")
    return pattern


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 section 4.1: an exact name, or "*.domain" matching exactly one more leftmost label."""
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return host == pattern
