"""The ``[sieve]`` settings: how large and how many scripts an account may keep, and the bounds of
one run of a script at delivery (``pochta.config`` re-exports this section;
``docs/configuration.md`` is generated from it as from the rest)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from pochta.config_section import Section

if TYPE_CHECKING:
    from pochta.sieve import ParseLimits, RunLimits
    from pochta.sieve.spamscore import ScoreSource
    from pochta.store.sieve_model import SieveQuota

__all__ = ["ImapRule", "SieveSettings"]

_DAY = 86400
ImapCause = Literal["APPEND", "COPY", "FLAG"]  # RFC 6785 §4.3
_ALL_CAUSES: tuple[ImapCause, ...] = ("APPEND", "COPY", "FLAG")


class ImapRule(Section):
    """An administrator's IMAPSIEVE rule (docs/sieve.md "IMAPSIEVE"): scripts run on IMAP events in
    the mailboxes it names, before and after the mailbox's own script (as Dovecot's
    imapsieve_mailboxN_* settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    mailbox: str = Field(
        description="The mailbox: a name (LIST wildcards * and % allowed; INBOX in any case) or a "
        'special-use attribute ("\\\\Junk") naming the mailbox that holds it.'
    )
    source: str | None = Field(
        None,
        alias="from",
        description="Only for COPY/MOVE out of this mailbox (name, wildcards or special-use); unset or "
        '"*": any event.',
    )
    causes: list[ImapCause] = Field(
        default_factory=lambda: list(_ALL_CAUSES), description="The events that run the scripts."
    )
    before: Path | None = Field(None, description="Script file run before the mailbox's own script.")
    after: Path | None = Field(None, description="Script file run after the mailbox's own script.")

    @field_validator("before", "after")
    @classmethod
    def _script_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"{path} is not a file")
        return path

    @model_validator(mode="after")
    def _has_script(self) -> ImapRule:
        if self.before is None and self.after is None:
            raise ValueError(f"the rule for {self.mailbox!r} names no script (before or after)")
        if not self.causes:
            raise ValueError(f"the rule for {self.mailbox!r} has no causes")
        return self


