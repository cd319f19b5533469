"""Gmail-style settings of an account: filters, one vacation reply, one forwarding address
(docs/sieve.md "Gmail-style settings"). The one owner of what such a rule may say (the pydantic
models below validate every rule, whichever way it comes in: the CLI now, JMAP and the web
settings later) and of the Sieve they become: ``render`` is a pure function from the rules to the
source of the account's managed script, ``MANAGED_SCRIPT``, which the store rewrites in the
transaction of every change to the rules (``pochta.store.sql.mail_rules``).

The managed script runs when it is the active script (it is made active when the account has
none), or when the user's own active script says ``include :personal "pochta-settings";``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pochta.mail.sieve_scripts import MANAGED_SCRIPT
from pochta.mime.text import html_to_text
from pochta.store.sieve_model import StoredRule

__all__ = [
    "DEFAULT_MESSAGE",
    "INCLUDE_LINE",
    "MANAGED_SCRIPT",
    "AccountRules",
    "Filter",
    "Forward",
    "RuleInvalid",
    "Vacation",
    "load_rules",
    "redirect_count",
    "render",
]

INCLUDE_LINE = f'include :personal "{MANAGED_SCRIPT}";'

# Control characters have no place in a one-line rule text (and a lone CR is a Sieve syntax error,
# RFC 5228 §8.1); the vacation message keeps its line ends (LF) and tabs.
_CONTROLS = {chr(c) for c in (*range(0x20), 0x7F)}


class RuleInvalid(ValueError):
    """A rule that cannot be saved; the message is fit for the user."""


def _one_line(value: str | None) -> str | None:
    if value is None:
        return None
    if any(c in _CONTROLS for c in value):
        raise ValueError("must be one line of text without control characters")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


class Filter(BaseModel):
    """A Gmail filter: every criterion given must match (all of them), then every action runs.
    ``to_folder`` moves the message there (no copy stays in INBOX); ``delete`` moves it to the
    \\Trash special-use mailbox; ``skip_inbox`` archives it (the \\Archive special-use mailbox)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sender: str | None = Field(None, alias="from")
    to: str | None = None
    subject: str | None = None
    has_words: str | None = None
    doesnt_have: str | None = None
    to_folder: str | None = None
    mark_read: bool = False
    star: bool = False
    forward: str | None = None
    delete: bool = False
    skip_inbox: bool = False

    _lines = field_validator("sender", "to", "subject", "has_words", "doesnt_have", "to_folder", "forward")(
        _one_line
    )

    @model_validator(mode="after")
    def _complete(self) -> Filter:
        if not any((self.sender, self.to, self.subject, self.has_words, self.doesnt_have)):
            raise ValueError(
                "a filter needs a criterion (--from, --to, --subject, --has-words, --doesnt-have)"
            )
        if not any((self.to_folder, self.mark_read, self.star, self.forward, self.delete, self.skip_inbox)):
            raise ValueError(
                "a filter needs an action "
                "(--to-folder, --mark-read, --star, --forward, --delete, --skip-inbox)"
            )
        if self.delete and (self.to_folder or self.skip_inbox):
            raise ValueError(
                "--delete moves the message to Trash: it cannot go with --to-folder or --skip-inbox"
            )
        return self

    def summary(self) -> str:
        """One line for people: "from alice, subject "x" -> folder Work, mark read"."""
        criteria = [
            f"{label} {value!r}"
            for label, value in (
                ("from", self.sender),
                ("to", self.to),
                ("subject", self.subject),
                ("has words", self.has_words),
                ("doesn't have", self.doesnt_have),
            )
            if value
        ]
        actions = [
            text
            for text, wanted in (
                (f"move to {self.to_folder!r}", self.to_folder),
                ("skip inbox (archive)", self.skip_inbox and not self.to_folder),
                ("mark read", self.mark_read),
                ("star", self.star),
                (f"forward to {self.forward}", self.forward),
                ("delete (Trash)", self.delete),
            )
            if wanted
        ]
        return ", ".join(criteria) + " -> " + ", ".join(actions)


