"""The IMAP command table: names, legal states, flags and argument parsers (RFC 9051 §6).

Legal transitions are data, not code (DESIGN.md, after Dovecot ``imap-commands.c``): the receiver and
the session consult ``CommandSpec.states`` and ``flags``; handlers do the work. An extension adds a
command by adding a ``CommandSpec`` to ``COMMANDS`` (``register``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from pochta.proto.imap import acl as acl_args
from pochta.proto.imap import args as a
from pochta.proto.imap import metadata as md
from pochta.proto.imap import quota as q
from pochta.proto.imap.fetch import FetchArgs, parse_fetch
from pochta.proto.imap.search import ESearchArgs, SearchArgs, parse_esearch, parse_search
from pochta.proto.imap.sort import SortArgs, parse_sort
from pochta.proto.imap.thread import ThreadArgs, parse_thread
from pochta.proto.imap.wire import TAG_RE, Assembled, Cursor, ParseError


class State(enum.Enum):
    """RFC 9051 §3."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class Flag(enum.Flag):
    NONE = 0
    # Refers to messages by sequence number. RFC 9051 §7.5.1: no untagged EXPUNGE may be sent while
    # such a FETCH, STORE or SEARCH runs (UID forms are exempt), and RFC 9051 §5.5: it must not run
    # concurrently with a command that may expunge.
    USES_SEQUENCE_NUMBERS = enum.auto()
    # Changes sequence numbers (EXPUNGE, CLOSE, MOVE ...): nothing pipelined may run alongside.
    BREAKS_SEQUENCE_NUMBERS = enum.auto()
    # Sends a password in clear text: refused on a plaintext non-loopback connection (RFC 9051 §6.2.3,
    # LOGINDISABLED / [PRIVACYREQUIRED]); for AUTHENTICATE the handler decides per mechanism.
    REQUIRES_TLS_OR_LOOPBACK = enum.auto()
    # Read-only and independent of the selected mailbox: may run alongside others (RFC 9051 §5.5).
    MAY_BE_PIPELINED = enum.auto()
    # Uses continuation requests beyond literals (AUTHENTICATE, IDLE): the handler drives the receiver.
    INTERACTIVE = enum.auto()
    # Its literals are messages (APPEND, REPLACE): bounded by APPENDLIMIT, spooled when large.
    MESSAGE_LITERALS = enum.auto()


ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})

Args = (
    a.NoArgs
    | a.Authenticate
    | a.Login
    | a.Enable
    | a.MailboxArgs
    | a.Rename
    | a.ListArgs
    | a.Lsub
    | a.StatusArgs
    | a.Append
    | a.SequenceArgs
    | a.CopyArgs
    | a.Store
    | a.IdArgs
    | a.Compress
    | a.Replace
    | q.GetQuota
    | q.GetQuotaRoot
    | q.SetQuota
    | acl_args.AclArgs
    | md.GetMetadata
    | md.SetMetadata
    | SearchArgs
    | ESearchArgs
    | FetchArgs
    | SortArgs
    | ThreadArgs
)
Parser = Callable[[Cursor, int], Args]


@dataclass(frozen=True)
class CommandSpec:
    name: str  # "FETCH", or "UID FETCH" for the UID form
    states: frozenset[State]
    parse: Parser
    flags: Flag = Flag.NONE

    def allowed_in(self, state: State) -> bool:
        return state in self.states


@dataclass(frozen=True)
class Command:
    """A whole, syntactically valid command. ``args`` is the typed argument object of ``name``."""

    tag: bytes
    name: str  # e.g. "FETCH"; with ``uid`` the command was "UID FETCH"
    uid: bool
    args: Args
    spec: CommandSpec

    @property
    def uses_sequence_numbers(self) -> bool:
        """USES_SEQUENCE_NUMBERS, or a UID SEARCH (SORT, THREAD) whose program has a message-number set."""
        if Flag.USES_SEQUENCE_NUMBERS in self.spec.flags:
            return True
        args = self.args.search if isinstance(self.args, ESearchArgs) else self.args
        return isinstance(args, SearchArgs | SortArgs | ThreadArgs) and args.uses_sequence_numbers

    def encode(self) -> bytes:
        """The canonical client form, CRLF included."""
        return self.tag + b" " + self.spec.name.encode("ascii") + self.args.encode() + b"\r\n"