class SieveSettings(Section):
    max_script_size: int = Field(
        1024 * 1024,
        ge=1024,
        description="Octets one Sieve script may have (ManageSieve's MAXSIZE, RFC 5804 §1.3).",
    )
    max_scripts: int = Field(
        50, ge=1, description="Scripts one account may keep (ManageSieve's QUOTA/MAXSCRIPTS)."
    )
    max_storage: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="Octets all of one account's scripts may take together (QUOTA/MAXSIZE).",
    )
    max_name_length: int = Field(
        128, ge=128, le=1024, description="Characters in a script's name (RFC 5804 §1.6: at least 128)."
    )
    max_nesting: int = Field(
        32, ge=1, le=256, description="Nested blocks, and nested tests, in one script (Pigeonhole's limits)."
    )
    max_actions: int = Field(32, ge=1, description="Actions one run of a script may take.")
    max_redirects: int = Field(
        4,
        ge=0,
        description="Redirects one run may make (RFC 5228 §10: administrators must be able to limit "
        "them; ManageSieve's MAXREDIRECTS).",
    )
    max_variables: int = Field(
        255, ge=128, description="Variables one script may use (RFC 5229 §6: at least 128)."
    )
    max_variable_size: int = Field(
        4096,
        ge=4000,
        description="Octets a variable may hold; longer values are cut (RFC 5229 §6: at least 4,000).",
    )
    redirect_envelope_from: str = Field(
        "sender",
        description="The envelope sender of a Sieve redirect: `sender` (the original's, RFC 5228 "
        "§4.2, so bounces go back to it), `recipient` (the address the message came to), "
        "`user_email` (the account's address), or an address in angle brackets (`<>` the null "
        "path). Mail from the null path is always redirected from it. With `sender`, receivers "
        "that check SPF may refuse the redirected mail.",
    )
    max_include_depth: int = Field(10, ge=1, le=64, description="How deep `include` may nest (RFC 6609).")
    max_includes: int = Field(255, ge=1, description="Scripts one run may include.")
    max_loop_depth: int = Field(
        16, ge=1, le=64, description="How deep `foreverypart` loops nest (RFC 5703 §3)."
    )
    max_cpu_time: float = Field(
        5.0,
        gt=0,
        description="Seconds of CPU time one run of one script may take (at delivery and on IMAP "
        "events): the interpreter reads the CPU time of its thread at each command, test and loop "
        "step and, past the limit, stops the run with a runtime error; the message is kept in INBOX "
        "and the error recorded for the user (`pochta sieve errors USER`).",
    )
    max_run_time: float = Field(
        30.0,
        gt=0,
        description="Seconds of wall time one run of one script may take, the last resort for a "
        "single step that the CPU-time check cannot interrupt (a long regular expression match); "
        "past it delivery stops waiting and keeps the message in INBOX, but the run's thread "
        "goes on to its end. Keep it well above `max_cpu_time`.",
    )
    vacation_default_period: int = Field(
        7 * _DAY,
        ge=0,
        description="Seconds between two vacation replies to one sender when the script names none.",
    )
    vacation_min_period: int = Field(
        _DAY,
        ge=0,
        description="Shortest period between vacation replies a script may ask for (RFC 5230 §4.1).",
    )
    vacation_max_period: int = Field(
        90 * _DAY, ge=0, description="Longest period between vacation replies a script may ask for."
    )
    vacation_subject_template: str = Field(
        "Auto: %{subject}",
        min_length=1,
        description="The subject of a vacation reply whose script names none, `%{subject}` standing "
        "for the original's (RFC 5230 §5.3's \"Auto: \" prefix, worded otherwise if you like); "
        "cut to 256 characters.",
    )
    vacation_default_subject: str = Field(
        "Automated reply",
        min_length=1,
        description="The subject of a vacation reply to a message without Subject (RFC 5230 §5.3).",
    )
    vacation_check_recipient: bool = Field(
        True,
        description="Reply only to mail whose To/Cc/Bcc names one of the user's addresses or aliases "
        "(RFC 5230 §4.5). Off: reply whatever address the message was sent to.",
    )
    vacation_send_from_recipient: bool = Field(
        False,
        description="Send vacation replies from the recipient's address instead of the null "
        "reverse-path RFC 5230 §5.1 recommends (for receivers that refuse mail from <>).",
    )
    vacation_to_header_ignore_envelope: bool = Field(
        False,
        description="Address a vacation reply's To field to the original's Sender/From even when "
        "the envelope sender differs (forwarders that rewrite it with SRS); the reply still goes "
        "to the envelope sender.",
    )
    duplicate_default_period: int = Field(
        7 * _DAY,
        ge=1,
        description="Seconds the duplicate test remembers a message by default (RFC 7352 §3.3).",
    )
    duplicate_max_period: int = Field(
        30 * _DAY, ge=1, description="Longest a script may ask the duplicate test to remember."
    )
    before: list[Path] = Field(
        default_factory=list,
        description="Sieve scripts (files) run at delivery for every account before the user's "
        "own script, in this order.",
    )
    after: list[Path] = Field(
        default_factory=list,
        description="Sieve scripts (files) run at delivery for every account after the user's own "
        "script, in this order.",
    )
    domain_before: dict[str, list[Path]] = Field(
        default_factory=dict,
        description="Per domain (lower case): scripts run after the global `before` scripts and "
        "before the user's own.",
    )
    domain_after: dict[str, list[Path]] = Field(
        default_factory=dict,
        description="Per domain (lower case): scripts run after the user's own script and before "
        "the global `after` scripts.",
    )
    global_dir: Path | None = Field(
        None,
        description="Directory of the scripts `include :global NAME` reads (NAME or NAME.sieve; "
        "RFC 6609). Unset: no global scripts.",
    )
    imap_events: bool = Field(
        True,
        description="Run Sieve on IMAP events (RFC 6785 IMAPSIEVE: APPEND, COPY/MOVE and flag changes) "
        "for mailboxes with a /shared/imapsieve/script annotation and for `imap_rules`.",
    )
    imap_rules: list[ImapRule] = Field(
        default_factory=list,
        description="Administrator scripts on IMAP events, in this order: "
        '`[{mailbox = "\\\\Junk", causes = ["COPY"], before = "/etc/pochta/spam.sieve"}]` '
        '(docs/sieve.md "IMAPSIEVE").',
    )
    spamtest_header: str = Field(
        "",
        description="RFC 5235 `spamtest`: the header field the spam scanner's verdict is read from, "
        "`Name` or `Name:regex` (the first group of the expression, else its match, is the value; "
        "e.g. `X-Spam-Score or X-Spam-Status:score=(-?[0-9.]+)`). Empty: messages count as not tested.",
    )
    spamtest_type: Literal["score", "strlen", "text"] = Field(
        "score",
        description="How the spamtest value is read: `score` a decimal number against "
        "`spamtest_max_score` (or `spamtest_max_header`), `strlen` the count of its characters "
        "(SpamAssassin's X-Spam-Level stars) against the same maximum, `text` one of "
        "`spamtest_text_values`.",
    )
    spamtest_max_score: float | None = Field(
        None, gt=0, description="The score (or length) that counts as certain spam for `spamtest`."
    )
    spamtest_max_header: str = Field(
        "",
        description="Instead of `spamtest_max_score`: the header field (`Name` or `Name:regex`) that "
        "holds the maximum, as SpamAssassin's `required=5.0`.",
    )
    spamtest_text_values: dict[int, str] = Field(
        default_factory=dict,
        description='For `spamtest_type = "text"`: the verdict text of each level, 1 (clean) .. '
        "10 (certain spam); a text no level names counts as not tested.",
    )
    virustest_header: str = Field(
        "",
        description="RFC 5235 `virustest`: the header field the virus scanner's verdict is read from, "
        "`Name` or `Name:regex` (the first group of the expression, else its match, is the value; "
        "e.g. `X-Virus-Status`). Empty: messages count as not tested.",
    )
    virustest_type: Literal["score", "strlen", "text"] = Field(
        "text",
        description="How the virustest value is read: `score` a decimal number against "
        "`virustest_max_score` (or `virustest_max_header`), `strlen` the count of its characters "
        "(SpamAssassin's X-Spam-Level stars) against the same maximum, `text` one of "
        "`virustest_text_values`.",
    )
    virustest_max_score: float | None = Field(
        None, gt=0, description="The score (or length) that counts as certain virus for `virustest`."
    )
    virustest_max_header: str = Field(
        "",
        description="Instead of `virustest_max_score`: the header field (`Name` or `Name:regex`) that "
        "holds the maximum, as SpamAssassin's `required=5.0`.",
    )
    virustest_text_values: dict[int, str] = Field(
        default_factory=dict,
        description='For `virustest_type = "text"`: the verdict text of each level, 1 (clean) .. '
        "5 (certain virus); a text no level names counts as not tested.",
    )
    editheader_forbid_add: list[str] = Field(
        default_factory=list,
        description="Header fields Sieve scripts may not add with `addheader` (RFC 5293 §6; "
        "Subject cannot be listed: the RFC keeps it editable). The attempt is silently ignored.",
    )
    editheader_forbid_delete: list[str] = Field(
        default_factory=list,
        description="Header fields Sieve scripts may not delete with `deleteheader`, besides "
        "Received and Auto-Submitted, which are never deleted (RFC 5293 §6; not Subject).",
    )
    error_days: int = Field(
        30,
        ge=1,
        description="Days a script error stays listed by `pochta sieve errors USER` (the newest 100 "
        "per account are kept).",
    )

    @field_validator("editheader_forbid_add", "editheader_forbid_delete")
    @classmethod
    def _field_names(cls, names: list[str]) -> list[str]:
        from pochta.sieve.validate import header_name_ok  # see parse_limits

        for name in names:
            if not header_name_ok(name):
                raise ValueError(f"{name!r} is not a header field name")
            if name.lower() == "subject":
                raise ValueError("Subject must stay editable (RFC 5293 §6)")
        return [name.lower() for name in names]

    @field_validator("redirect_envelope_from")
    @classmethod
    def _redirect_from_ok(cls, value: str) -> str:
        from pochta.sieve.redirect import envelope_from_ok  # see parse_limits

        if not envelope_from_ok(value):
            raise ValueError("must be sender, recipient, user_email or <address>")
        return value.strip()

    @field_validator("before", "after")
    @classmethod
    def _scripts_exist(cls, paths: list[Path]) -> list[Path]:
        for path in paths:
            if not path.is_file():
                raise ValueError(f"{path} is not a file")
        return paths

    @field_validator("domain_before", "domain_after")
    @classmethod
    def _domain_scripts_exist(cls, scripts: dict[str, list[Path]]) -> dict[str, list[Path]]:
        for domain, paths in scripts.items():
            if domain != domain.lower():
                raise ValueError(f"domain {domain!r} must be written in lower case")
            cls._scripts_exist(paths)
        return scripts

    @model_validator(mode="after")
    def _check_bounds(self) -> SieveSettings:
        if self.max_script_size > self.max_storage:
            raise ValueError("max_script_size must not exceed max_storage")
        if not self.vacation_min_period <= self.vacation_default_period <= self.vacation_max_period:
            raise ValueError("vacation periods must satisfy min <= default <= max")
        if self.duplicate_default_period > self.duplicate_max_period:
            raise ValueError("duplicate_default_period must not exceed duplicate_max_period")
        self.score_source("spamtest")  # a source that cannot be read is refused at load
        self.score_source("virustest")
        return self

    def score_source(self, kind: Literal["spamtest", "virustest"]) -> ScoreSource | None:
        """Where ``kind`` reads its verdict (RFC 5235 §3.1), None when it is not configured."""
        from pochta.sieve.spamscore import HeaderSpec, ScoreSource, ScoreSourceError  # see parse_limits

        header: str = getattr(self, f"{kind}_header")
        if not header:
            return None
        score_type = getattr(self, f"{kind}_type")
        max_score: float | None = getattr(self, f"{kind}_max_score")
        max_header: str = getattr(self, f"{kind}_max_header")
        text_values: dict[int, str] = getattr(self, f"{kind}_text_values")
        levels = 10 if kind == "spamtest" else 5
        if score_type == "text":
            if not text_values:
                raise ValueError(f"{kind}_type = text needs {kind}_text_values")
            if not all(1 <= level <= levels for level in text_values):
                raise ValueError(f"{kind}_text_values levels are 1..{levels}")
        elif max_score is None and not max_header:
            raise ValueError(f"{kind}_type = {score_type} needs {kind}_max_score or {kind}_max_header")
        try:
            return ScoreSource(
                HeaderSpec.parse(header),
                score_type,
                None if max_score is None else Decimal(str(max_score)),
                HeaderSpec.parse(max_header) if max_header else None,
                tuple(sorted(text_values.items())),
            )
        except ScoreSourceError as error:
            raise ValueError(f"{kind}: {error}") from None

    def quota(self) -> SieveQuota:
        # Imported here as the limits below are: config is read by the pure cores, which must not
        # import the store (tests/test_quality.py follows the chain).
        from pochta.store.sieve_model import SieveQuota

        return SieveQuota(max_scripts=self.max_scripts, max_storage=self.max_storage)

    def parse_limits(self) -> ParseLimits:
        # Imported here: pochta.sieve needs pochta.mime, which reads its settings from this package.
        from pochta.sieve import ParseLimits

        return ParseLimits(max_block_nesting=self.max_nesting, max_test_nesting=self.max_nesting)

    def run_limits(self) -> RunLimits:
        from pochta.sieve import RunLimits  # see parse_limits

        return RunLimits(
            max_actions=self.max_actions,
            max_redirects=self.max_redirects,
            max_variables=self.max_variables,
            max_variable_size=self.max_variable_size,
            vacation_default_period=self.vacation_default_period,
            vacation_min_period=self.vacation_min_period,
            vacation_max_period=self.vacation_max_period,
            vacation_subject_template=self.vacation_subject_template,
            vacation_default_subject=self.vacation_default_subject,
            vacation_check_recipient=self.vacation_check_recipient,
            vacation_send_from_recipient=self.vacation_send_from_recipient,
            vacation_to_header_ignore_envelope=self.vacation_to_header_ignore_envelope,
            duplicate_default_period=self.duplicate_default_period,
            duplicate_max_period=self.duplicate_max_period,
            max_loop_depth=self.max_loop_depth,
            max_include_depth=self.max_include_depth,
            max_includes=self.max_includes,
            editheader_forbid_add=frozenset(self.editheader_forbid_add),
            editheader_forbid_delete=frozenset(self.editheader_forbid_delete),
            spamtest=self.score_source("spamtest"),
            virustest=self.score_source("virustest"),
            max_cpu_time=self.max_cpu_time,
        )
