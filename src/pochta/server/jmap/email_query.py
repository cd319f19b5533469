"""Email/query and Email/queryChanges (RFC 8621 sections 4.4 and 4.5; RFC 8620 sections 5.5, 5.6).

The query reads the account's mailboxes as IMAP does (one view each, ``store.open_view``): an
Email is a distinct message (``M`` + messages.id) whatever number of mailboxes hold it, its
keywords are the union of its memberships' flags with ``$seen`` only when every copy is seen (the
rule of ``AccountEmail``), its receivedAt the earliest internal date, its size the message's.

Content conditions (text, from, to, cc, bcc, subject, body, header) run the IMAP SEARCH
evaluator (``server.imap.search_eval.evaluate``) on each mailbox with the equivalent key (TEXT,
FROM, ..., HEADER), so that JMAP and IMAP answer the same messages for the same criteria; no
second matcher. The filter tree is then set algebra (``proto.jmap.mail.query``). Sorting by
from/to/subject/sentAt reads the keys IMAP SORT keeps (``store.sort_keys``, RFC 5256): the
casemapped first address, the base subject, the Date: field (else the internal date).

Email/queryChanges (``email_query_changes``) is exact for the shapes ``changes_shape`` names, for
which Email/query says ``canCalculateChanges``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Any

from pochta.mime import ParsedMessage
from pochta.mime.sortkeys import SortKeys
from pochta.proto.imap.search import And, HeaderKey, SearchKey, StringKey
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.jmap import MAIL_CAPABILITY, MethodError, MethodErrorType
from pochta.proto.jmap.arguments import invalid_arguments
from pochta.proto.jmap.mail.body import body_structure, has_attachment, split_body
from pochta.proto.jmap.mail.ids import email_id, parse_mailbox_id
from pochta.proto.jmap.mail.query import (
    EmailCondition,
    EmailFilter,
    EmailOperator,
    EmailSort,
    evaluate_filter,
    jmap_keyword,
    parse_email_filter,
    parse_email_sort,
)
from pochta.proto.jmap.mail.states import state_string
from pochta.proto.jmap.standard import QueryArgs, QueryWindow, parse_query, query_response, query_window
from pochta.proto.jmap.standard.query_changes import QueryChangesArgs
from pochta.server.imap.search_eval import evaluate
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.api import Store
from pochta.store.model import AccountId, MailboxId, MailboxView, MessageEntry

__all__ = [
    "COLLAPSE_THREADS",
    "EmailQueryShape",
    "changes_shape",
    "email_query_shape",
    "query_results",
    "register_email_query",
]

COLLAPSE_THREADS = "collapseThreads"  # RFC 8621 section 4.4's argument of Email/query and /queryChanges

_CHUNK = 500  # parse records per ``store.cached`` call (hasAttachment)
_SEEN = "$seen"
_IMAP_STRING_KEYS = {"text": "TEXT", "body": "BODY", "subject": "SUBJECT", "from": "FROM", "to": "TO"}
_IMAP_STRING_KEYS |= {"cc": "CC", "bcc": "BCC"}
_SORT_FIELDS = {"from": "from_", "to": "to", "subject": "subject", "sentAt": "sent"}


@functools.lru_cache(maxsize=4096)
def _keywords(copies: tuple[frozenset[str], ...]) -> frozenset[str]:
    """The keywords of an Email whose copies have these flag sets: the union, with ``$seen`` only
    when every copy is seen (``AccountEmail``'s rule). Cached: views share one frozenset per
    combination of flags, so an account has few distinct tuples."""
    found = {k for flags in copies for flag in flags if (k := jmap_keyword(flag)) is not None}
    if any("\\Seen" not in flags for flags in copies):
        found.discard(_SEEN)
    return frozenset(found)


class _Email:
    """What the query knows of one Email: its mailboxes, its copies' flags, size, receivedAt (the
    earliest copy's internal date). Slots and no factories: an account has one per message."""

    __slots__ = ("copies", "mailboxes", "received_at", "size")

    def __init__(self, mailbox_id: int, flags: frozenset[str], size: int, received_at: int) -> None:
        self.mailboxes: list[int] = [mailbox_id]
        self.copies: tuple[frozenset[str], ...] = (flags,)
        self.size = size
        self.received_at = received_at

    @property
    def keywords(self) -> frozenset[str]:
        return _keywords(self.copies)


class _Account:
    """The account's Emails, read from one view of each mailbox."""

    def __init__(self, store: Store, views: list[MailboxView]) -> None:
        self.store, self.views = store, views
        self.emails: dict[int, _Email] = {}
        emails = self.emails
        for view in views:
            mailbox_id, flags, sizes = view.mailbox.id, view.flags, view.sizes
            for i, message_id in enumerate(view.message_ids):
                email = emails.get(message_id)
                if email is None:
                    emails[message_id] = _Email(mailbox_id, flags[i], sizes[i], view.internal_epoch(i))
                    continue
                if mailbox_id not in email.mailboxes:
                    email.mailboxes.append(mailbox_id)
                email.copies += (flags[i],)
                email.received_at = min(email.received_at, view.internal_epoch(i))
        self.content: dict[tuple[str, str | tuple[str, ...]], set[int]] = {}
        self.attachments: set[int] | None = None
        self.threads: dict[int, int] | None = None  # message id -> thread id
        self.sort_keys: dict[int, SortKeys] | None = None

    async def find_content(self, prop: str, value: str | tuple[str, ...]) -> None:
        """The Emails an IMAP SEARCH with the equivalent key finds, in any mailbox."""
        if (prop, value) in self.content:
            return
        key: SearchKey
        if prop == "header":
            assert isinstance(value, tuple)
            text = value[1] if len(value) > 1 else ""  # RFC 8621: [name] alone: the field exists
            key = HeaderKey(value[0].encode(), text.encode())
        else:
            assert isinstance(value, str)
            key = StringKey(_IMAP_STRING_KEYS[prop], value.encode())
        found: set[int] = set()
        for view in self.views:
            if not len(view):
                continue
            selected: SelectedMailbox[MessageEntry] = SelectedMailbox(view, read_only=True, rev1=False)
            for uid in await evaluate(self.store, selected, And((key,)), view=view):
                position = view.position(uid)
                if position is not None:
                    found.add(view.message_ids[position])
        self.content[prop, value] = found

    async def find_attachments(self) -> None:
        """The Emails with an attachment, from their parse records, as Email/get decides
        ``hasAttachment`` (``proto.jmap.mail.body``)."""
        if self.attachments is not None:
            return
        found: set[int] = set()
        todo = set(self.emails)
        for view in self.views:
            uids = [view.uids[i] for i, m in enumerate(view.message_ids) if m in todo]
            for start in range(0, len(uids), _CHUNK):
                for cached in await self.store.cached(view.mailbox.id, uids[start : start + _CHUNK]):
                    todo.discard(cached.message_id)
                    try:
                        root = ParsedMessage.from_json(cached.parsed_json).root
                        # The Email core's rule (Email/get's hasAttachment, RFC 8621 section 4.1.4).
                        if has_attachment(split_body(body_structure(root))[2]):
                            found.add(cached.message_id)
                    except ValueError:
                        continue  # a damaged parse record (reconstruct repairs it): no attachment known
        self.attachments = found

    async def find_threads(self) -> dict[int, int]:
        if self.threads is None:
            threads: dict[int, int] = {}
            for view in self.views:
                rows = await self.store.message_objects(view.mailbox.id, None)
                if any(row.thread_id is None for row in rows):
                    await self.store.thread_now(view.mailbox.id)  # every Email has a thread
                    rows = await self.store.message_objects(view.mailbox.id, None)
                threads.update((row.message_id, row.thread_id or row.message_id) for row in rows)
            self.threads = threads
        return self.threads

    async def find_sort_keys(self, fields: Iterable[str]) -> dict[int, SortKeys]:
        if self.sort_keys is None:
            wanted = set(fields)
            keys: dict[int, SortKeys] = {}
            for view in self.views:
                todo = [view.uids[i] for i, m in enumerate(view.message_ids) if m not in keys]
                position = {view.uids[i]: m for i, m in enumerate(view.message_ids)}
                for row in await self.store.sort_keys(view.mailbox.id, todo, wanted):
                    keys[position[row.uid]] = row.keys
            self.sort_keys = keys
        return self.sort_keys


def _conditions(tree: EmailFilter | None) -> list[EmailCondition]:
    out, stack = [], [] if tree is None else [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, EmailOperator):
            stack.extend(node.conditions)
        else:
            out.append(node)
    return out


def _thread_keyword(account: _Account, threads: dict[int, int], keyword: str) -> tuple[set[int], set[int]]:
    """(threads where every Email has ``keyword``, threads where some Email has it)."""
    every: set[int] = set()
    some: set[int] = set()
    lacking: set[int] = set()
    for message_id, email in account.emails.items():
        thread = threads.get(message_id, message_id)
        (some if keyword in email.keywords else lacking).add(thread)
    every = {t for t in some if t not in lacking}
    return every, some


def _matches(account: _Account, condition: EmailCondition) -> Set[int]:
    emails = account.emails
    found = set(emails)
    c = condition
    if c.in_mailbox is not None:
        found = {m for m in found if c.in_mailbox in emails[m].mailboxes}
    if c.in_mailbox_other_than is not None:
        others = set(c.in_mailbox_other_than)
        found = {m for m in found if any(b not in others for b in emails[m].mailboxes)}
    if c.before is not None:
        before = int(c.before.timestamp())
        found = {m for m in found if emails[m].received_at < before}
    if c.after is not None:
        after = int(c.after.timestamp())
        found = {m for m in found if emails[m].received_at >= after}
    if c.min_size is not None:
        found = {m for m in found if emails[m].size >= c.min_size}
    if c.max_size is not None:
        found = {m for m in found if emails[m].size < c.max_size}  # RFC 8621: "less than"
    if c.has_keyword is not None:
        found = {m for m in found if c.has_keyword in emails[m].keywords}
    if c.not_keyword is not None:
        found = {m for m in found if c.not_keyword not in emails[m].keywords}
    if c.has_attachment is not None:
        attachments = account.attachments or set()
        found = {m for m in found if (m in attachments) == c.has_attachment}
    if c.needs_threads:
        threads = account.threads or {}
        for keyword, want in (
            (c.all_in_thread_have_keyword, "all"),
            (c.some_in_thread_have_keyword, "some"),
            (c.none_in_thread_have_keyword, "none"),
        ):
            if keyword is None:
                continue
            every, some = _thread_keyword(account, threads, keyword)
            if want == "all":
                found = {m for m in found if threads.get(m, m) in every}
            elif want == "some":
                found = {m for m in found if threads.get(m, m) in some}
            else:
                found = {m for m in found if threads.get(m, m) not in some}
    for prop, value in c.content:
        found &= account.content[prop, value]
    return found


async def _sorted(account: _Account, results: set[int], sorts: tuple[EmailSort, ...]) -> list[int]:
    # Ties (and no sort) fall back to the Email's number: a stable, total order (RFC 8620 5.5).
    ordered = sorted(results)
    emails = account.emails
    fields = {_SORT_FIELDS[s.property] for s in sorts if s.property in _SORT_FIELDS}
    keys = await account.find_sort_keys(fields) if fields else {}
    threads = (
        await account.find_threads() if any(s.property.endswith("InThreadHaveKeyword") for s in sorts) else {}
    )
    empty = SortKeys()
    for sort in reversed(sorts):  # stable sorts, the last comparator first
        prop = sort.property
        if prop == "receivedAt":
            ordered.sort(key=lambda m: emails[m].received_at, reverse=not sort.is_ascending)
        elif prop == "size":
            ordered.sort(key=lambda m: emails[m].size, reverse=not sort.is_ascending)
        elif prop == "sentAt":
            # RFC 5256 section 2.2: without a usable Date:, the internal date.
            ordered.sort(
                key=lambda m: s if (s := keys.get(m, empty).sent) is not None else emails[m].received_at,
                reverse=not sort.is_ascending,
            )
        elif prop in _SORT_FIELDS:
            name = _SORT_FIELDS[prop]
            ordered.sort(key=lambda m: str(getattr(keys.get(m, empty), name)), reverse=not sort.is_ascending)
        else:
            keyword = sort.keyword or ""
            if prop == "hasKeyword":
                ordered.sort(key=lambda m: keyword in emails[m].keywords, reverse=not sort.is_ascending)
            else:
                every, some = _thread_keyword(account, threads, keyword)
                chosen = every if prop == "allInThreadHaveKeyword" else some
                ordered.sort(key=lambda m: threads.get(m, m) in chosen, reverse=not sort.is_ascending)
    return ordered


async def _open_account(store: Store, account_id: AccountId) -> _Account:
    views = [await store.open_view(mailbox.id) for mailbox in await store.mailboxes(account_id)]
    return _Account(store, views)


def _is_common(
    args: QueryArgs, tree: EmailFilter | None, sorts: tuple[EmailSort, ...], collapse: bool
) -> bool:
    """The common query, which one indexed read answers (``store.emails_by_received``): only
    inMailbox, sorted by receivedAt alone, from a position (no anchor, none from the end)."""
    return (
        isinstance(tree, EmailCondition)
        and tree.in_mailbox is not None
        and tree == EmailCondition(in_mailbox=tree.in_mailbox)
        and len(sorts) == 1
        and sorts[0].property == "receivedAt"
        and not collapse
        and args.anchor is None
        and args.position >= 0
    )


async def _common_query(
    store: Store,
    account: JmapAccount,
    args: QueryArgs,
    tree: EmailFilter | None,
    sort: EmailSort,
    maximum: int,
) -> dict[str, Any]:
    assert isinstance(tree, EmailCondition)
    assert tree.in_mailbox is not None
    limit = args.limit if args.limit is not None and args.limit <= maximum else maximum
    page = await store.emails_by_received(
        account.account.id,
        MailboxId(tree.in_mailbox),
        descending=not sort.is_ascending,
        position=args.position,
        limit=limit,
        count=args.calculate_total,
    )
    ids = [email_id(m) for m in page.ids]
    window = QueryWindow(args.position, ids, None if limit == args.limit else limit)
    # canCalculateChanges: the common query is a "mailbox" shape of changes_shape.
    return query_response(account.id, state_string(page.state), True, window, page.total)


async def query_results(
    store: Store,
    account_id: AccountId,
    tree: EmailFilter | None,
    sorts: tuple[EmailSort, ...],
    collapse: bool,
) -> tuple[int, list[int]]:
    """The account's state (read first: a change racing the read makes it older, never newer)
    and every Email the query matches (messages.id), in order."""
    state = await store.account_state(account_id)
    mail = await _open_account(store, account_id)
    for condition in _conditions(tree):
        for prop, value in condition.content:
            await mail.find_content(prop, value)
        if condition.has_attachment is not None:
            await mail.find_attachments()
        if condition.needs_threads:
            await mail.find_threads()
    matched = evaluate_filter(tree, set(mail.emails), lambda c: _matches(mail, c))
    ordered = await _sorted(mail, matched, sorts)
    if collapse:
        # RFC 8621 section 4.4.3: only the first Email of each thread, in sort order.
        threads, seen, kept = await mail.find_threads(), set(), []
        for message_id in ordered:
            thread = threads.get(message_id, message_id)
            if thread not in seen:
                seen.add(thread)
                kept.append(message_id)
        ordered = kept
    return state, ordered


def changes_shape(tree: EmailFilter | None, sorts: tuple[EmailSort, ...], collapse: bool) -> str | None:
    """Which queries Email/queryChanges answers exactly (``email_query_changes``): "mailbox" for
    only inMailbox, "account" for no filter (or an empty FilterCondition, which every Email
    matches), each sorted by receivedAt or not sorted (the Email's number, which never changes:
    RFC 8620 section 5.5's server order); None for the others (``cannotCalculateChanges``)."""
    if collapse or len(sorts) > 1 or (sorts and sorts[0].property != "receivedAt"):
        return None
    if tree is None or tree == EmailCondition():
        return "account"
    if isinstance(tree, EmailCondition) and tree.in_mailbox is not None:
        return "mailbox" if tree == EmailCondition(in_mailbox=tree.in_mailbox) else None
    return None


@dataclass(frozen=True)
class EmailQueryShape:
    """What Email/query and Email/queryChanges read alike from their arguments (RFC 8621 sections
    4.4 and 4.5): the account, the filter tree, the sorts and collapseThreads."""

    account: JmapAccount
    tree: EmailFilter | None
    sorts: tuple[EmailSort, ...]
    collapse: bool


def email_query_shape(context: CallContext, args: QueryArgs | QueryChangesArgs) -> EmailQueryShape:
    collapse = args.extra.get(COLLAPSE_THREADS, False)
    if not isinstance(collapse, bool):
        raise invalid_arguments("collapseThreads must be a Boolean")
    account = context.account(args.account_id)
    tree = parse_email_filter(
        args.filter, max_depth=context.settings.jmap.max_filter_depth, parse_mailbox=parse_mailbox_id
    )
    return EmailQueryShape(account, tree, parse_email_sort(args.sort), collapse)


async def email_query(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query(arguments, extra=(COLLAPSE_THREADS,))
    shape = email_query_shape(context, args)
    account, tree, sorts, collapse = shape.account, shape.tree, shape.sorts, shape.collapse
    settings = context.settings.jmap
    store = context.store
    if store is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE)
    if _is_common(args, tree, sorts, collapse):
        return await _common_query(store, account, args, tree, sorts[0], settings.max_query_limit)
    state, ordered = await query_results(store, account.account.id, tree, sorts, collapse)
    ids = [email_id(m) for m in ordered]
    window = query_window(args, ids, max_limit=settings.max_query_limit)
    can_calculate = changes_shape(tree, sorts, collapse) is not None
    total = len(ids) if args.calculate_total else None
    return query_response(account.id, state_string(state), can_calculate, window, total)


def register_email_query(registry: MethodRegistry) -> None:
    registry.register("Email/query", MAIL_CAPABILITY, email_query)
