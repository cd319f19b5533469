"""JMAP for Sieve scripts (RFC 9661), pure: the SieveScript object and its id, the state of an
account's scripts, the account capability object, SieveScript/query's filter and sort, and the
arguments SieveScript/set adds. The scripts' rules (names, content, quota, the managed script) are
``pochta.mail.sieve_scripts``'s; the handlers are ``pochta.server.jmap.sieve_script``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.mail.ids import blob_id
from pochta.proto.jmap.standard.filter import Comparator, Filter, FilterCondition

__all__ = [
    "SCRIPT_PROPERTIES",
    "SIEVE_CAPABILITY",
    "SIEVE_MEDIA_TYPE",
    "ScriptRecord",
    "check_script_filter",
    "check_script_sort",
    "parse_script_id",
    "query_scripts",
    "script_id",
    "script_object",
    "scripts_state",
    "sieve_account_capability",
]

SIEVE_CAPABILITY = "urn:ietf:params:jmap:sieve"  # RFC 9661 section 1.3
SIEVE_MEDIA_TYPE = "application/sieve"  # RFC 5228 §7: the MIME type of a Sieve script
SCRIPT_PROPERTIES = ("id", "name", "blobId", "isActive")  # RFC 9661 section 2

_ID = re.compile(r"S([1-9][0-9]{0,18})")


def script_id(number: int) -> str:
    """A SieveScript's id: ``S`` and its row in the store (kept by a rename or a new content)."""
    return f"S{number}"


def parse_script_id(text: str) -> int | None:
    found = _ID.fullmatch(text)
    return None if found is None else int(found.group(1))


@dataclass(frozen=True)
class ScriptRecord:
    """One stored script as JMAP shows it; ``sha256`` of its content (UTF-8) names its blob."""

    number: int
    name: str
    is_active: bool
    sha256: str
    size: int

    @property
    def id(self) -> str:
        return script_id(self.number)

    @property
    def blob_id(self) -> str:
        return blob_id(self.sha256)


def script_object(record: ScriptRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "blobId": record.blob_id, "isActive": record.is_active}


def scripts_state(records: Iterable[ScriptRecord]) -> str:
    """The SieveScript state: a digest of every script's id, name, activity and content, so it
    changes exactly when one of them does (RFC 8620 section 5.1), over JMAP, ManageSieve, the CLI
    or a change of the managed script's rules."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.number):
        digest.update(f"{record.number}\0{record.name}\0{int(record.is_active)}\0{record.sha256}\n".encode())
    return digest.hexdigest()[:16]


def sieve_account_capability(
    *,
    implementation: str,
    max_name_length: int,
    max_script_size: int,
    max_scripts: int,
    max_redirects: int,
    extensions: Iterable[str],
) -> dict[str, Any]:
    """The account capability object of ``urn:ietf:params:jmap:sieve`` (RFC 9661 section 1.3),
    the same limits and extensions ManageSieve announces (RFC 5804 section 1.7)."""
    names = sorted(extensions)
    return {
        "implementation": implementation,
        "maxSizeScriptName": max_name_length,
        "maxSizeScript": max_script_size,
        "maxNumberScripts": max_scripts,
        "maxNumberRedirects": max_redirects,
        "sieveExtensions": names,
        # enotify's one method (RFC 5435, RFC 5436); null when enotify is not there.
        "notificationMethods": ["mailto"] if "enotify" in names else None,
        # extlists (RFC 6134 section 2.1): the user's default address book is the one list.
        "externalLists": ["urn:ietf:params:sieve:addrbook:default"] if "extlists" in names else None,
    }


# RFC 9661 section 2.4: SieveScript/query's FilterCondition and sort properties.
_CONDITIONS: Mapping[str, Callable[[Any], bool]] = {
    "name": lambda value: isinstance(value, str),
    "isActive": lambda value: isinstance(value, bool),
}
_SORTS = frozenset({"name", "isActive"})
_MAX_DEPTH = 32  # operators nested deeper are refused (the client sets the depth)


def _walk(filter_: Filter) -> list[tuple[Filter, int]]:
    found: list[tuple[Filter, int]] = []
    stack: list[tuple[Filter, int]] = [(filter_, 0)]
    while stack:
        node, depth = stack.pop()
        found.append((node, depth))
        if not isinstance(node, FilterCondition):
            stack.extend((child, depth + 1) for child in node.conditions)
    return found


def check_script_filter(filter_: Filter | None) -> None:
    """unsupportedFilter (RFC 8620 section 5.5) for a condition SieveScript does not have."""
    if filter_ is None:
        return
    for node, depth in _walk(filter_):
        if depth > _MAX_DEPTH:
            raise MethodError(MethodErrorType.UNSUPPORTED_FILTER, f"operators nest deeper than {_MAX_DEPTH}")
        if not isinstance(node, FilterCondition):
            continue
        for name, value in node.properties.items():
            check = _CONDITIONS.get(name)
            if check is None:
                raise MethodError(MethodErrorType.UNSUPPORTED_FILTER, f"no SieveScript filter {name!r}")
            if not check(value):
                raise MethodError(MethodErrorType.UNSUPPORTED_FILTER, f"filter {name!r} has a wrong type")


def check_script_sort(sort: Sequence[Comparator] | None) -> None:
    for comparator in sort or ():
        if comparator.property not in _SORTS:
            raise MethodError(
                MethodErrorType.UNSUPPORTED_SORT, f"no SieveScript sort {comparator.property!r}"
            )
        if comparator.collation is not None or comparator.extra:
            raise MethodError(MethodErrorType.UNSUPPORTED_SORT, "no collation or other comparator property")


def _matches(record: ScriptRecord, node: Filter) -> bool:
    if isinstance(node, FilterCondition):
        for name, value in node.properties.items():
            # RFC 9661 section 2.4: name "contains the given string" (case-folded here).
            if name == "name" and str(value).casefold() not in record.name.casefold():
                return False
            if name == "isActive" and record.is_active is not value:
                return False
        return True
    results = [_matches(record, child) for child in node.conditions]  # depth checked: at most 32
    if node.operator == "AND":
        return all(results)
    return any(results) if node.operator == "OR" else not any(results)


def query_scripts(
    records: Sequence[ScriptRecord], filter_: Filter | None, sort: Sequence[Comparator] | None
) -> list[str]:
    """The ids of the scripts that match, in order (filter and sort checked already); without a
    sort, by name (then id, for a stable order)."""
    chosen = [record for record in records if filter_ is None or _matches(record, filter_)]
    chosen.sort(key=lambda record: (record.name.casefold(), record.number))
    for comparator in reversed(sort or ()):
        if comparator.property == "name":
            chosen.sort(key=lambda record: record.name.casefold(), reverse=not comparator.is_ascending)
        else:
            chosen.sort(key=lambda record: record.is_active, reverse=not comparator.is_ascending)
    return [record.id for record in chosen]