COMMANDS: dict[str, CommandSpec] = {}


def register(spec: CommandSpec) -> None:
    COMMANDS[spec.name] = spec


P = Flag.MAY_BE_PIPELINED
SEQ = Flag.USES_SEQUENCE_NUMBERS
BREAKS = Flag.BREAKS_SEQUENCE_NUMBERS
for _spec in (
    # RFC 9051 §6.1: any state
    CommandSpec("CAPABILITY", ANY, a.parse_none, P),
    CommandSpec("NOOP", ANY, a.parse_none, P),
    CommandSpec("LOGOUT", ANY, a.parse_none),
    CommandSpec("ID", ANY, a.parse_id, P),  # RFC 2971 §3.1
    # RFC 9051 §6.2: not authenticated
    CommandSpec("STARTTLS", NOT_AUTH, a.parse_none),
    CommandSpec("AUTHENTICATE", NOT_AUTH, a.parse_authenticate, Flag.INTERACTIVE),
    CommandSpec("LOGIN", NOT_AUTH, a.parse_login, Flag.REQUIRES_TLS_OR_LOOPBACK),
    # RFC 9051 §6.3: authenticated (and selected)
    CommandSpec("ENABLE", AUTH, a.parse_enable),
    CommandSpec("SELECT", AUTH, a.parse_mailbox_params, BREAKS),
    CommandSpec("EXAMINE", AUTH, a.parse_mailbox_params, BREAKS),
    CommandSpec("CREATE", AUTH, a.parse_mailbox_params),
    CommandSpec("DELETE", AUTH, a.parse_mailbox),
    CommandSpec("RENAME", AUTH, a.parse_rename),
    CommandSpec("SUBSCRIBE", AUTH, a.parse_mailbox),
    CommandSpec("UNSUBSCRIBE", AUTH, a.parse_mailbox),
    CommandSpec("LIST", AUTH, a.parse_list, P),
    CommandSpec("LSUB", AUTH, a.parse_lsub, P),  # RFC 3501 §6.3.9 (rev1)
    CommandSpec("NAMESPACE", AUTH, a.parse_none, P),  # RFC 2342
    CommandSpec("STATUS", AUTH, a.parse_status, P),
    CommandSpec("APPEND", AUTH, a.parse_append, Flag.MESSAGE_LITERALS),
    CommandSpec("IDLE", AUTH, a.parse_none, Flag.INTERACTIVE),  # RFC 2177
    CommandSpec("COMPRESS", AUTH, a.parse_compress),  # RFC 4978 §3: command-auth
    CommandSpec("UNAUTHENTICATE", AUTH, a.parse_none, BREAKS),  # RFC 8437 §3
    CommandSpec("GETQUOTA", AUTH, q.parse_getquota, P),  # RFC 9208 §4.1.1
    CommandSpec("GETQUOTAROOT", AUTH, q.parse_getquotaroot, P),  # RFC 9208 §4.1.2
    CommandSpec("SETQUOTA", AUTH, q.parse_setquota),  # RFC 9208 §4.1.3
    CommandSpec("SETACL", AUTH, acl_args.parse_setacl),  # RFC 4314 §3.1
    CommandSpec("DELETEACL", AUTH, acl_args.parse_deleteacl),  # RFC 4314 §3.2
    CommandSpec("GETACL", AUTH, acl_args.parse_mailbox_only, P),  # RFC 4314 §3.3
    CommandSpec("LISTRIGHTS", AUTH, acl_args.parse_listrights, P),  # RFC 4314 §3.4
    CommandSpec("MYRIGHTS", AUTH, acl_args.parse_mailbox_only, P),  # RFC 4314 §3.5
    CommandSpec("GETMETADATA", AUTH, md.parse_getmetadata, P),  # RFC 5464 §4.2
    CommandSpec("SETMETADATA", AUTH, md.parse_setmetadata),  # RFC 5464 §4.3
    # RFC 9051 §6.4: selected
    CommandSpec("CHECK", SELECTED, a.parse_none),  # RFC 3501 §6.4.1 (rev1; NOOP in rev2)
    CommandSpec("CLOSE", SELECTED, a.parse_none, BREAKS),
    CommandSpec("UNSELECT", SELECTED, a.parse_none, BREAKS),  # RFC 3691
    CommandSpec("EXPUNGE", SELECTED, a.parse_none, BREAKS),
    CommandSpec("SEARCH", SELECTED, parse_search, SEQ),
    CommandSpec("FETCH", SELECTED, parse_fetch, SEQ),
    CommandSpec("STORE", SELECTED, a.parse_store, SEQ),
    CommandSpec("COPY", SELECTED, a.parse_copy, SEQ),
    CommandSpec("MOVE", SELECTED, a.parse_copy, SEQ | BREAKS),  # RFC 6851
    # RFC 9051 §6.4.9: UID forms refer to messages by UID; untagged EXPUNGE may be sent during them.
    CommandSpec("UID SEARCH", SELECTED, parse_search),
    CommandSpec("UID FETCH", SELECTED, parse_fetch),
    CommandSpec("UID STORE", SELECTED, a.parse_store),
    CommandSpec("UID COPY", SELECTED, a.parse_copy),
    CommandSpec("UID MOVE", SELECTED, a.parse_copy, BREAKS),
    CommandSpec("UID EXPUNGE", SELECTED, a.parse_sequence, BREAKS),  # RFC 4315 §2.1
    # RFC 8508 §3.5: selected state only, both forms.
    CommandSpec("REPLACE", SELECTED, a.parse_replace, SEQ | BREAKS | Flag.MESSAGE_LITERALS),
    CommandSpec("UID REPLACE", SELECTED, a.parse_replace, BREAKS | Flag.MESSAGE_LITERALS),
    # RFC 7377 §4: command-auth and command-select; answers in UIDs only (§2.1).
    CommandSpec("ESEARCH", AUTH, parse_esearch),
    # RFC 5256 §3: SORT and THREAD are SEARCH variants; their UID forms may see untagged EXPUNGE.
    CommandSpec("SORT", SELECTED, parse_sort, SEQ),
    CommandSpec("UID SORT", SELECTED, parse_sort),
    CommandSpec("THREAD", SELECTED, parse_thread, SEQ),
    CommandSpec("UID THREAD", SELECTED, parse_thread),
):
    register(_spec)


