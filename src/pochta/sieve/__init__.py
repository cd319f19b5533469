"""The Sieve mail filtering language (RFC 5228): pure code that turns a script into a checked
``Script`` (``compile_script``: ``parse`` then ``validate``) and runs it over a message and its
envelope (``run``), returning the actions delivery carries out.

The base language and the extensions in ``SUPPORTED_EXTENSIONS`` (docs/rfc-status.md lists them
with their RFCs). Delivery runs it (``pochta.delivery.sieve_run``, docs/sieve.md "At delivery");
ManageSieve (``pochta.server.managesieve``) checks uploads with it and advertises
``SUPPORTED_EXTENSIONS``.
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
