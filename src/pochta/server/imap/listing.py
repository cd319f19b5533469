"""LIST and LSUB: RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE,
RFC 3348 CHILDREN, RFC 3501 §6.3.9 LSUB.

- Patterns: reference and pattern are joined; ``*`` matches anything, ``%`` anything but the
  hierarchy separator "/" (RFC 9051 §6.3.9). "INBOX" is matched case-insensitively as a first level.
  Matching is linear in the length of each name (``mail.patterns``, no regular expression); more
  than ``imap.max_list_wildcards`` wildcards in one pattern is ``NO [LIMIT]``.
  Names are sent in modified UTF-7 to IMAP4rev1 sessions, UTF-8 after ENABLE IMAP4rev2/UTF8=ACCEPT.
- ``LIST "" ""`` answers the delimiter and the reference's root (RFC 9051 §6.3.9).
- Attributes: \\HasChildren/\\HasNoChildren always (RFC 3348, RFC 5258 §4), the special use always
  (RFC 6154 §2 allows it without the return option), \\Subscribed with RETURN (SUBSCRIBED) or the
  SUBSCRIBED selection, \\NonExistent for subscribed names without a mailbox and for their missing
  superiors (RFC 5258 §3).
- Selection SUBSCRIBED / SPECIAL-USE list only what meets them; with RECURSIVEMATCH a name with a
  descendant that meets them and is not listed itself gets CHILDINFO, and is listed for it when it
  does not meet them itself (RFC 5258 §3.1 (b), §3.5: redundant CHILDINFO is suppressed). REMOTE
  changes nothing: every mailbox is local.
- RETURN (STATUS (...)): a STATUS response after each selectable mailbox listed (RFC 5819 §2).
- Other users' mailboxes (RFC 4314, ``mail.access``): those the user holds "l" on, under
  ``Other Users/<owner>/``, with the two levels above them as \\Noselect \\HasChildren; none of the
  owner's other names (a mailbox without "l" is not listed, nor its parent: RFC 4314 §4). STATUS of
  them needs "r". Public mailboxes of the user's domain the same way, under ``Shared/`` (RFC 2342
  §2), with ``Shared`` as \\Noselect \\HasChildren only when at least one of them is listed.
  RETURN (MYRIGHTS) adds the user's rights after each mailbox (RFC 8440 §3).
"""

from __future__ import annotations

from collections.abc import Iterable

from pochta.mail import acl
from pochta.mail.access import prefix_levels
from pochta.mail.names import INBOX
from pochta.mail.patterns import NamePattern, count_wildcards
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.args import ListArgs, Lsub
from pochta.proto.imap.responses import ListItem, MyRights
from pochta.server.imap.session import Session
from pochta.server.imap.status import check_items, extra_values, status_response
from pochta.store.model import HIERARCHY_SEPARATOR, MailboxInfo

__all__ = ["list_command", "lsub"]

SEP = HIERARCHY_SEPARATOR


def _patterns(session: Session, reference: bytes, patterns: Iterable[bytes]) -> list[NamePattern]:
    ref = _decode(session, reference)
    compiled = []
    for raw in patterns:
        pattern = _decode(session, raw)
        if ref is not None and pattern is not None:
            compiled.append(NamePattern(ref + pattern))
    return compiled  # a pattern that cannot be decoded matches nothing


def _too_many_wildcards(
    session: Session, command: Command, reference: bytes, patterns: Iterable[bytes]
) -> Tagged | None:
    """NO [LIMIT] when the reference and a pattern together hold more wildcards than allowed."""
    limit = session.services.settings.imap.max_list_wildcards
    # Wildcards are ASCII in both name encodings (modified UTF-7 and UTF-8): count them in the octets.
    if any(count_wildcards((reference + raw).decode("ascii", "replace")) > limit for raw in patterns):
        # RFC 5530 §3 LIMIT: an implementation limit, not a syntax error.
        return Tagged(command.tag, Status.NO, f"At most {limit} wildcards in a pattern", code="LIMIT")
    return None


def _decode(session: Session, raw: bytes) -> str | None:
    try:
        return session.ctx.mailbox_name(raw)
    except ValueError:
        return None


def _parents(name: str) -> list[str]:
    levels = name.split(SEP)
    return [SEP.join(levels[:i]) for i in range(1, len(levels))]


def _sort_key(name: str) -> tuple[bool, str]:
    return (name != INBOX and not name.startswith(INBOX + SEP), name)


