"""Where each remote folder goes in a migration (docs/migrate.md "Folders"): pure rules, no I/O.

- ``--folder-map REMOTE=LOCAL`` wins (REMOTE as the server lists it, decoded).
- INBOX is INBOX. When every other folder sits below INBOX (Courier and Cyrus put the personal
  namespace there), that prefix is dropped.
- A folder with an RFC 6154 attribute (\\Sent, \\Drafts, \\Trash, \\Junk, \\Archive) goes to our
  mailbox with that attribute; a server without SPECIAL-USE is read by the usual names ("Sent
  Items", "Deleted Messages", "Spam" ...) of top-level folders. One remote folder per attribute.
- \\All and \\Flagged folders are virtual views of other folders (Gmail's "All Mail", "Starred"):
  copying them would copy every message twice; they are skipped.
- Anything else keeps its levels, joined by our separator "/", below where its parent went; a "/"
  inside a level (a server whose separator is ".") becomes "_".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pochta.fetch.imap_remote import RemoteFolder
from pochta.store.model import HIERARCHY_SEPARATOR

__all__ = ["COMMON_NAMES", "FolderPlan", "plan_folders"]

MIGRATED_USES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
VIRTUAL_USES = ("\\All", "\\Flagged")

# Folder names clients and servers commonly give special-use folders, by lower case.
COMMON_NAMES: dict[str, str] = {
    **dict.fromkeys(("sent", "sent items", "sent messages", "sent mail", "gesendet", "envoyés"), "\\Sent"),
    **dict.fromkeys(("drafts", "draft", "entwürfe", "brouillons"), "\\Drafts"),
    **dict.fromkeys(
        ("trash", "deleted items", "deleted messages", "bin", "papierkorb", "corbeille"), "\\Trash"
    ),
    **dict.fromkeys(("junk", "spam", "junk e-mail", "junk email", "bulk mail"), "\\Junk"),
    **dict.fromkeys(("archive", "archives"), "\\Archive"),
}


@dataclass(frozen=True)
class FolderPlan:
    remote: RemoteFolder
    local: str | None  # None: not copied (``skip_reason`` says why)
    special_use: str | None = None  # the local mailbox is ours of this attribute
    skip_reason: str = ""


def _inbox_prefix(folders: Sequence[RemoteFolder]) -> str | None:
    others = [folder for folder in folders if folder.name.upper() != "INBOX"]
    if len(others) < 2:
        return None  # one folder below INBOX is a child of INBOX, not a namespace
    prefixes = {f"INBOX{folder.delimiter}" for folder in others if folder.delimiter}
    if len(prefixes) != 1:
        return None
    prefix = prefixes.pop()
    if all(folder.name.upper().startswith(prefix.upper()) for folder in others):
        return prefix
    return None


def _use(folder: RemoteFolder, levels: list[str], by_name: bool) -> str | None:
    use = folder.special_use
    if use is None and by_name and len(levels) == 1:
        use = COMMON_NAMES.get(levels[0].lower())
    return use


def plan_folders(
    folders: Sequence[RemoteFolder],
    *,
    folder_map: Mapping[str, str],
    local_special: Mapping[str, str],
    server_has_special_use: bool,
) -> list[FolderPlan]:
    """Each remote folder's local name, parents before children. ``local_special``: our
    mailbox names by special-use attribute."""
    prefix = _inbox_prefix(folders)
    ordered = sorted(folders, key=lambda folder: (len(folder.parts), folder.name))
    placed: dict[str, str] = {}  # remote name -> local name
    taken_uses: set[str] = set()
    plans: list[FolderPlan] = []
    for folder in ordered:
        name = folder.name
        if name.upper() == "INBOX":
            levels = ["INBOX"]
        elif prefix and name.upper().startswith(prefix.upper()):
            levels = (
                name[len(prefix) :].split(folder.delimiter) if folder.delimiter else [name[len(prefix) :]]
            )
        else:
            levels = folder.parts
        levels = [level.replace(HIERARCHY_SEPARATOR, "_") for level in levels]
        if folder.special_use in VIRTUAL_USES:
            plans.append(FolderPlan(folder, None, skip_reason=f"a virtual {folder.special_use} folder"))
            continue
        if name in folder_map:
            local = folder_map[name]
            placed[name] = local
            plans.append(FolderPlan(folder, local))
            continue
        if levels == ["INBOX"]:
            placed[name] = "INBOX"
            plans.append(FolderPlan(folder, "INBOX"))
            continue
        use = _use(folder, levels, not server_has_special_use)
        if use in MIGRATED_USES and use not in taken_uses and folder.selectable:
            taken_uses.add(use)
            local = local_special.get(use, HIERARCHY_SEPARATOR.join(levels))
            placed[name] = local
            plans.append(FolderPlan(folder, local, special_use=use))
            continue
        parent_remote = (
            folder.delimiter.join(folder.parts[:-1]) if folder.delimiter and len(folder.parts) > 1 else ""
        )
        if parent_remote in placed:
            local = placed[parent_remote] + HIERARCHY_SEPARATOR + levels[-1]
        else:
            local = HIERARCHY_SEPARATOR.join(levels)
        placed[name] = local
        plans.append(FolderPlan(folder, local))
    return plans