class Vacation(BaseModel):
    """The vacation reply (RFC 5230), between ``from_date`` and ``until`` inclusive (the server's
    dates) when given, to the senders in the user's address book only when ``contacts_only``.

    JMAP's VacationResponse (RFC 8621 section 8) keeps the same rule and adds: ``starts`` and
    ``ends``, moments (UTC) the reply is sent from and before; ``html``, an HTML body (the reply
    then goes as text and HTML, RFC 5230 §4.4 ``:mime``); ``enabled`` false, a reply kept but not
    sent. ``message`` may then be missing: the text comes from the HTML, or is ``DEFAULT_MESSAGE``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str | None = None
    message: str | None = None
    html: str | None = None
    from_date: date | None = None
    until: date | None = None
    starts: datetime | None = None
    ends: datetime | None = None
    contacts_only: bool = False
    days: int | None = Field(None, ge=1)
    enabled: bool = True

    _subject = field_validator("subject")(_one_line)

    @field_validator("message", "html")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        if any(c in _CONTROLS and c not in "\n\t" for c in value):
            raise ValueError("must not contain control characters")
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("starts", "ends")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must be a moment with its time zone")
        return value.astimezone(UTC).replace(microsecond=0)

    @model_validator(mode="after")
    def _dates(self) -> Vacation:
        if self.from_date and self.until and self.until < self.from_date:
            raise ValueError("--until is before --from-date")
        if self.starts and self.ends and self.ends <= self.starts:
            raise ValueError("the end of the vacation is not after its start")
        return self

    def text(self) -> str:
        """The reply's plain text: the message, else the HTML's text (RFC 8621 section 8: the
        server SHOULD make the text from the HTML), else the default."""
        if self.message is not None:
            return self.message
        text = html_to_text(self.html).strip() if self.html is not None else ""
        return text + "\n" if text else DEFAULT_MESSAGE


# RFC 8621 section 8: with neither a text nor an HTML body the server SHOULD make one up.
DEFAULT_MESSAGE = "I am away at the moment and will read your message when I am back.\n"


class Forward(BaseModel):
    """Every message forwarded to ``address``; the copy here stays in INBOX (keep), goes to the
    archive (archive), or is not kept (delete)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str
    mode: Literal["keep", "archive", "delete"] = "keep"

    _address = field_validator("address")(_one_line)


@dataclass(frozen=True)
class AccountRules:
    filters: tuple[tuple[int, Filter], ...] = ()  # (rule id, filter), in their order
    vacation: Vacation | None = None
    forward: Forward | None = None


