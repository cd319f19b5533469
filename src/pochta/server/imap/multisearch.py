"""ESEARCH across mailboxes: MULTISEARCH (RFC 7377).

- Sources (§2.2, RFC 5465 §6): ``selected`` (the default when IN is absent; BAD when no mailbox is
  selected), ``inboxes`` (INBOX: the mailbox deliveries go to by default), ``personal`` (every
  mailbox of the account), ``subscribed`` (the subscribed ones that exist), ``subtree`` (a mailbox
  and all below it), ``subtree-one`` (a mailbox and its children), ``mailboxes`` (those named).
  Names that do not exist are skipped; a mailbox named twice is searched once, in the order of first
  mention. More than ``imap.max_search_mailboxes`` mailboxes: NO [LIMIT] before any is searched
  (§2.4).
- Answers (§2.1): one ``* ESEARCH (TAG t MAILBOX m UIDVALIDITY v) UID ...`` per mailbox with a
  match, none for a mailbox without; always UIDs; ALL when no RETURN option is given. SAVE only when
  the selected mailbox is the only source (§2.2), else BAD.
- A mailbox other than the selected one is searched on a read-only snapshot of it (its view, as
  STATUS would read it): nothing in it is marked \\Recent or \\Seen, and selecting stays as it was.
  The selected mailbox is searched as SEARCH does (the session's numbering and ``$``).
"""

from __future__ import annotations

from collections.abc import Iterable

from pochta.mail import names
from pochta.mail.errors import OpsError
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.search import ESearchArgs, Source
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.imap.search import esearch_response, failed, saved_part
from pochta.server.imap.search_eval import SearchError, evaluate
from pochta.server.imap.session import Session
from pochta.store.model import MailboxInfo

__all__ = ["esearch"]


async def esearch(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, ESearchArgs)
    tag, search = command.tag, args.search
    sources = args.sources or (Source("SELECTED"),)  # RFC 7377 §2.2: no source options: selected
    selected = session.selected
    wants_selected = any(s.kind == "SELECTED" for s in sources)
    if wants_selected and selected is None:
        return Tagged(tag, Status.BAD, "No mailbox selected")  # RFC 7377 §2.2
    names_wanted = search.return_names
    if "UPDATE" in names_wanted:
        # RFC 7377 §2.2 lets UPDATE apply to the selected mailbox alone; SEARCH RETURN (UPDATE) does that.
        return Tagged(tag, Status.BAD, "UPDATE is not supported by ESEARCH; use SEARCH RETURN (UPDATE)")
    if "SAVE" in names_wanted and not all(s.kind == "SELECTED" for s in sources):
        return Tagged(tag, Status.BAD, "SAVE needs the selected mailbox as the only source")  # §2.2
    targets = await _mailboxes(session, sources)
    limit = session.services.settings.imap.max_search_mailboxes
    if len(targets) > limit:
        # RFC 7377 §2.4: a limit on the mailboxes one search may cover, applied up front.
        return Tagged(tag, Status.NO, f"At most {limit} mailboxes may be searched at once", code="LIMIT")
    # RFC 7377 §2.1: a source option implies ALL (unless PARTIAL, which excludes it: RFC 9394 §3.1)
    # RFC 7377 §2.2: CONTEXT is allowed (RFC 5267 §4.2: a hint, ignored here).
    wanted = names_wanted - {"SAVE", "CONTEXT"} or ({"ALL"} if search.partial is None else set())
    store = session.services.store
    for info in targets:
        if selected is not None and info.id == selected.mailbox_id:
            searched, view = selected, None
        else:
            view = store.current_view(info.id) or await store.open_view(info.id)
            searched = SelectedMailbox(view, read_only=True, rev1=False)
        try:
            uids = await evaluate(store, searched, search.key, charset=search.charset, view=view)
        except SearchError as exc:
            if "SAVE" in names_wanted and selected is not None:
                selected.save_result(())  # RFC 5182 §2.1
            return failed(session, command, exc)
        if searched is selected and "SAVE" in names_wanted:
            selected.save_result(saved_part(names_wanted, uids, search.partial))
        if not uids or names_wanted == {"SAVE"}:
            continue  # RFC 7377 §2.1: no ESEARCH for a mailbox without a match
        session.send(
            esearch_response(
                tag,
                uids,
                wanted,
                uid=True,
                mailbox=searched.name,
                uidvalidity=searched.uidvalidity,
                partial=search.partial,  # RFC 7377 §2.2: applies to each mailbox searched
            )
        )
    return Tagged(tag, Status.OK, "ESEARCH completed")


async def _mailboxes(session: Session, sources: Iterable[Source]) -> list[MailboxInfo]:
    """The mailboxes the sources name, each once, in the order of first mention."""
    ops = session.services.ops
    account = session.account_id
    everything = sorted(await ops.mailboxes(account), key=lambda info: info.name)
    by_name = {info.name: info for info in everything}
    chosen: dict[int, MailboxInfo] = {}
    selected = session.selected
    for source in sources:
        match source.kind:
            case "SELECTED":
                assert selected is not None
                found = [i for i in everything if i.id == selected.mailbox_id]
            case "INBOXES":
                found = [i for i in everything if i.name == names.INBOX]
            case "PERSONAL":  # RFC 5465 §6.2
                found = everything
            case "SUBSCRIBED":  # RFC 5465 §6.4
                found = [i for i in everything if i.subscribed]
            case _:  # SUBTREE, SUBTREE-ONE, MAILBOXES (RFC 5465 §6.5, §6.6, RFC 7377 §2.2)
                found = []
                for raw in source.mailboxes:
                    try:
                        name = ops.canonical_name(session.mailbox_name(raw))
                    except OpsError:
                        continue  # a name no mailbox can have
                    if source.kind == "MAILBOXES":
                        found.extend([by_name[name]] if name in by_name else [])
                    else:
                        found.extend(
                            i for i in everything if _below(i.name, name, one=source.kind == "SUBTREE-ONE")
                        )
        for info in found:
            chosen.setdefault(info.id, info)
    return list(chosen.values())


def _below(candidate: str, top: str, *, one: bool) -> bool:
    """``candidate`` is ``top`` or under it (directly, with ``one``)."""
    if candidate == top:
        return True
    prefix = top + names.SEPARATOR
    if not candidate.startswith(prefix):
        return False
    return not one or names.SEPARATOR not in candidate[len(prefix) :]
