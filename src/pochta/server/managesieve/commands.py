"""The ManageSieve command handlers by name (the names of ``proto.managesieve.COMMANDS``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pochta.proto.managesieve import COMMANDS, Command, Response
from pochta.server.managesieve import auth, scripts
from pochta.server.managesieve.auth import capabilities
from pochta.server.managesieve.session import Session

__all__ = ["HANDLERS", "capabilities"]

Handler = Callable[[Session, Command], Awaitable[Response]]

HANDLERS: dict[str, Handler] = {
    "CAPABILITY": auth.capability,
    "LOGOUT": auth.logout,
    "NOOP": auth.noop,
    "AUTHENTICATE": auth.authenticate,
    "STARTTLS": auth.starttls,
    "UNAUTHENTICATE": auth.unauthenticate,
    "HAVESPACE": scripts.havespace,
    "PUTSCRIPT": scripts.putscript,
    "CHECKSCRIPT": scripts.checkscript,
    "LISTSCRIPTS": scripts.listscripts,
    "SETACTIVE": scripts.setactive,
    "GETSCRIPT": scripts.getscript,
    "DELETESCRIPT": scripts.deletescript,
    "RENAMESCRIPT": scripts.renamescript,
}
assert HANDLERS.keys() == COMMANDS.keys()  # one table of commands, each with its handler
