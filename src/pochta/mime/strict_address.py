"""A strict reader of From: and Sender: for the submission ownership check: the grammar, nothing else.

``pochta.mime.address`` reads address lists the way a mail reader must: it accepts the obsolete
syntax of RFC 5322 §4.4 and recovers what a person would see from broken fields (ENVELOPE, search).
Recovery is right for display and wrong for a security decision: whatever text is left over, or
recovered, may be what another client shows as the author. So the submission check reads the
fields here instead, and anything that is not exactly the grammar is an error:

- RFC 5322 §3.6.2: ``from = "From:" mailbox-list``, ``sender = "Sender:" mailbox`` (no groups,
  no empty list elements);
- RFC 5322 §3.4: ``mailbox = name-addr / addr-spec``, ``angle-addr = [CFWS] "<" addr-spec ">" [CFWS]``;
- RFC 5322 §3.4.1: ``local-part = dot-atom / quoted-string``, ``domain = dot-atom / domain-literal``;
  no CFWS inside a dot-atom, no obs-local-part, no obs-route, no obs-domain;
- RFC 5322 §3.2: quoted strings, comments and domain literals must be closed, and hold no control
  characters (obs-qtext, obs-ctext, obs-dtext are obsolete);
- RFC 6532 §3.2: UTF-8 is allowed where ASCII text is; text that is not UTF-8 is an error;
- RFC 2047 §5 (3): an encoded-word never appears in an addr-spec.

One obsolete form is accepted: a "." in an unquoted display name (RFC 5322 §4.1 obs-phrase,
``Dr. Alice <alice@example.org>``), which names no address. The reader is linear: one pass of
anchored token patterns whose alternatives cannot overlap, and a counted (not recursive) scan of
nested comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pochta.mime.encoded_words import decode_encoded_words

# RFC 5322 §3.2.3 atext, with UTF8-non-ascii (RFC 6532 §3.2); U+FFFD is what bad UTF-8 becomes.
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\ufffc\ufffe-\U0010ffff"
_WSP = re.compile(r"[ \t]+")
_ATOM = re.compile(rf"[{_ATEXT}]+")
# RFC 5322 §3.2.4: qtext = %d33 / %d35-91 / %d93-126, quoted-pair = "\" (VCHAR / WSP), plus FWS.
_QUOTED = re.compile(r'"((?:[ \t!#-\[\]-~\u0080-\ufffc\ufffe-\U0010ffff]|\\[ \t!-~\u0080-\U0010ffff])*)"')
# RFC 5322 §3.4.1: dtext = %d33-90 / %d94-126, plus FWS.
_LITERAL = re.compile(r"\[[ \t!-Z^-~]*\]")
# RFC 5322 §3.2.2: ctext = %d33-39 / %d42-91 / %d93-126 (+ UTF-8), plus FWS.
_CTEXT = re.compile(r"[ \t!-'*-\[\]-~\u0080-\ufffc\ufffe-\U0010ffff]+")
_QUOTED_PAIR = re.compile(r"\\(.)")
_SPECIALS = "<>@,."  # ";" and ":" belong to groups, which From: and Sender: do not allow
_ENCODED_WORD_MARK = "=?"


class StrictAddressError(ValueError):
    """The field is not exactly RFC 5322 grammar; ``reason`` says where it breaks."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StrictMailbox:
    """One mailbox as written: ``local`` without quotes, ``name`` with encoded words decoded."""

    name: str | None
    local: str
    domain: str

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}"


@dataclass(frozen=True, slots=True)
class StrictField:
    """A parsed From: or Sender:: its mailboxes, and every text a reader may show as a name
    (display names and comments, encoded words decoded)."""

    mailboxes: tuple[StrictMailbox, ...]
    shown: tuple[str, ...]


@dataclass(slots=True)
class _Tok:
    kind: str  # "atom", "qs", "dl" or one of _SPECIALS
    value: str
    space: bool  # whitespace or a comment precedes it


def _comment_end(text: str, pos: int, shown: list[str]) -> int:
    """``text[pos]`` is "("; the offset after its matching ")". Nesting is counted, not recursed."""
    depth, start, end = 0, pos, len(text)
    while pos < end:
        char = text[pos]
        if char == "(":
            depth += 1
            pos += 1
        elif char == ")":
            depth -= 1
            pos += 1
            if depth == 0:
                inner = _QUOTED_PAIR.sub(r"\1", text[start + 1 : pos - 1])
                shown.append(decode_encoded_words(inner))
                return pos
        elif char == "\\":
            following = text[pos + 1 : pos + 2]
            if not following or (following < " " and following != "\t") or following == "\x7f":
                raise StrictAddressError("bad quoted-pair in a comment")  # "\" (VCHAR / WSP)
            pos += 2
        else:
            found = _CTEXT.match(text, pos)
            if found is None:
                raise StrictAddressError(f"character {char!r} not allowed in a comment")
            pos = found.end()
    raise StrictAddressError("unterminated comment")


