"""The Sieve mail filtering language (RFC 5228): pure code that turns a script into a checked
``Script`` (``compile_script``: ``parse`` then ``validate``) and runs it over a message and its
envelope (``run``), returning the actions delivery carries out.

So far: the base language with fileinto, envelope, encoded-character, copy (RFC 3894), variables
(RFC 5229), vacation (RFC 5230, RFC 6131), relational (RFC 5231), imap4flags (RFC 5232),
subaddress (RFC 5233), body (RFC 5173), editheader (RFC 5293), environment (RFC 5183), date and
index (RFC 5260), ihave (RFC 5463), include (RFC 6609), duplicate (RFC 7352), mailbox (RFC 5490
§3), reject and ereject (RFC 5429) and the comparators of RFC 4790. No listener, delivery step or capability uses it yet;
ManageSieve stays unavailable until scripts run at delivery.
"""

from pochta.sieve.actions import (
    Action,
    FileIntoAction,
    KeepAction,
    RedirectAction,
    RejectAction,
    VacationAction,
)
from pochta.sieve.interpreter import Outcome, RunLimits, run
from pochta.sieve.message import Envelope, SieveMessage
from pochta.sieve.parser import ParseLimits, parse
from pochta.sieve.script import Script
from pochta.sieve.syntax import (
    Argument,
    Command,
    Number,
    SieveSyntaxError,
    StringList,
    Tag,
    Test,
)
from pochta.sieve.validate import SUPPORTED_EXTENSIONS, validate

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Action",
    "Argument",
    "Command",
    "Envelope",
    "FileIntoAction",
    "KeepAction",
    "Number",
    "Outcome",
    "ParseLimits",
    "RedirectAction",
    "RejectAction",
    "RunLimits",
    "Script",
    "SieveMessage",
    "SieveSyntaxError",
    "StringList",
    "Tag",
    "Test",
    "VacationAction",
    "compile_script",
    "parse",
    "run",
    "validate",
]


def compile_script(text: str, limits: ParseLimits | None = None) -> Script:
    """Parse and check a script; raises SieveSyntaxError naming the line and column."""
    return validate(parse(text, limits))