def parse(model: type[Filter] | type[Vacation] | type[Forward], data: dict[str, object]) -> object:
    """The validated rule, or RuleInvalid naming the field and the reason."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise RuleInvalid(f"{where}: {reason}" if where else reason) from None


def dump(rule: Filter | Vacation | Forward) -> str:
    return rule.model_dump_json(by_alias=True, exclude_defaults=True)


def load_rules(rows: Iterable[StoredRule]) -> AccountRules:
    filters: list[tuple[int, Filter]] = []
    vacation: Vacation | None = None
    forward: Forward | None = None
    for row in rows:
        data = json.loads(row.data)
        if row.kind == "filter":
            filters.append((row.id, Filter.model_validate(data)))
        elif row.kind == "vacation":
            vacation = Vacation.model_validate(data)
        elif row.kind == "forward":
            forward = Forward.model_validate(data)
    return AccountRules(tuple(filters), vacation, forward)


def redirect_count(rules: AccountRules) -> int:
    """The most redirects the rules can make for one message (all filters matching)."""
    return sum(1 for _, rule in rules.filters if rule.forward) + (1 if rules.forward else 0)


# --- the Sieve ---------------------------------------------------------------------------------------


def _q(text: str) -> str:
    # RFC 5228 §2.4.2: in a quoted string only backslash and double quote need escaping.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list(items: Sequence[str]) -> str:
    return _q(items[0]) if len(items) == 1 else "[" + ", ".join(_q(item) for item in items) + "]"


class _Script:
    def __init__(self) -> None:
        self.required: set[str] = set()
        self.lines: list[str] = []

    def need(self, *extensions: str) -> None:
        self.required.update(extensions)

    def add(self, line: str, indent: int = 0) -> None:
        self.lines.append("    " * indent + line)


def _test(script: _Script, rule: Filter) -> str:
    tests: list[str] = []
    if rule.sender:
        tests.append(f'address :all :contains "from" {_q(rule.sender)}')
    if rule.to:
        tests.append(f'address :all :contains ["to", "cc"] {_q(rule.to)}')
    if rule.subject:
        tests.append(f'header :contains "subject" {_q(rule.subject)}')
    if rule.has_words:
        # Gmail's "has the words": every word somewhere in the text (RFC 5173 §5: :text).
        script.need("body")
        tests.extend(f"body :text :contains {_q(word)}" for word in rule.has_words.split())
    if rule.doesnt_have:
        script.need("body")
        tests.append(f"not body :text :contains {_list(rule.doesnt_have.split())}")
    return tests[0] if len(tests) == 1 else "allof (" + ", ".join(tests) + ")"


def _flags(rule: Filter) -> list[str]:
    return [flag for flag, wanted in (("\\Seen", rule.mark_read), ("\\Flagged", rule.star)) if wanted]


# RFC 8579 section 4: the mailbox holding \Archive, else "Archive" (created with the attribute).
_ARCHIVE = 'fileinto :specialuse "\\\\Archive" :create "Archive";'


def _moment(moment: datetime) -> str:
    # RFC 5260 §4.2 "iso8601" in UTC ("Z"): one length and form, so text order is time order.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mime_reason(rule: Vacation) -> str:
    """The ``:mime`` reason (RFC 5230 §4.4): a MIME entity, the text and the HTML as alternatives
    (RFC 2046 §5.1.4), both UTF-8 in 8bit (the reply is built as an 8-bit message)."""
    boundary = "=_pochta-vacation-" + hashlib.sha256((rule.html or "").encode()).hexdigest()[:16]
    parts = [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        rule.text().rstrip("\n"),
        f"--{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        (rule.html or "").rstrip("\n"),
        f"--{boundary}--",
        "",
    ]
    return "\n".join(parts)


def _vacation(script: _Script, rule: Vacation) -> None:
    if not rule.enabled:
        script.add("# The vacation reply is kept but turned off.")
        return
    script.need("vacation")
    conditions: list[str] = []
    if rule.from_date:
        script.need("date", "relational")  # RFC 5260 §5, RFC 5231 §4.2
        conditions.append(f'currentdate :value "ge" "date" {_q(rule.from_date.isoformat())}')
    if rule.until:
        script.need("date", "relational")
        conditions.append(f'currentdate :value "le" "date" {_q(rule.until.isoformat())}')
    if rule.starts:
        # RFC 8621 section 8: fromDate, the first moment a reply goes (inclusive), in UTC.
        script.need("date", "relational")
        conditions.append(f'currentdate :zone "+0000" :value "ge" "iso8601" {_q(_moment(rule.starts))}')
    if rule.ends:
        # RFC 8621 section 8: toDate, replies go to messages that arrive before it.
        script.need("date", "relational")
        conditions.append(f'currentdate :zone "+0000" :value "lt" "iso8601" {_q(_moment(rule.ends))}')
    if rule.contacts_only:
        script.need("extlists")  # RFC 6134 section 2.4: the :list match against the address book
        conditions.append('address :all :list "from" ":addrbook:default"')
    tags = "" if rule.days is None else f":days {rule.days} "
    if rule.subject:
        tags += f":subject {_q(rule.subject)} "
    if rule.html is not None:
        action = f"vacation {tags}:mime {_q(_mime_reason(rule))};"
    else:
        action = f"vacation {tags}{_q(rule.text())};"
    script.add("# The vacation reply.")
    if not conditions:
        script.add(action)
        return
    test = conditions[0] if len(conditions) == 1 else "allof (" + ", ".join(conditions) + ")"
    script.add(f"if {test} {{")
    script.add(action, 1)
    script.add("}")


def _filter_actions(script: _Script, rule_id: int, rule: Filter) -> None:
    body: list[str] = []
    if rule.forward:
        script.need("copy")
        body.append(f"redirect :copy {_q(rule.forward)};")
    if rule.delete:
        # Gmail moves deleted mail to Trash: the \Trash special-use mailbox (RFC 8579 section 4).
        script.need("fileinto", "mailbox", "special-use")
        body.append('fileinto :specialuse "\\\\Trash" :create "Trash";')
    elif rule.to_folder:
        # Checked to exist when the filter was saved; :create brings it back if it was deleted since
        # (RFC 5490 §3.2), rather than leaving the message in INBOX with an error.
        script.need("fileinto", "mailbox")
        body.append(f"fileinto :create {_q(rule.to_folder)};")
    elif rule.skip_inbox:
        script.need("fileinto", "mailbox", "special-use")
        body.append(_ARCHIVE)
    if not body:
        return
    script.add(f"# Filter {rule_id}: {rule.summary()}")
    script.add(f"if {_test(script, rule)} {{")
    for line in body:
        script.add(line, 1)
    script.add("}")


def render(rules: AccountRules) -> str:
    """The managed script's source: the vacation reply, then forwarding that keeps no copy (which
    ends the run: nothing is kept), then every filter's flags (so that a filter's \\Seen or
    \\Flagged applies wherever another filter files the message: RFC 5232 §3, the internal
    variable), then every filter's actions, then forwarding that keeps a copy."""
    script = _Script()
    if rules.vacation:
        _vacation(script, rules.vacation)
    forward = rules.forward
    if forward and forward.mode == "delete":
        script.add(f"# Forward everything to {forward.address}, keep no copy.")
        script.add(f"redirect {_q(forward.address)};")
        script.add("stop;")
    for rule_id, rule in rules.filters:
        flags = _flags(rule)
        if flags:
            script.need("imap4flags")
            script.add(f"# Filter {rule_id}: flags")
            script.add(f"if {_test(script, rule)} {{")
            script.add(f"addflag {_list(flags)};", 1)
            script.add("}")
    for rule_id, rule in rules.filters:
        _filter_actions(script, rule_id, rule)
    if forward and forward.mode != "delete":
        script.need("copy")
        script.add(f"# Forward everything to {forward.address}, keep a copy ({forward.mode}).")
        script.add(f"redirect :copy {_q(forward.address)};")
        if forward.mode == "archive":
            script.need("fileinto", "mailbox", "special-use")
            script.add(_ARCHIVE)
    head = [
        "# Generated by pochta from this account's filters, vacation and forwarding settings",
        "# (pochta filter|vacation|forward). Do not edit: every change to them rewrites it.",
        f"# A script of your own runs these rules when it says: {INCLUDE_LINE}",
    ]
    if script.required:
        head.append(f"require {_list(sorted(script.required))};")
    if not script.lines:
        script.add("# No rules.")
    return "\n".join([*head, *script.lines]) + "\n"
