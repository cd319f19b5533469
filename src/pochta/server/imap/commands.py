"""The server's command table: which handler runs each command, and what it adds to CAPABILITY.

Adding a command is a module with an ``async def run(session, command) -> Tagged | None`` plus one
``TABLE`` entry (and its grammar in the proto command table: a test holds the two equal). The
CAPABILITY list is derived from the table, so that only what works is advertised (an extension's
capability sits on the entry of the command that implements it).

``dispatch`` runs one command: a handler writes its untagged responses with ``session.send`` and
returns its tagged completion (None when it wrote it itself, as STARTTLS must). Mailbox errors
(``OpsError``) become ``NO [code]``; before the tagged response, the selected mailbox's pending
changes are reported (RFC 9051 §7: untagged updates may come with any command; EXPUNGE not during a
command that uses sequence numbers, §7.5.1).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pochta.auth.authenticator import plaintext_allowed
from pochta.mail.errors import OpsError
from pochta.proto.imap import Command, State, Status, Tagged
from pochta.proto.imap.responses import SIMPLE_CODES, Bye
from pochta.proto.imap.selected import InvalidSequenceNumber
from pochta.proto.sasl import PLAINTEXT_MECHANISMS, SERVER_MECHANISMS
from pochta.server.imap import (
    acl,
    append,
    auth,
    compress,
    context,
    copy,
    expunge,
    fetch,
    idle,
    listing,
    mailboxes,
    metadata,
    multisearch,
    notify,
    quota,
    replace,
    search,
    select,
    sort,
    status,
    store,
)
from pochta.server.imap.session import Session
from pochta.store.api import StoreError

__all__ = ["TABLE", "Entry", "capabilities", "dispatch"]

Runner = Callable[[Session, Command], Awaitable[Tagged | None]]


@dataclass(frozen=True)
class Entry:
    run: Runner
    capabilities: tuple[str, ...] = ()  # advertised because this command is implemented
    poll: bool = False  # always look for changes of the selected mailbox (NOOP, CHECK: RFC 9051 §6.1.2)


# Keyed by ``CommandSpec.name`` of the proto table ("UID FETCH" for the UID form).
TABLE: dict[str, Entry] = {
    # RFC 9051 §6.1: any state
    "CAPABILITY": Entry(auth.capability),
    "NOOP": Entry(auth.noop, poll=True),
    "LOGOUT": Entry(auth.logout),
    "ID": Entry(auth.id_command, ("ID",)),  # RFC 2971
    # RFC 9051 §6.2: not authenticated (STARTTLS and AUTH= are advertised by ``capabilities``)
    "STARTTLS": Entry(auth.starttls),
    "AUTHENTICATE": Entry(auth.authenticate, ("SASL-IR",)),  # RFC 4959
    "LOGIN": Entry(auth.login),
    # RFC 9051 §6.3: authenticated
    # RFC 5161, 6855, 7162, 9586
    "ENABLE": Entry(auth.enable, ("ENABLE", "UTF8=ACCEPT", "CONDSTORE", "QRESYNC", "UIDONLY")),
    "SELECT": Entry(select.select),
    "EXAMINE": Entry(select.examine),
    "CREATE": Entry(mailboxes.create, ("CREATE-SPECIAL-USE",)),  # RFC 6154 §3
    "DELETE": Entry(mailboxes.delete),
    "RENAME": Entry(mailboxes.rename),
    "SUBSCRIBE": Entry(mailboxes.subscribe),
    "UNSUBSCRIBE": Entry(mailboxes.unsubscribe),
    "LIST": Entry(listing.list_command, ("LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CHILDREN")),
    "LSUB": Entry(listing.lsub),
    "NAMESPACE": Entry(mailboxes.namespace, ("NAMESPACE",)),  # RFC 2342
    "STATUS": Entry(status.status, ("STATUS=SIZE",)),  # RFC 8438
    # RFC 9051 §6.4: selected
    "CHECK": Entry(auth.noop, poll=True),  # RFC 3501 §6.4.1: for us a NOOP (rev2 has no CHECK)
    "CLOSE": Entry(select.close),
    "UNSELECT": Entry(select.unselect, ("UNSELECT",)),  # RFC 3691
    "FETCH": Entry(fetch.fetch, ("BINARY",)),  # RFC 3516
    "UID FETCH": Entry(
        fetch.fetch, ("OBJECTID", "SAVEDATE", "PREVIEW", "PARTIAL")
    ),  # RFC 8474, 8514, 8970; RFC 9394: the modifier, and SEARCH's option
    "STORE": Entry(store.store),
    "UID STORE": Entry(store.store),
    "SEARCH": Entry(search.search, ("ESEARCH", "SEARCHRES", "WITHIN")),  # RFC 4731, 5182, 5032
    "UID SEARCH": Entry(search.search),
    "ESEARCH": Entry(multisearch.esearch, ("MULTISEARCH",)),  # RFC 7377
    "SORT": Entry(sort.sort, ("SORT", "SORT=DISPLAY", "ESORT")),  # RFC 5256, RFC 5957, RFC 5267 §3
    "UID SORT": Entry(sort.sort),
    # RFC 5267 §4: UPDATE/CONTEXT/PARTIAL of SEARCH and SORT, CANCELUPDATE (§4.3.5).
    "CANCELUPDATE": Entry(context.cancelupdate, ("CONTEXT=SEARCH", "CONTEXT=SORT")),
    "THREAD": Entry(sort.thread, ("THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES")),  # RFC 5256 §3
    "UID THREAD": Entry(sort.thread),
    # RFC 3502, RFC 4469; APPENDLIMIT: ``capabilities``
    "APPEND": Entry(append.append, ("MULTIAPPEND", "CATENATE")),
    "IDLE": Entry(idle.idle, ("IDLE",)),  # RFC 2177
    "COMPRESS": Entry(compress.compress),  # RFC 4978; COMPRESS=DEFLATE: ``capabilities``
    "NOTIFY": Entry(notify.notify, ("NOTIFY",), poll=True),  # RFC 5465; §3.1: SET implies a NOOP
    "UNAUTHENTICATE": Entry(auth.unauthenticate, ("UNAUTHENTICATE",)),  # RFC 8437
    # RFC 9208 §3.1.1, §5: the resources counted, each as QUOTA=RES-; QUOTASET with SETQUOTA (§1).
    "GETQUOTA": Entry(quota.getquota, ("QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE")),
    "GETQUOTAROOT": Entry(quota.getquotaroot),
    "SETQUOTA": Entry(quota.setquota, ("QUOTASET",)),
    # RFC 4314 §2.1, §5.1.1: RIGHTS= names the rights beyond RFC 2086's; RFC 8440 LIST-MYRIGHTS.
    "SETACL": Entry(acl.setacl, ("ACL", "RIGHTS=kxte", "LIST-MYRIGHTS")),
    "DELETEACL": Entry(acl.deleteacl),
    "GETACL": Entry(acl.getacl),
    "LISTRIGHTS": Entry(acl.listrights),
    "MYRIGHTS": Entry(acl.myrights),
    "GETMETADATA": Entry(metadata.getmetadata, ("METADATA", "METADATA-SERVER")),  # RFC 5464 §1
    "SETMETADATA": Entry(metadata.setmetadata),
    "EXPUNGE": Entry(expunge.expunge),
    "UID EXPUNGE": Entry(expunge.uid_expunge, ("UIDPLUS",)),  # RFC 4315
    "COPY": Entry(copy.copy),
    "UID COPY": Entry(copy.copy),
    "MOVE": Entry(copy.move, ("MOVE",)),  # RFC 6851
    "UID MOVE": Entry(copy.move),
    "REPLACE": Entry(replace.replace, ("REPLACE",)),  # RFC 8508
    "UID REPLACE": Entry(replace.replace),
}


# The capabilities the commands of the table bring, each once, in table order: the same for every
# session, so gathered once (CAPABILITY is sent at every greeting and login).
_TABLE_CAPABILITIES = tuple(dict.fromkeys(c for entry in TABLE.values() for c in entry.capabilities))


def capabilities(session: Session) -> list[str]:
    """CAPABILITY for this session now (RFC 9051 §7.2.2): only what is implemented."""
    conn = session.conn
    settings = session.services.settings
    caps = ["IMAP4rev2", "IMAP4rev1"]
    if session.state is State.NOT_AUTHENTICATED:
        if conn.starttls_available and "STARTTLS" in TABLE:
            caps.append("STARTTLS")  # RFC 9051 §6.2.1
        plain = plaintext_allowed(settings.login, conn.is_secure, conn.peer_ip)
        caps.extend(f"AUTH={m}" for m in SERVER_MECHANISMS if plain or m not in PLAINTEXT_MECHANISMS)
        if not plain:
            caps.append("LOGINDISABLED")  # RFC 9051 §6.2.3, §7.2.2
    # RFC 7888 §3 LITERAL+, or §5 LITERAL- (which IMAP4rev2 implies anyway), never both (§5); the
    # receiver's Limits.literal_minus follows the same setting.
    caps.append("LITERAL+" if settings.imap.literal_plus else "LITERAL-")
    listed = set(caps)
    caps.extend(c for c in _TABLE_CAPABILITIES if c not in listed)
    if "APPEND" in TABLE:
        caps.append(f"APPENDLIMIT={settings.limits.max_message_size}")  # RFC 7889
    if "COMPRESS" in TABLE and settings.imap.compress:
        caps.append(f"COMPRESS={compress.MECHANISM}")  # RFC 4978 §5
    imapsieve = session.services.imapsieve
    sieve_url = imapsieve.capability() if imapsieve is not None else None
    if sieve_url is not None:
        caps.append(sieve_url)  # RFC 6785 §2.1: one IMAPSIEVE= with the ManageSieve server
    return caps


async def dispatch(session: Session, command: Command) -> None:
    """Run one command and queue its responses (flushed by the connection loop)."""
    tag = command.tag
    reply: Tagged | None
    entry = TABLE[command.spec.name]  # every parsed command has one (tests/unit/imap/test_server_table.py)
    if session.selected is not None and not await acl.refresh(session):
        return  # RFC 4314 §5.1.1: "r" on the selected mailbox is gone; BYE was queued
    try:
        if session.uidonly and command.uses_sequence_numbers:
            # RFC 9586 §3: once UIDONLY is enabled, a command with message numbers (FETCH, STORE,
            # SEARCH, COPY, MOVE, REPLACE, SORT, THREAD, or a search program with a number set) is
            # refused with BAD [UIDREQUIRED]; UID commands (without number sets) are the way.
            text = f"{command.spec.name} uses message sequence numbers: UIDONLY is enabled, use UID commands"
            reply = Tagged(tag, Status.BAD, text, code="UIDREQUIRED")
        else:
            reply = await entry.run(session, command)
    except OpsError as exc:
        code = exc.code if exc.code in SIMPLE_CODES else None
        reply = Tagged(tag, Status.NO, exc.message, code=code)
    except InvalidSequenceNumber as exc:
        reply = Tagged(tag, Status.BAD, str(exc))
    except StoreError as exc:
        session.conn.log.error("imap store error", command=command.spec.name, error=str(exc))
        reply = Tagged(tag, Status.NO, "Temporary server failure, try again", code="UNAVAILABLE")
    if session.selected is not None and not session.logout:
        await notify.report_selected(
            session,
            poll=entry.poll,
            allow_expunge=not command.uses_sequence_numbers,
            include_uid=command.uid,
        )
    if session.notifier is not None and not session.logout:
        if command.spec.name in notify.OWN_NAME_CHANGES:
            await notify.absorb_own(session)
        await notify.report(session)  # RFC 5465: untagged STATUS and LIST may come with any command
    if reply is None:
        return
    session.send(reply)
    if reply.status is Status.BAD:
        closing = session.receiver.record_bad()  # handler BADs count against the error budget too
        if closing is not None and isinstance(closing.reply, Bye):
            session.send(closing.reply)
            session.logout = True
