"""The per-account settings store's keys and the one rule of inheritance (docs/units.md). No I/O.

Settings are (key, text) pairs kept per account (``account_settings``) and per organisational unit
(``unit_settings``), keys namespaced by feature (``pop3.mode``, ``imap.enabled`` ...). ``KEYS`` is
the one owner of which keys exist, their types, how their text parses and formats, and whether a
unit may set them; a feature adds its key here, not a column to ``accounts``.

``AccountSettings`` is the one resolver: the effective value of a key is the account's own, else
that of the nearest unit up the chain from the account's unit to the root, else the server's
default (the key's own, or the config value the caller passes: ``[pop3] mode`` and the like).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pochta.sizes import format_size, parse_size

T = TypeVar("T")

# The installation's root unit: every account without a unit of its own belongs to it.
ROOT_UNIT = "root"

# How deep units may nest (a guard on the chain walk, which refuses cycles anyway).
MAX_UNIT_DEPTH = 32

# The protocols with a switch (``<protocol>.enabled``); a domain also switches the first three.
SWITCHED_PROTOCOLS = ("imap", "pop3", "submission", "managesieve", "jmap")

# The largest quota a unit may set (18 digits: the enforcing SQL reads no longer value, so that its
# cast to a signed 64-bit integer cannot overflow; about 888 PiB).
MAX_QUOTA = 10**18 - 1

_TRUE = {"on", "yes", "true", "1"}
_FALSE = {"off", "no", "false", "0"}


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not on or off")


def _format_bool(value: bool) -> str:
    return "on" if value else "off"


def _parse_seconds(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"{text!r} is not a number of seconds")
    return int(text)


def _parse_count(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"{text!r} is not a whole number")
    return int(text)


def _parse_quota_size(text: str) -> int:
    # A limit, never "none": a unit that wants no limit of its own unsets the key (docs/units.md).
    size = parse_size(text)
    if size is None:
        raise ValueError(f"{text!r}: give a size such as 500M or 2G (to remove the limit: --unset)")
    if size > MAX_QUOTA:
        raise ValueError(f"{text!r} is past the largest quota, {MAX_QUOTA} octets")
    return size


def _parse_quota_count(text: str) -> int:
    count = _parse_count(text)
    if count > MAX_QUOTA:
        raise ValueError(f"{text!r} is past the largest quota, {MAX_QUOTA}")
    return count


def _parse_time(text: str) -> datetime:
    if not text.strip().isdigit():
        raise ValueError(f"{text!r} is not a time in epoch seconds")
    return datetime.fromtimestamp(int(text), UTC)


def _format_time(value: datetime) -> str:
    return str(int(value.timestamp()))


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return parse


@dataclass(frozen=True)
class SettingKey(Generic[T]):
    """One known key: its text form in the store and on the command line, parsed and formatted."""

    name: str
    parse: Callable[[str], T] = field(repr=False)
    format: Callable[[T], str] = field(repr=False)
    description: str
    unit: bool = True  # may a unit set it (False: one account's own state, as a secret or a time)
    account: bool = True  # may an account set it (False: a unit's; the account has its own place)
    default: T | None = None  # None: the caller's config value (or "none")
    secret: bool = False  # shown as "set", never printed
    show: Callable[[T], str] | None = field(default=None, repr=False)  # None: as stored (``format``)


def _key(name: str, description: str, *, unit: bool = True, secret: bool = False) -> SettingKey[str]:
    return SettingKey(name, str, str, description, unit=unit, secret=secret)


def _send_limit(kind: str, period: str) -> SettingKey[int]:
    return SettingKey(
        f"send.{kind}_per_{period}",
        _parse_count,
        str,
        f"{kind} an account may submit per {period}, 0 unlimited ([limits] send_{kind}_per_{period}; "
        "an account's own: pochta user set --send-limit)",
        account=False,
    )


def _switch(protocol: str) -> SettingKey[bool]:
    return SettingKey(
        f"{protocol}.enabled", _parse_bool, _format_bool, f"may log in over {protocol}", default=True
    )


IMAP_ENABLED = _switch("imap")
POP3_ENABLED = _switch("pop3")
SUBMISSION_ENABLED = _switch("submission")
MANAGESIEVE_ENABLED = _switch("managesieve")
JMAP_ENABLED = _switch("jmap")
POP3_MODE = SettingKey(
    "pop3.mode",
    _choice("all", "since-enabled"),
    str,
    "POP3 serves all mail, or only mail since POP3 was enabled ([pop3] mode)",
)
POP3_DELETE_ACTION = SettingKey(
    "pop3.delete_action",
    _choice("delete", "seen", "archive", "trash"),
    str,
    "what POP3 DELE + QUIT does ([pop3] delete_action)",
)
POP3_LOGIN_DELAY = SettingKey(
    "pop3.login_delay",
    _parse_seconds,
    str,
    "least seconds between POP3 logins, RFC 2449 LOGIN-DELAY ([pop3] login_delay)",
)
POP3_APOP_SECRET = _key("pop3.apop_secret", "the APOP shared secret (RFC 1939)", unit=False, secret=True)
POP3_ENABLED_AT = SettingKey(
    "pop3.enabled_at",
    _parse_time,
    _format_time,
    "when POP3 was (re-)enabled, for pop3.mode since-enabled (default: the account's creation)",
    unit=False,
)
POP3_LAST_LOGIN = SettingKey(
    "pop3.last_login", _parse_time, _format_time, "the last POP3 login, for LOGIN-DELAY", unit=False
)

# Sending limits of authenticated submission (docs/antispam.md "Sending limits"): the defaults of
# the accounts under a unit. An account's own limits stay in ``send_limits`` (`--send-limit`).
SEND_LIMIT_KEYS = tuple(
    _send_limit(kind, period) for kind in ("messages", "recipients") for period in ("hour", "day")
)

# Storage quota (RFC 9208 STORAGE and MESSAGE) of the accounts under a unit. Stored as a decimal
# number (the enforcing SQL casts it: sqlite/quota, pg/mail); an account's own limits stay in
# ``accounts.quota_bytes`` / ``quota_messages`` (`pochta user set --quota/--messages`) and win.
QUOTA_BYTES = SettingKey(
    "quota.bytes",
    _parse_quota_size,
    str,
    "storage quota of each account under the unit: 500M, 2G (an account's own: pochta user set --quota)",
    account=False,
    show=format_size,
)
QUOTA_MESSAGES = SettingKey(
    "quota.messages",
    _parse_quota_count,
    str,
    "message quota of each account under the unit (an account's own: pochta user set --messages)",
    account=False,
)
QUOTA_KEYS = (QUOTA_BYTES, QUOTA_MESSAGES)

_ALL_KEYS: tuple[SettingKey[Any], ...] = (
    IMAP_ENABLED,
    POP3_ENABLED,
    SUBMISSION_ENABLED,
    MANAGESIEVE_ENABLED,
    JMAP_ENABLED,
    POP3_MODE,
    POP3_DELETE_ACTION,
    POP3_LOGIN_DELAY,
    POP3_APOP_SECRET,
    POP3_ENABLED_AT,
    POP3_LAST_LOGIN,
    *SEND_LIMIT_KEYS,
    *QUOTA_KEYS,
)
KEYS: dict[str, SettingKey[object]] = {key.name: key for key in _ALL_KEYS}

# Keys whose changes no cache keyed by ``directory_version`` needs to see: written at every POP3
# login, so they must not empty the caches of every process (revision 0034's triggers skip them).
VOLATILE_KEYS = (POP3_LAST_LOGIN.name,)


def switch_key(protocol: str) -> SettingKey[bool] | None:
    """The switch of a protocol (``imap.enabled`` ...), None for one without a switch."""
    key = KEYS.get(f"{protocol}.enabled")
    return key if protocol in SWITCHED_PROTOCOLS else None  # type: ignore[return-value]


def known_key(name: str, *, unit: bool = False) -> SettingKey[object]:
    """The key called ``name``; ValueError for an unknown one, or one the unit (or account) may
    not set."""
    key = KEYS.get(name)
    if key is None:
        raise ValueError(f"unknown setting {name!r} (known: {', '.join(sorted(KEYS))})")
    if unit and not key.unit:
        raise ValueError(f"{name} is an account's own setting; a unit cannot set it")
    if not unit and not key.account:
        raise ValueError(f"{name} is a unit's setting; an account cannot set it")
    return key


def parse_value(name: str, text: str, *, unit: bool = False) -> object:
    """``text`` checked and parsed as the value of ``name`` (ValueError says what is wrong)."""
    key = known_key(name, unit=unit)
    try:
        return key.parse(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def format_value(name: str, value: object) -> str:
    """The stored text of a value of ``name`` (whoever may set it)."""
    key = KEYS.get(name)
    if key is None:
        raise ValueError(f"unknown setting {name!r}")
    return key.format(value)


def shown_value(name: str, value: object) -> str:
    """How the CLI shows a value: a secret only as "set"."""
    key = KEYS.get(name)
    if key is not None and key.secret:
        return "set"
    if key is not None and key.show is not None:
        return key.show(value)
    return format_value(name, value) if key is not None else str(value)


def stored_values(values: Mapping[str, object | None], *, unit: bool) -> dict[str, str | None]:
    """Typed values (None: unset) as the text the store keeps, every key checked."""
    stored: dict[str, str | None] = {}
    for name, value in values.items():
        key = known_key(name, unit=unit)
        if value is None:
            stored[name] = None
            continue
        text = key.format(value)
        key.parse(text)  # a value of the wrong type or range fails here, before any write
        stored[name] = text
    return stored


def _parsed(name: str, text: str) -> object | None:
    """A stored value, typed; None for a key this version does not know or text it cannot read
    (a later version's key, say): skipped, never a failed login."""
    key = KEYS.get(name)
    if key is None:
        return None
    try:
        return key.parse(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Setting:
    """An effective value and where it comes from: "account", or the name of a unit."""

    value: object
    source: str


@dataclass(frozen=True)
class AccountSettings:
    """An account's own settings and those it inherits, as one read found them.

    ``chain`` is the account's unit first and the root last, each unit with its own settings."""

    own: Mapping[str, object] = field(default_factory=dict)
    chain: tuple[tuple[str, Mapping[str, object]], ...] = ()

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str | None, str | None, str | None]]) -> AccountSettings:
        """From (depth, unit name, key, text) rows: depth 0 the account's own (no unit), then
        1 for its unit, 2 for that unit's parent and so on (key None: a unit with no settings)."""
        own: dict[str, object] = {}
        units: dict[int, tuple[str, dict[str, object]]] = {}
        for depth, unit, name, text in rows:
            value = None if name is None or text is None else _parsed(name, text)
            if depth == 0:
                if name is not None and value is not None:
                    own[name] = value
                continue
            entry = units.setdefault(depth, (unit or "?", {}))
            if name is not None and value is not None:
                entry[1][name] = value
        return cls(own, tuple(units[depth] for depth in sorted(units)))

    def __hash__(self) -> int:
        # Accounts are hashable (frozen records): so are their settings, by value.
        return hash((frozenset(self.own.items()), tuple((n, frozenset(v.items())) for n, v in self.chain)))

    @property
    def unit(self) -> str:
        """The unit the account belongs to."""
        return self.chain[0][0] if self.chain else ROOT_UNIT

    def find(self, key: SettingKey[T]) -> Setting | None:
        """The account's own value, else the nearest unit's; None when neither sets it."""
        if key.name in self.own:
            return Setting(self.own[key.name], "account")
        for unit, values in self.chain:
            if key.name in values:
                return Setting(values[key.name], unit)
        return None

    def get(self, key: SettingKey[T], default: T) -> T:
        """The effective value: the account's, else the nearest unit's, else ``default`` (the
        server's config value for the keys that have one)."""
        found = self.find(key)
        return default if found is None else found.value  # type: ignore[return-value]

    def optional(self, key: SettingKey[T]) -> T | None:
        """The effective value, else the key's own default (None for those without one)."""
        found = self.find(key)
        return key.default if found is None else found.value  # type: ignore[return-value]

    def allows(self, protocol: str) -> bool:
        """May the account log in over ``protocol``? (A protocol without a switch: yes.)"""
        key = switch_key(protocol)
        return True if key is None else self.get(key, True)