def lookup(name: str) -> CommandSpec | None:
    return COMMANDS.get(name.upper())


def check_state(spec: CommandSpec, state: State) -> str | None:
    """None when ``spec`` may run in ``state``; otherwise the text of the BAD (RFC 9051 §3)."""
    if state in spec.states:
        return None
    if state is State.NOT_AUTHENTICATED:
        return "Log in first"
    if spec.states == SELECTED:
        return "No mailbox selected"
    if state is State.LOGOUT:
        return "Logging out"
    return "Command not valid in this state"


def parse_head(line: bytes) -> tuple[bytes, str, bool]:
    """``tag SP name`` (and ``UID SP name``) from the start of a command's first line."""
    return _read_head(Cursor(Assembled([line], [])))


def _read_head(cur: Cursor) -> tuple[bytes, str, bool]:
    tag = cur.tag()
    cur.sp()
    name = cur.keyword()
    uid = False
    if name == "UID":
        cur.sp()
        name = cur.keyword()
        uid = True
        if lookup("UID " + name) is None:
            raise ParseError("Unknown UID command")
        name = "UID " + name
    return tag, name, uid


def parse_command(assembled: Assembled, *, utf8: bool = False, max_depth: int = 64) -> Command:
    """Parse a whole command; ParseError (a BAD) on any syntax error or unknown command."""
    cur = Cursor(assembled, utf8=utf8)
    tag, full, uid = _read_head(cur)
    spec = lookup(full)
    if spec is None:
        raise ParseError("Unknown command")
    args = spec.parse(cur, max_depth)
    cur.end()
    return Command(tag, full.removeprefix("UID "), uid, args, spec)


def is_tag(data: bytes) -> bool:
    return TAG_RE.fullmatch(data) is not None
