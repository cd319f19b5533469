"""The MTA's side of one milter conversation: what to send at each step and which answers are
allowed, after the negotiation (SMFIC_OPTNEG) decided what the milter skips and may change.

Each step method returns a ``Send``: the octets (empty when the milter asked to skip the step)
and whether an answer is awaited (not for steps the milter marked "no reply", SMFIP_NR_*).
``check`` validates an answer against the step it answers: modifications only at end of message
and only those the milter asked for at negotiation, SKIP only for a body chunk.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pochta.proto.milter._replies import (
    Accept,
    AddHeader,
    AddRecipient,
    ChangeHeader,
    ChangeSender,
    Continue,
    DeleteRecipient,
    Discard,
    InsertHeader,
    Negotiated,
    Progress,
    Quarantine,
    Reject,
    ReplaceBody,
    Reply,
    ReplyCode,
    Shutdown,
    Skip,
    Tempfail,
)
from pochta.proto.milter._wire import (
    ACTIONS_OFFERED,
    BODY_CHUNK,
    MILTER_VERSION,
    STEPS_OFFERED,
    Action,
    Command,
    MilterProtocolError,
    Stage,
    Step,
    frame,
)

__all__ = ["MilterSession", "Send"]

_STAGE_COMMAND = {
    Stage.CONNECT: Command.CONNECT,
    Stage.HELO: Command.HELO,
    Stage.ENVFROM: Command.MAIL,
    Stage.ENVRCPT: Command.RCPT,
    Stage.DATA: Command.DATA,
    Stage.EOH: Command.EOH,
    Stage.EOM: Command.BODYEOB,
}
# Which modification needs which negotiated action (mfdef.h SMFIF_*).
_NEEDS: dict[type, Action] = {
    AddHeader: Action.ADDHDRS,
    InsertHeader: Action.ADDHDRS,
    ChangeHeader: Action.CHGHDRS,
    ChangeSender: Action.CHGFROM,
    DeleteRecipient: Action.DELRCPT,
    ReplaceBody: Action.CHGBODY,
    Quarantine: Action.QUARANTINE,
}
_VERDICTS = (Accept, Continue, Reject, Tempfail, Discard, ReplyCode)


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes
    reply: bool  # an answer is awaited


def _cstr(text: str | bytes) -> bytes:
    """A NUL-terminated string. A NUL inside (a hostile header value) would end it early and
    shift every later string: the milter sees a space there instead."""
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return raw.replace(b"\0", b" ") + b"\0"


def _bare(name: str) -> str:
    return name[1:-1] if name.startswith("{") and name.endswith("}") else name


class MilterSession:
    """One conversation: ``negotiation()`` first, then the steps in SMTP order."""

    def __init__(self, actions: Action = ACTIONS_OFFERED, steps: Step = STEPS_OFFERED) -> None:
        self.offered_actions = actions
        self.offered_steps = steps
        self.negotiated: Negotiated | None = None
        self.body_skipped = False  # the milter answered SKIP to a body chunk

    # -- negotiation -------------------------------------------------------------------------

    def negotiation(self) -> bytes:
        """SMFIC_OPTNEG: version, the actions this MTA carries out, the steps it can leave out."""
        return frame(
            Command.OPTNEG, struct.pack("!III", MILTER_VERSION, self.offered_actions, self.offered_steps)
        )

    def negotiate(self, reply: Reply) -> Negotiated:
        """The milter's answer to SMFIC_OPTNEG; it may ask for nothing this MTA did not offer."""
        if not isinstance(reply, Negotiated):
            raise MilterProtocolError(f"expected the OPTNEG answer, got {type(reply).__name__}")
        if not 2 <= reply.version <= MILTER_VERSION:
            raise MilterProtocolError(f"milter protocol version {reply.version} not spoken")
        if reply.actions & ~self.offered_actions:
            raise MilterProtocolError(f"milter asks for actions not offered: {reply.actions!r}")
        if reply.steps & ~self.offered_steps:
            raise MilterProtocolError(f"milter asks for protocol steps not offered: {reply.steps!r}")
        self.negotiated = reply
        return reply

    @property
    def _steps(self) -> Step:
        if self.negotiated is None:
            raise MilterProtocolError("step before negotiation")
        return self.negotiated.steps

    def _step(self, skip: Step, no_reply: Step, command: Command, data: bytes = b"") -> Send:
        steps = self._steps
        if steps & skip:
            return Send(b"", False)
        return Send(frame(command, data), not steps & no_reply)

    # -- the steps ---------------------------------------------------------------------------

    def macros(self, stage: Stage, values: Mapping[str, str]) -> bytes:
        """SMFIC_MACRO for ``stage``: the macros the milter asked for at negotiation (all of
        ``values`` when it named none); nothing for a step it skips."""
        if self._skips(stage):
            return b""
        wanted = self.negotiated.macros.get(stage) if self.negotiated else None
        chosen = {
            name: value
            for name, value in values.items()
            if wanted is None or _bare(name) in {_bare(w) for w in wanted}
        }
        if not chosen:
            return b""
        payload = b"".join(_cstr(name) + _cstr(value) for name, value in chosen.items())
        return frame(Command.MACRO, _STAGE_COMMAND[stage].value + payload)

    def _skips(self, stage: Stage) -> bool:
        skip = {
            Stage.CONNECT: Step.NOCONNECT,
            Stage.HELO: Step.NOHELO,
            Stage.ENVFROM: Step.NOMAIL,
            Stage.ENVRCPT: Step.NORCPT,
            Stage.DATA: Step.NODATA,
            Stage.EOH: Step.NOEOH,
        }.get(stage)
        return skip is not None and bool(self._steps & skip)

    def connect(self, hostname: str, address: str | None, port: int = 0) -> Send:
        """SMFIC_CONNECT: the client's name, then family ``4``/``6`` with port and address, ``L``
        for a UNIX socket (path as the address), or ``U`` (unknown: nothing after)."""
        if address is None:
            data = _cstr(hostname) + b"U"
        elif address.startswith("/") or address == "unix":
            data = _cstr(hostname) + b"L" + struct.pack("!H", 0) + _cstr(address)
        else:
            family = b"6" if ":" in address else b"4"
            data = _cstr(hostname) + family + struct.pack("!H", port & 0xFFFF) + _cstr(address)
        return self._step(Step.NOCONNECT, Step.NR_CONN, Command.CONNECT, data)

    def helo(self, name: str) -> Send:
        return self._step(Step.NOHELO, Step.NR_HELO, Command.HELO, _cstr(name))

    def mail(self, args: Sequence[str]) -> Send:
        """SMFIC_MAIL: ``<sender>`` then each ESMTP parameter, one string each."""
        return self._step(Step.NOMAIL, Step.NR_MAIL, Command.MAIL, b"".join(_cstr(a) for a in args))

    def rcpt(self, args: Sequence[str]) -> Send:
        return self._step(Step.NORCPT, Step.NR_RCPT, Command.RCPT, b"".join(_cstr(a) for a in args))

    def data(self) -> Send:
        return self._step(Step.NODATA, Step.NR_DATA, Command.DATA)

    def header(self, name: str, value: str) -> Send:
        """SMFIC_HEADER. ``value`` as it follows the colon, unfolded lines joined by LF (as
        libmilter milters expect). Without SMFIP_HDR_LEADSPC the one leading space is not sent."""
        if not self._steps & Step.HDR_LEADSPC and value.startswith(" "):
            value = value[1:]
        return self._step(Step.NOHDRS, Step.NR_HDR, Command.HEADER, _cstr(name) + _cstr(value))

    def end_of_header(self) -> Send:
        return self._step(Step.NOEOH, Step.NR_EOH, Command.EOH)

    def body(self, chunk: bytes) -> Send:
        """SMFIC_BODY: one piece of at most 65535 octets (the caller cuts); nothing once the
        milter answered SKIP."""
        if len(chunk) > BODY_CHUNK:
            raise ValueError("body chunk over 65535 octets")
        if self.body_skipped:
            return Send(b"", False)
        return self._step(Step.NOBODY, Step.NR_BODY, Command.BODY, chunk)

    def end_of_message(self) -> Send:
        """SMFIC_BODYEOB: always answered (modifications, then a verdict)."""
        self._steps  # noqa: B018 - negotiated first
        return Send(frame(Command.BODYEOB), True)

    def abort(self) -> bytes:
        """SMFIC_ABORT: the message is off; the connection goes on. Never answered."""
        self.body_skipped = False
        return frame(Command.ABORT)

    def quit(self) -> bytes:
        return frame(Command.QUIT)

    # -- answers -----------------------------------------------------------------------------

    def check(self, reply: Reply, *, at_eom: bool = False, at_body: bool = False) -> Reply:
        """``reply`` if it may answer the step (``at_eom``: end of message, ``at_body``: a body
        chunk), else MilterProtocolError."""
        if isinstance(reply, Negotiated):
            raise MilterProtocolError("OPTNEG answer after negotiation")
        if isinstance(reply, Skip):
            if not at_body or not self._steps & Step.SKIP:
                raise MilterProtocolError("SKIP outside the body or not negotiated")
            self.body_skipped = True
            return reply
        if isinstance(reply, (*_VERDICTS, Progress, Shutdown)):
            return reply
        if not at_eom:
            raise MilterProtocolError(f"{type(reply).__name__} before end of message")
        negotiated = self.negotiated
        assert negotiated is not None
        if isinstance(reply, AddRecipient):
            need = Action.ADDRCPT_PAR if reply.args is not None else Action.ADDRCPT
            if not negotiated.actions & (need | Action.ADDRCPT_PAR):
                raise MilterProtocolError("ADDRCPT not negotiated")
            return reply
        if not negotiated.actions & _NEEDS[type(reply)]:
            raise MilterProtocolError(f"{type(reply).__name__} not negotiated")
        return reply
