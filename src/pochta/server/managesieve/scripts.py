"""The script commands (RFC 5804 §2.5-§2.12): HAVESPACE, PUTSCRIPT, LISTSCRIPTS, SETACTIVE,
GETSCRIPT, DELETESCRIPT, RENAMESCRIPT, CHECKSCRIPT, all through ``pochta.mail.sieve_scripts``
(names, compilation, quota: its ``ScriptRefused`` carries the response code)."""

from __future__ import annotations

from pochta.mail.sieve_scripts import ScriptRefused, decode_source
from pochta.proto.managesieve import Command, Response, Status, encode_literal, script_line
from pochta.server.managesieve.session import Session
from pochta.sieve import Script
from pochta.sieve.script import If, Include, Node
from pochta.store.api import StoreError

__all__ = [
    "checkscript",
    "deletescript",
    "getscript",
    "havespace",
    "listscripts",
    "missing_includes",
    "putscript",
    "renamescript",
    "setactive",
]


def _refused(refusal: ScriptRefused) -> Response:
    return Response(Status.NO, refusal.message, refusal.code)


def _name(command: Command, index: int) -> str:
    try:
        return command.string(index).decode("utf-8")
    except UnicodeDecodeError:
        # RFC 5804 §1.6: script names are UTF-8.
        raise ScriptRefused("A script name must be valid UTF-8") from None


def _account_id(session: Session) -> int:
    assert session.account is not None  # the command table allows these only after login
    return session.account.id


async def _guarded(session: Session, command: Command) -> Response:
    try:
        return await _COMMANDS[command.name](session, command)
    except ScriptRefused as refusal:
        return _refused(refusal)
    except StoreError as exc:
        # RFC 5804 §1.3: TRYLATER, a temporary failure on our side.
        session.conn.log.error("managesieve store error", command=command.name, error=str(exc))
        return Response(Status.NO, "Temporary failure, try again later", "TRYLATER")


def missing_includes(script: Script, existing: set[str], own_name: str | None) -> list[str]:
    """The personal scripts ``script`` includes (not ``:optional``) that do not exist yet: a warning,
    never an error (RFC 6609 §3.2: no errors for scripts missing at upload time)."""
    missing: list[str] = []
    stack: list[Node] = list(script.commands)
    while stack:
        node = stack.pop()
        if isinstance(node, Include):
            wanted = node.personal and not node.optional and node.name != own_name
            if wanted and node.name not in existing and node.name not in missing:
                missing.append(node.name)
        elif isinstance(node, If):
            for _, block in node.branches:
                stack.extend(block)
        else:
            inner: tuple[Node, ...] | None = getattr(node, "block", None)
            if inner:
                stack.extend(inner)
    return sorted(missing)


async def _checked(session: Session, data: bytes, name: str | None) -> tuple[str, list[str]]:
    scripts = session.services.scripts
    source = decode_source(data)
    compiled = scripts.check(source)
    existing = {info.name for info in await scripts.list(_account_id(session))}
    return source, missing_includes(compiled, existing, name)


def _ok(text: str, warnings: list[str]) -> Response:
    if not warnings:
        return Response(Status.OK, text)
    # RFC 5804 §1.3, §2.6: OK (WARNINGS) with the text for the user.
    return Response(
        Status.OK,
        "; ".join(f'include: script "{name}" does not exist (yet)' for name in warnings),
        "WARNINGS",
    )


async def _havespace(session: Session, command: Command) -> Response:
    # RFC 5804 §2.5: would a script of this size fit?
    await session.services.scripts.have_space(_account_id(session), _name(command, 0), command.number(1))
    return Response(Status.OK, "Putscript would succeed")


async def _putscript(session: Session, command: Command) -> Response:
    name = _name(command, 0)
    scripts = session.services.scripts
    source, warnings = await _checked(session, command.string(1), name)
    # RFC 5804 §2.6: a script that does not compile is refused and nothing changes.
    await scripts.put(_account_id(session), name, source)
    session.conn.log.info("managesieve putscript", script=name, size=len(command.string(1)))
    return _ok("Putscript completed", warnings)


async def _checkscript(session: Session, command: Command) -> Response:
    # RFC 5804 §2.12: as PUTSCRIPT, without storing.
    _, warnings = await _checked(session, command.string(0), None)
    return _ok("Script is valid", warnings)


async def _listscripts(session: Session, command: Command) -> Response:
    # RFC 5804 §2.7: one line per script, ACTIVE after the active one.
    for info in await session.services.scripts.list(_account_id(session)):
        session.send(script_line(info.name, info.active))
    return Response(Status.OK, "Listscripts completed")


async def _setactive(session: Session, command: Command) -> Response:
    name = _name(command, 0)
    # RFC 5804 §2.8: the empty name deactivates whatever is active.
    await session.services.scripts.activate(_account_id(session), name or None)
    return Response(Status.OK, "Setactive completed" if name else "No script is active now")


async def _getscript(session: Session, command: Command) -> Response:
    script = await session.services.scripts.get(_account_id(session), _name(command, 0))
    # RFC 5804 §2.9: the script as a string, then OK. Always a literal, as Dovecot sends it: some
    # clients (sievelib) take a quoted script with its quotes.
    session.send(encode_literal(script.source.encode("utf-8")) + b"\r\n")
    return Response(Status.OK, "Getscript completed")


async def _deletescript(session: Session, command: Command) -> Response:
    # RFC 5804 §2.10: NO (ACTIVE) for the active script (the service says so).
    await session.services.scripts.delete(_account_id(session), _name(command, 0))
    return Response(Status.OK, "Deletescript completed")


async def _renamescript(session: Session, command: Command) -> Response:
    # RFC 5804 §2.11: NONEXISTENT / ALREADYEXISTS from the service; an active script stays active.
    await session.services.scripts.rename(_account_id(session), _name(command, 0), _name(command, 1))
    return Response(Status.OK, "Renamescript completed")


_COMMANDS = {
    "HAVESPACE": _havespace,
    "PUTSCRIPT": _putscript,
    "CHECKSCRIPT": _checkscript,
    "LISTSCRIPTS": _listscripts,
    "SETACTIVE": _setactive,
    "GETSCRIPT": _getscript,
    "DELETESCRIPT": _deletescript,
    "RENAMESCRIPT": _renamescript,
}

havespace = putscript = checkscript = listscripts = setactive = getscript = deletescript = renamescript = (
    _guarded
)