def _tokens(text: str, shown: list[str]) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos, end, space = 0, len(text), False
    while pos < end:
        char = text[pos]
        blank = _WSP.match(text, pos)
        if blank is not None:
            pos, space = blank.end(), True
            continue
        if char == "(":
            pos = _comment_end(text, pos, shown)
            space = True
            continue
        if char == '"':
            found = _QUOTED.match(text, pos)
            if found is None:
                raise StrictAddressError("unterminated or malformed quoted string")
            tokens.append(_Tok("qs", _QUOTED_PAIR.sub(r"\1", found.group(1)), space))
            pos = found.end()
        elif char == "[":
            found = _LITERAL.match(text, pos)
            if found is None:
                raise StrictAddressError("unterminated or malformed domain literal")
            tokens.append(_Tok("dl", found.group(0), space))
            pos = found.end()
        elif char in _SPECIALS:
            tokens.append(_Tok(char, char, space))
            pos += 1
        else:
            found = _ATOM.match(text, pos)
            if found is None:
                raise StrictAddressError(f"character {char!r} not allowed here")
            tokens.append(_Tok("atom", found.group(0), space))
            pos = found.end()
        space = False
    return tokens


class _Reader:
    def __init__(self, tokens: list[_Tok], shown: list[str]) -> None:
        self.toks = tokens
        self.shown = shown
        self.i = 0

    def kind(self) -> str:
        return self.toks[self.i].kind if self.i < len(self.toks) else ""

    def describe(self) -> str:
        return repr(self.toks[self.i].value) if self.i < len(self.toks) else "the end"

    # RFC 5322 §3.4: mailbox-list = mailbox *("," mailbox)
    def mailbox_list(self) -> list[StrictMailbox]:
        if not self.toks:
            raise StrictAddressError("no address")
        found = [self.mailbox()]
        while self.i < len(self.toks):
            if self.kind() != ",":
                raise StrictAddressError(f"unexpected {self.describe()} after an address")
            self.i += 1
            found.append(self.mailbox())
        return found

    # RFC 5322 §3.4: mailbox = name-addr / addr-spec ; name-addr = [display-name] angle-addr
    def mailbox(self) -> StrictMailbox:
        start = self.i
        stop = start
        while stop < len(self.toks) and self.toks[stop].kind in ("atom", "qs", "."):
            stop += 1
        if stop < len(self.toks) and self.toks[stop].kind == "<":
            phrase = self.toks[start:stop]
            if phrase and phrase[0].kind == ".":
                raise StrictAddressError("display name starts with '.'")
            name = _phrase(phrase) if phrase else None
            if name is not None:
                self.shown.append(name)
            self.i = stop + 1
            local, domain = self.addr_spec()
            if self.kind() != ">":
                raise StrictAddressError(f"expected '>', found {self.describe()}")
            self.i += 1
            return StrictMailbox(name, local, domain)
        local, domain = self.addr_spec()
        return StrictMailbox(None, local, domain)

    # RFC 5322 §3.4.1: addr-spec = local-part "@" domain
    def addr_spec(self) -> tuple[str, str]:
        if self.kind() == "qs":
            local = self.toks[self.i].value
            self.i += 1
        elif self.kind() == "atom":
            local = self.dot_atom("local part")
        else:
            raise StrictAddressError(f"expected an address, found {self.describe()}")
        if self.kind() != "@":
            raise StrictAddressError(f"expected '@', found {self.describe()}")
        self.i += 1
        if self.kind() == "dl":
            domain = self.toks[self.i].value
            self.i += 1
        elif self.kind() == "atom":
            domain = self.dot_atom("domain")
        else:
            raise StrictAddressError(f"expected a domain, found {self.describe()}")
        if _ENCODED_WORD_MARK in local or _ENCODED_WORD_MARK in domain:
            # RFC 2047 §5 (3): an encoded-word MUST NOT appear in any portion of an addr-spec
            raise StrictAddressError("encoded word in an address")
        return local, domain

    # RFC 5322 §3.2.3: dot-atom-text = 1*atext *("." 1*atext), with no CFWS inside
    def dot_atom(self, what: str) -> str:
        parts = [self.toks[self.i].value]
        self.i += 1
        while self.kind() == "." and not self.toks[self.i].space:
            self.i += 1
            if self.kind() != "atom" or self.toks[self.i].space:
                raise StrictAddressError(f"{what} ends with '.' or has an empty label")
            parts.append(self.toks[self.i].value)
            self.i += 1
        if self.kind() == "." or (self.kind() == "atom" and not self.toks[self.i].space):
            raise StrictAddressError(f"malformed {what}")
        return ".".join(parts)


def _phrase(tokens: list[_Tok]) -> str:
    out: list[str] = []
    for tok in tokens:
        if tok.space and out:
            out.append(" ")
        out.append(tok.value)
    return decode_encoded_words("".join(out))


def _read(text: str) -> tuple[list[StrictMailbox], list[str]]:
    if "\ufffd" in text:
        raise StrictAddressError("not UTF-8")  # RFC 6532 §3: header text is UTF-8
    shown: list[str] = []
    reader = _Reader(_tokens(text, shown), shown)
    return reader.mailbox_list(), shown


def parse_mailbox_list_strict(text: str) -> StrictField:
    """RFC 5322 §3.6.2 From: one or more mailboxes, or ``StrictAddressError``."""
    found, shown = _read(text)
    return StrictField(tuple(found), tuple(shown))


def parse_mailbox_strict(text: str) -> StrictField:
    """RFC 5322 §3.6.2 Sender: exactly one mailbox, or ``StrictAddressError``."""
    found, shown = _read(text)
    if len(found) != 1:
        raise StrictAddressError("Sender: names more than one mailbox")
    return StrictField(tuple(found), tuple(shown))
