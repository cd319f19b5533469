"""The milter protocol's words: command and reply codes, action and protocol flags, macro stages,
and packet framing (a 4-byte network-order length that counts the command byte, then the command
byte, then data).

There is no RFC for milter: the names are libmilter's (``mfdef.h``: SMFIC_* commands the MTA sends,
SMFIR_* replies the milter sends, SMFIF_* actions, SMFIP_* protocol steps; ``mfapi.h``: SMFIM_*
macro stages), version 6 as Sendmail 8.14 and Postfix 2.6+ speak it.
"""

from __future__ import annotations

import enum
import struct

__all__ = [
    "MILTER_VERSION",
    "Action",
    "Command",
    "MilterProtocolError",
    "Stage",
    "Step",
    "frame",
]

# mfdef.h SMFI_PROT_VERSION: the version this MTA speaks and asks for.
MILTER_VERSION = 6


class MilterProtocolError(Exception):
    """A packet the milter protocol does not allow: the conversation cannot go on."""


class Command(bytes, enum.Enum):
    """mfdef.h SMFIC_*: what the MTA sends."""

    ABORT = b"A"
    BODY = b"B"
    CONNECT = b"C"
    MACRO = b"D"
    BODYEOB = b"E"
    HELO = b"H"
    HEADER = b"L"
    MAIL = b"M"
    EOH = b"N"
    OPTNEG = b"O"
    QUIT = b"Q"
    RCPT = b"R"
    DATA = b"T"


class Action(enum.IntFlag):
    """mfdef.h SMFIF_*: the modifications a milter may make at end of message."""

    ADDHDRS = 0x01
    CHGBODY = 0x02
    ADDRCPT = 0x04
    DELRCPT = 0x08
    CHGHDRS = 0x10
    QUARANTINE = 0x20
    CHGFROM = 0x40
    ADDRCPT_PAR = 0x80
    SETSYMLIST = 0x100


class Step(enum.IntFlag):
    """mfdef.h SMFIP_*: steps a milter asks the MTA to leave out (NO*), steps it will not answer
    (NR_*: "no reply"), and how header values travel (HDR_LEADSPC)."""

    NOCONNECT = 0x01
    NOHELO = 0x02
    NOMAIL = 0x04
    NORCPT = 0x08
    NOBODY = 0x10
    NOHDRS = 0x20
    NOEOH = 0x40
    NR_HDR = 0x80
    NOUNKNOWN = 0x100
    NODATA = 0x200
    SKIP = 0x400
    RCPT_REJ = 0x800
    NR_CONN = 0x1000
    NR_HELO = 0x2000
    NR_MAIL = 0x4000
    NR_RCPT = 0x8000
    NR_DATA = 0x10000
    NR_UNKN = 0x20000
    NR_EOH = 0x40000
    NR_BODY = 0x80000
    HDR_LEADSPC = 0x100000
    MDS_256K = 0x10000000
    MDS_1M = 0x20000000


class Stage(enum.IntEnum):
    """mfapi.h SMFIM_*: the stages a macro list (SMFIR_SETSYMLIST / smfi_setsymlist) names."""

    CONNECT = 0
    HELO = 1
    ENVFROM = 2
    ENVRCPT = 3
    DATA = 4
    EOM = 5
    EOH = 6


# Every action this MTA carries out, and every step it can leave out or go without a reply for.
# RCPT_REJ (send refused recipients too) and the unknown-command step are not offered: pochta
# never passes a refused recipient or an unknown command to a milter. MDS_* are not offered
# either: body chunks stay at libmilter's 65535.
ACTIONS_OFFERED = Action(0x1FF)
STEPS_OFFERED = (
    Step.NOCONNECT
    | Step.NOHELO
    | Step.NOMAIL
    | Step.NORCPT
    | Step.NOBODY
    | Step.NOHDRS
    | Step.NOEOH
    | Step.NR_HDR
    | Step.NOUNKNOWN
    | Step.NODATA
    | Step.SKIP
    | Step.NR_CONN
    | Step.NR_HELO
    | Step.NR_MAIL
    | Step.NR_RCPT
    | Step.NR_DATA
    | Step.NR_UNKN
    | Step.NR_EOH
    | Step.NR_BODY
    | Step.HDR_LEADSPC
)

# libmilter MILTER_CHUNK_SIZE: a BODY packet carries at most this many octets.
BODY_CHUNK = 65535

_LENGTH = struct.Struct("!I")


def frame(command: bytes, data: bytes = b"") -> bytes:
    """One packet: length (command byte included), command, data."""
    return _LENGTH.pack(len(data) + 1) + command + data