async def list_command(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, ListArgs)
    if not args.extended and args.patterns == (b"",):
        # RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root of the reference.
        ref = _decode(session, args.reference) or ""
        root = ref[: ref.index(SEP) + 1] if SEP in ref else ""
        session.send(ListItem(("\\Noselect",), SEP, root))
        return Tagged(command.tag, Status.OK, "LIST completed")
    too_many = _too_many_wildcards(session, command, args.reference, args.patterns)
    if too_many is not None:
        return too_many
    status_items = args.status
    problem = check_items(status_items)
    if problem is not None:
        return Tagged(command.tag, Status.BAD, problem)
    select, returns = args.select_names, args.return_names
    by_sub = "SUBSCRIBED" in select
    by_use = "SPECIAL-USE" in select
    recursive = "RECURSIVEMATCH" in select
    show_subscribed = by_sub or "SUBSCRIBED" in returns
    services = session.services
    infos = {info.name: info for info in await services.store.mailboxes(session.account_id)}
    subscribed = {name for name, info in infos.items() if info.subscribed}
    rights: dict[str, frozenset[str]] = {}  # other users' mailboxes: the user's rights there
    nodes: set[str] = set()  # the other users' namespace levels above them (no mailboxes)
    assert session.account is not None
    shared = await services.ops.access.shared_with(session.account)
    for shown, box, granted in shared:
        if "l" in granted:  # RFC 4314 §4: LIST needs "l" (and says nothing where it is missing)
            infos[shown], rights[shown] = box, granted
            # "Other Users" and "Other Users/<owner>", or "Shared": no mailboxes, parents alone.
            nodes.update(_parents(shown)[: prefix_levels(shown)])
    if rights:
        # Subscriptions of other users' mailboxes are the user's own names (no mailbox row of theirs).
        subscriptions = set(await services.ops.subscriptions(session.account_id))
        subscribed |= subscriptions & set(rights)
    names = set(infos) | nodes
    if by_sub:
        # Subscriptions may name mailboxes that do not exist (RFC 9051 §6.3.7); they and their
        # missing superiors are listed as \NonExistent.
        subscribed = set(await services.ops.subscriptions(session.account_id))
        names.update(subscribed)
        names.update(p for name in subscribed for p in _parents(name))

    def meets(name: str) -> bool:
        if name in nodes:
            return not (by_sub or by_use)
        info = infos.get(name)
        if by_sub and name not in subscribed:
            return False
        if by_use and (info is None or info.special_use is None):
            return False
        return by_sub or info is not None

    criteria = tuple(c for c, on in (("SUBSCRIBED", by_sub), ("SPECIAL-USE", by_use)) if on)
    patterns = _patterns(session, args.reference, args.patterns)
    listed = {name for name in names if any(p.matches(name) for p in patterns)}
    # Computed once, not per name: a name's superiors (for \HasChildren and RECURSIVEMATCH).
    parents = {p for name in infos for p in _parents(name)}
    myrights = "MYRIGHTS" in returns
    # RFC 5258 §3.1 (b) and §3.5: CHILDINFO for a listed name with a descendant that meets the
    # criteria and is not listed itself; one whose matching descendants are all listed would be
    # redundant ("servers SHOULD suppress redundant CHILDINFO responses").
    unlisted_parents = (
        {p for name in names if meets(name) and name not in listed for p in _parents(name)}
        if recursive
        else set()
    )
    for name in sorted(listed, key=_sort_key):
        childinfo: tuple[str, ...] = criteria if name in unlisted_parents else ()  # RFC 5258 §3.5
        if not childinfo and not meets(name):
            continue
        info = infos.get(name)
        attrs = ["\\Noselect", "\\HasChildren"] if name in nodes else _attributes(info, name in parents)
        if show_subscribed and name in subscribed:
            attrs.append("\\Subscribed")
        session.send(ListItem(attrs, SEP, name, childinfo=childinfo))
        granted = rights.get(name, acl.ALL)
        if status_items and info is not None and "r" in granted:
            extra = await extra_values(session, info, status_items)
            session.send(status_response(name, info, status_items, extra))  # RFC 5819 §2
        if myrights and info is not None:
            # RFC 8440 §3: a MYRIGHTS response after the LIST response of each mailbox listed.
            session.send(MyRights(name, acl.format_rights(granted, legacy=True)))
    return Tagged(command.tag, Status.OK, "LIST completed")


def _attributes(info: MailboxInfo | None, children: bool) -> list[str]:
    attrs = []
    if info is None:
        attrs.append("\\NonExistent")  # RFC 5258 §3.4: implies \Noselect
    attrs.append("\\HasChildren" if children else "\\HasNoChildren")  # RFC 3348 §4
    if info is not None and info.special_use is not None:
        attrs.append(info.special_use)  # RFC 6154 §2
    return attrs


async def lsub(session: Session, command: Command) -> Tagged:
    """RFC 3501 §6.3.9: subscribed names; with a trailing "%", superiors of subscribed names that
    are not subscribed themselves are listed with \\Noselect."""
    args = command.args
    assert isinstance(args, Lsub)
    too_many = _too_many_wildcards(session, command, args.reference, (args.pattern,))
    if too_many is not None:
        return too_many
    subscribed = set(await session.services.ops.subscriptions(session.account_id))
    patterns = _patterns(session, args.reference, (args.pattern,))
    implied: set[str] = set()
    if args.pattern.endswith(b"%"):
        implied = {p for name in subscribed for p in _parents(name)} - subscribed
    for name in sorted(subscribed | implied, key=_sort_key):
        if any(p.matches(name) for p in patterns):
            attrs = ("\\Noselect",) if name in implied else ()
            session.send(ListItem(attrs, SEP, name, lsub=True))
    return Tagged(command.tag, Status.OK, "LSUB completed")
