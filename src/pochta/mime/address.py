"""Our own strict address parsers: RFC 5322 §3.4 address lists (with RFC 6532 UTF-8 and the
obsolete forms of §4.4) and RFC 5321 §4.1.2 SMTP paths (with RFC 6531 UTF-8).

Not ``email.utils.parseaddr``/``getaddresses``: those guess, and a guess is a security bug
(CVE-2023-27043: ``"a@b"@c`` or ``a@b@c`` yielding the wrong address). Here an element that
does not match the grammar becomes an :class:`InvalidAddress` carrying its text and a reason;
no mailbox is ever extracted from it. Parsing is iterative (comments nest, but are counted,
not recursed into) and linear in the input.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass

from pochta.mime.encoded_words import decode_encoded_words

MISSING_DOMAIN = "missing @domain"

# RFC 5322 §3.2.3 atext, extended with UTF8-non-ascii by RFC 6532 §3.2.
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff"
_TOKEN = re.compile(
    rf"""
    (?P<ws>[ \t\r\n]+)
   |(?P<atom>[{_ATEXT}]+)
   |"(?P<qs>(?:[^"\\]|\\.)*)"
   |(?P<dl>\[(?:[^\[\]\\]|\\.)*\])
   |(?P<special>[<>@,;:.])
   |(?P<comment>\()
    """,
    re.X | re.S,
)
_DOT_ATOM = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*\Z")
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_COMMENT_SPECIAL = re.compile(r"[()\\]")


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One mailbox. ``local`` is the semantic local part (quotes and quoted-pairs removed)."""

    name: str | None  # display name, encoded words decoded (RFC 2047 §5 (3))
    local: str
    domain: str  # as written; a domain literal keeps its brackets
    route: tuple[str, ...] = ()  # obs-route domains (RFC 5322 §4.4), without "@"
    raw_name: str | None = None  # display name as written, quotes removed, encoded words kept
    comment: str | None = None  # first comment after an addr-spec, e.g. "a@b (Name)"

    @property
    def local_part_text(self) -> str:
        """The local part in RFC 5322 form: a dot-atom, or a quoted string when it must be."""
        return quote_local_part(self.local)

    @property
    def addr_spec(self) -> str:
        return f"{self.local_part_text}@{self.domain}"


@dataclass(frozen=True, slots=True)
class InvalidAddress:
    """An element of an address list that does not match the grammar; never a guessed mailbox."""

    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class Group:
    """RFC 5322 §3.4 group: ``display-name ":" [group-list] ";"``."""

    name: str
    raw_name: str
    members: tuple[Mailbox | InvalidAddress, ...]


AddressItem = Mailbox | Group | InvalidAddress


def quote_local_part(local: str) -> str:
    if _DOT_ATOM.match(local):
        return local
    return '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(slots=True)
class _Tok:
    kind: str  # "atom", "qs", "dl", or one of the specials "<>@,;:."
    value: str
    start: int
    end: int
    space: bool  # whitespace or a comment precedes it


class _Fail(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _skip_comment(text: str, pos: int) -> int:
    """``text[pos]`` is "("; return the offset after the matching ")" or -1 if unterminated."""
    depth = 0
    while True:
        special = _COMMENT_SPECIAL.search(text, pos)
        if special is None:
            return -1
        pos = special.end()
        char = special.group(0)
        if char == "\\":
            pos += 1
        elif char == "(":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return pos


def _tokenize(text: str) -> tuple[list[_Tok], list[tuple[int, str]]]:
    """Tokens and comments (offset, inner text). An unmatched character yields an "err" token;
    an unterminated quoted string, comment or literal makes the rest of the text one "err"."""
    tokens: list[_Tok] = []
    comments: list[tuple[int, str]] = []
    pos, end, space = 0, len(text), False
    match = _TOKEN.match
    while pos < end:
        found = match(text, pos)
        if found is None:
            char = text[pos]
            stop = end if char in '"[' else pos + 1
            tokens.append(_Tok("err", text[pos:stop], pos, stop, space))
            pos, space = stop, False
            continue
        kind = found.lastgroup
        if kind == "ws":
            space = True
        elif kind == "comment":
            close = _skip_comment(text, pos)
            if close < 0:
                tokens.append(_Tok("err", text[pos:], pos, end, space))
                break
            comments.append((pos, text[pos + 1 : close - 1]))
            space = True
            pos = close
            continue
        elif kind == "qs":
            value = found.group("qs")
            if "\\" in value:
                value = _QUOTED_PAIR.sub(r"\1", value)
            tokens.append(_Tok("qs", value, pos, found.end(), space))
            space = False
        elif kind == "special":
            tokens.append(_Tok(found.group(0), found.group(0), pos, found.end(), space))
            space = False
        else:
            assert kind is not None
            tokens.append(_Tok(kind, found.group(0), pos, found.end(), space))
            space = False
        pos = found.end()
    return tokens, comments


def _phrase_text(tokens: list[_Tok]) -> str:
    """A phrase as written with quotes removed and whitespace runs made single spaces. A quoted
    string is a word of its own (RFC 5322 §3.2.5 phrase = 1*word), so ``"Joe"Smith`` reads
    "Joe Smith", as Dovecot shows it; atoms and dots written together stay together."""
    out: list[str] = []
    previous = ""
    for tok in tokens:
        if out and (tok.space or tok.kind == "qs" or previous == "qs"):
            out.append(" ")
        out.append(tok.value)
        previous = tok.kind
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks, self.comments = _tokenize(text)
        self.comment_starts = [start for start, _ in self.comments]
        self.i = 0

    def kind(self, index: int | None = None) -> str:
        index = self.i if index is None else index
        return self.toks[index].kind if index < len(self.toks) else ""

    def expect(self, kind: str, reason: str) -> None:
        if self.kind() != kind:
            raise _Fail(reason)
        self.i += 1

    def span(self, start: int, stop: int) -> str:
        """The text of the element of tokens ``start:stop``, with the comments around them (up to
        the separators), so that ``moderator (Moderator)`` keeps its comment."""
        if start >= stop:
            return ""
        begin = self.toks[start - 1].end if start > 0 else 0
        finish = self.toks[stop].start if stop < len(self.toks) else len(self.text)
        return self.text[begin:finish].strip()

    # RFC 5322 §3.4: address-list = (address *("," address)) / obs-addr-list
    def address_list(self) -> list[AddressItem]:
        items: list[AddressItem] = []
        count = len(self.toks)
        while self.i < count:
            if self.kind() == ",":  # RFC 5322 §4.4: obs-addr-list allows empty elements
                self.i += 1
                continue
            start = self.i
            try:
                item = self.address()
                if self.i < count and self.kind() != ",":
                    raise _Fail(f"unexpected {self.toks[self.i].value!r} after address")
                items.append(item)
            except _Fail as exc:
                stop = self.skip_element(start, group_ends=False)
                items.append(InvalidAddress(self.span(start, stop), exc.reason))
                self.i = stop
        return items

    def skip_element(self, start: int, *, group_ends: bool) -> int:
        """Index of the "," (or, inside a group, ";") ending the element that starts at start."""
        angle = group = False
        index = start
        while index < len(self.toks):
            kind = self.toks[index].kind
            if kind == "<":
                angle = True
            elif kind == ">":
                angle = False
            elif kind == ":" and not angle:
                group = True
            elif kind == ";" and not angle:
                if group_ends:
                    return index
                group = False
            elif kind == "," and not angle and not group:
                return index
            index += 1
        return index

    def phrase_end(self, start: int) -> int:
        index = start
        while self.kind(index) in ("atom", "qs", "."):
            index += 1
        return index

    # RFC 5322 §3.4: address = mailbox / group
    def address(self) -> AddressItem:
        start = self.i
        stop = self.phrase_end(start)
        if self.kind(stop) == ":":
            return self.group(start, stop)
        return self.mailbox()

    # mailbox = name-addr / addr-spec
    def mailbox(self) -> Mailbox:
        start = self.i
        stop = self.phrase_end(start)
        following = self.kind(stop)
        if following == "<":
            phrase = self.toks[start:stop]
            if phrase and phrase[0].kind == ".":
                raise _Fail("display name starts with '.'")
            self.i = stop
            return self.angle_addr(phrase)
        if following == "@":
            local = self.local_part(start, stop)
            self.i = stop + 1
            domain = self.domain()
            return Mailbox(None, local, domain, comment=self.comment_after(start))
        if following == ":":
            raise _Fail("group inside a group")
        if stop > start and following in ("", ",", ";"):
            raise _Fail(MISSING_DOMAIN)
        if following == "err":
            raise _Fail("malformed text")
        raise _Fail(f"unexpected {self.toks[stop].value!r}" if stop < len(self.toks) else "empty address")

    def comment_after(self, start: int) -> str | None:
        begin = self.toks[start].start
        limit = self.toks[self.i].start if self.i < len(self.toks) else len(self.text)
        index = bisect.bisect_left(self.comment_starts, begin)
        if index < len(self.comments) and self.comments[index][0] < limit:
            return self.comments[index][1].strip() or None
        return None

    # RFC 5322 §3.4: angle-addr = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr (§4.4)
    def angle_addr(self, phrase: list[_Tok]) -> Mailbox:
        self.expect("<", "expected '<'")
        route: list[str] = []
        if self.kind() in ("@", ","):
            # obs-route = obs-domain-list ":" ; obs-domain-list = *(CFWS / ",") "@" domain *("," ...)
            while self.kind() in ("@", ","):
                if self.kind() == "@":
                    self.i += 1
                    route.append(self.domain())
                else:
                    self.i += 1
            if not route:
                raise _Fail("empty route")
            self.expect(":", "expected ':' after route")
        start = self.i
        stop = self.phrase_end(start)
        if stop == start and self.kind(stop) == ">":
            raise _Fail("empty address <>")
        local = self.local_part(start, stop)
        self.i = stop
        self.expect("@", MISSING_DOMAIN)
        domain = self.domain()
        self.expect(">", "expected '>'")
        raw_name = _phrase_text(phrase) if phrase else None
        name = decode_encoded_words(raw_name) if raw_name is not None else None
        return Mailbox(name, local, domain, tuple(route), raw_name)

    # local-part = dot-atom / quoted-string / obs-local-part (word *("." word), RFC 5322 §4.4)
    def local_part(self, start: int, stop: int) -> str:
        if start == stop:
            raise _Fail("empty local part")
        words: list[str] = []
        expect_word = True
        for tok in self.toks[start:stop]:
            if expect_word:
                if tok.kind == ".":
                    raise _Fail("empty word in local part")
                words.append(tok.value)
            elif tok.kind != ".":
                raise _Fail("words in local part not separated by '.'")
            expect_word = not expect_word
        if expect_word:
            raise _Fail("local part ends with '.'")
        return ".".join(words)

    # domain = dot-atom / domain-literal / obs-domain (atom *("." atom))
    def domain(self) -> str:
        if self.kind() == "dl":
            self.i += 1
            return self.toks[self.i - 1].value
        labels: list[str] = []
        while True:
            if self.kind() != "atom":
                raise _Fail("malformed domain" if labels else MISSING_DOMAIN)
            labels.append(self.toks[self.i].value)
            self.i += 1
            if self.kind() != ".":
                return ".".join(labels)
            self.i += 1

    # group = display-name ":" [group-list] ";" [CFWS]
    def group(self, start: int, stop: int) -> Group:
        phrase = self.toks[start:stop]
        if not phrase or phrase[0].kind == ".":
            raise _Fail("group without a name")
        self.i = stop + 1
        members: list[Mailbox | InvalidAddress] = []
        while True:
            kind = self.kind()
            if kind == ";":
                self.i += 1
                break
            if kind == "":
                break  # missing ";" at the very end: unambiguous, tolerated
            if kind == ",":
                self.i += 1
                continue
            first = self.i
            try:
                member = self.mailbox()
                if self.kind() not in (",", ";", ""):
                    raise _Fail(f"unexpected {self.toks[self.i].value!r} after address")
                members.append(member)
            except _Fail as exc:
                last = self.skip_element(first, group_ends=True)
                members.append(InvalidAddress(self.span(first, last), exc.reason))
                self.i = last
        raw_name = _phrase_text(phrase)
        return Group(decode_encoded_words(raw_name), raw_name, tuple(members))


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a person reads in an element that is not a valid address: the display name, route,
    local part and domain that can be seen, each None when missing. ``domain_error`` is set when
    an angle-addr's domain is malformed or its ">" is missing (the local part may still stand)."""

    name: str | None
    route: str | None
    local: str | None
    domain: str | None
    domain_error: bool = False
    route_error: bool = False


def recover_address(text: str) -> Recovered:
    """Recover the parts of an invalid address-list element for display (IMAP ENVELOPE), never for
    a policy decision: ``Moderator-Address <moderator>`` gives the name and the local part,
    ``user.@host`` or ``foo@bar@baz`` give the local part and host they start with, text after
    a complete address is ignored. This follows the obsolete and broken forms that RFC 5322 §4
    asks readers to accept as far as they are unambiguous, and recovers what Dovecot recovers.
    Linear in the text; the strict parser above stays the only source of mailboxes."""
    parser = _Parser(text)
    toks = parser.toks
    end = parser.phrase_end(0)
    if parser.kind(end) == "<":  # name-addr: [display-name] "<" ...
        raw_name = _phrase_text(toks[:end]) or None
        return _recover_angle(parser, end + 1, raw_name)
    # addr-spec: local-part ["@" domain], or words that can only be a display name
    local, stop = _recover_local(parser, 0)
    if end and toks[0].kind == "qs" and parser.kind(stop) != "@":
        return Recovered(_phrase_text(toks[:end]), None, None, None)  # a quoted string is a name
    if parser.kind(stop) == "@":
        domain, ok, _ = _recover_domain(parser, stop + 1)
        return Recovered(None, None, local, domain if ok else None)
    # a comment after the local part names it, as "a@b (Name)" (one before it does not)
    begin = toks[0].start if toks else 0
    comment = next((inner.strip() for at, inner in parser.comments if at > begin and inner.strip()), None)
    if comment is not None:
        return Recovered(comment, None, local, None)
    if end > stop:  # "Someone Else": words that are a display name without an address
        return Recovered(_phrase_text(toks[:end]), None, None, None)
    return Recovered(None, None, local, None)


def _recover_local(parser: _Parser, index: int) -> tuple[str | None, int]:
    """A local part as written from token ``index``: words joined by "." (stray dots kept, RFC 5322
    §4.4 obs-local-part), ending before a word that follows another word. (text, next index)."""
    parts: list[str] = []
    previous = ""
    while parser.kind(index) in ("atom", "qs", "."):
        kind = parser.kind(index)
        if kind != "." and previous in ("atom", "qs"):
            break
        parts.append(parser.toks[index].value)
        previous = kind
        index += 1
    return ("".join(parts) or None), index


def _recover_domain(parser: _Parser, index: int) -> tuple[str | None, bool, int]:
    """The domain starting at token ``index``: (text, whether it is well-formed, next index)."""
    if parser.kind(index) == "dl":
        return parser.toks[index].value, True, index + 1
    labels: list[str] = []
    while parser.kind(index) == "atom":
        labels.append(parser.toks[index].value)
        index += 1
        if parser.kind(index) != "." or parser.kind(index + 1) != "atom":
            return ".".join(labels), parser.kind(index) != ".", index
        index += 1
    return (".".join(labels) or None), False, index


def _recover_angle(parser: _Parser, index: int, raw_name: str | None) -> Recovered:
    if parser.kind(index) in ("@", ","):  # RFC 5322 §4.4 obs-route
        hops: list[str] = []
        while parser.kind(index) in ("@", ","):
            if parser.kind(index) == "@":
                domain, ok, index = _recover_domain(parser, index + 1)
                if domain is None or not ok:
                    return Recovered(raw_name, None, None, None, route_error=True)
                hops.append("@" + domain)
            else:
                index += 1
        if parser.kind(index) != ":" or not hops:
            return Recovered(raw_name, None, None, None, route_error=True)
        route: str | None = ",".join(hops)
        index += 1
    else:
        route = None
    if parser.kind(index) == ">":
        return Recovered(raw_name, route, None, None)
    local, stop = _recover_local(parser, index)
    if local is None:
        return Recovered(raw_name, route, None, None, domain_error=True)
    if parser.kind(stop) != "@":
        error = parser.kind(stop) != ">"
        return Recovered(raw_name, route, local, None, domain_error=error)
    domain, ok, after = _recover_domain(parser, stop + 1)
    closed = ok and parser.kind(after) == ">"
    return Recovered(raw_name, route, local, domain if closed else None, domain_error=not closed)


# The common shapes of an address-list element, read without the tokenizer: ``local@domain``,
# ``<local@domain>``, ``Display Name <local@domain>`` (atoms and dots, not starting with one) and
# ``"Display Name" <local@domain>`` (a quoted string without quoted-pairs); dot-atoms only on both
# sides of the "@", no comments, no whitespace inside the address, one "," between elements. Each
# gives the Mailbox the grammar above gives it; anything else (groups, comments, literals, obsolete
# forms, errors) goes to the parser. A test holds the two to the same answers.
_WS = "[ \\t\\r\\n]"
_SIMPLE_ELEMENT = re.compile(
    rf"""{_WS}*
    (?:
        (?:(?P<phrase>[{_ATEXT}][{_ATEXT}.]*(?:{_WS}+[{_ATEXT}.]+)*)|"(?P<quoted>[^"\\]*)")?
        {_WS}*<(?P<alocal>[{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@(?P<adomain>[{_ATEXT}]+(?:\.[{_ATEXT}]+)*)>
      |
        (?P<local>[{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@(?P<domain>[{_ATEXT}]+(?:\.[{_ATEXT}]+)*)
    )
    {_WS}*(?:,|\Z)""",
    re.X,
)
_WS_RUN = re.compile(f"{_WS}+")


def _simple_list(text: str) -> tuple[Mailbox, ...] | None:
    """The mailboxes of a list whose every element has a common shape (``_SIMPLE_ELEMENT``), else
    None. What ``_Parser.address_list`` returns for such a list, in one regex match per element."""
    out: list[Mailbox] = []
    pos, end = 0, len(text)
    match = _SIMPLE_ELEMENT.match
    while True:
        found = match(text, pos)
        if found is None:
            return None
        local = found["local"]
        if local is not None:
            out.append(Mailbox(None, local, found["domain"]))
        else:
            raw_name = found["quoted"]
            if raw_name is None:
                raw_name = found["phrase"]
                if raw_name is not None:
                    raw_name = _WS_RUN.sub(" ", raw_name)  # as _phrase_text: one space between words
            name = decode_encoded_words(raw_name) if raw_name is not None else None
            out.append(Mailbox(name, found["alocal"], found["adomain"], (), raw_name))
        pos = found.end()
        if pos >= end:
            if text[pos - 1 : pos] == ",":
                return None  # a trailing empty element: the parser's business
            return tuple(out)


def parse_address_list(text: str) -> tuple[AddressItem, ...]:
    """Parse an RFC 5322 address-list (From, To, Cc, Bcc, Reply-To...) into its elements."""
    return _simple_list(text) or tuple(_Parser(text).address_list())


def parse_mailbox(text: str) -> Mailbox | InvalidAddress:
    """Exactly one mailbox (RFC 5322 §3.4 ``mailbox``), e.g. for Sender."""
    items = parse_address_list(text)
    if len(items) == 1 and isinstance(items[0], Mailbox | InvalidAddress):
        return items[0]
    return InvalidAddress(text.strip(), "expected exactly one mailbox")


def mailboxes(items: tuple[AddressItem, ...]) -> tuple[Mailbox, ...]:
    """The valid mailboxes of a parsed list, group members included, in order."""
    out: list[Mailbox] = []
    for item in items:
        if isinstance(item, Mailbox):
            out.append(item)
        elif isinstance(item, Group):
            out.extend(member for member in item.members if isinstance(member, Mailbox))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# RFC 5321 §4.1.2 paths


@dataclass(frozen=True, slots=True)
class SmtpPath:
    """A parsed MAIL FROM / RCPT TO path. For the null path ``<>`` local and domain are ""."""

    local: str  # semantic local part (quotes and quoted-pairs removed)
    domain: str  # lower-case A-label, or a normalised address literal "[1.2.3.4]"/"[IPv6:...]"
    route: tuple[str, ...] = ()  # source route domains (RFC 5321 §4.1.2 A-d-l), to be ignored
    quoted: bool = False  # the local part was a Quoted-string
    bracketed: bool = True  # the path had its angle brackets
    utf8: bool = False  # non-ASCII local part or domain (needs SMTPUTF8, RFC 6531)

    @property
    def is_null(self) -> bool:
        return not self.local and not self.domain

    @property
    def had_route(self) -> bool:
        return bool(self.route)

    @property
    def address(self) -> str:
        return "" if self.is_null else f"{quote_local_part(self.local)}@{self.domain}"


@dataclass(frozen=True, slots=True)
class SmtpPathError:
    reason: str


# RFC 5321 §4.1.2 Dot-string (RFC 6531 §3.3 adds UTF8-non-ascii to atext).
_SMTP_DOT_STRING = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*\Z")
# QcontentSMTP = qtextSMTP / quoted-pairSMTP ; qtextSMTP = %d32-33 / %d35-91 / %d93-126 (+UTF-8)
_SMTP_QUOTED = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*)"')
_LDH_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_GENERAL_LITERAL = re.compile(r"[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+\Z")  # RFC 5321 §4.1.3


def _idna_encode(domain: str) -> str:
    try:
        import idna
    except ImportError:  # pragma: no cover - idna is optional; stdlib IDNA 2003 then
        return domain.encode("idna").decode("ascii").lower()
    return idna.encode(domain, uts46=True).decode("ascii").lower()


def normalise_domain(domain: str) -> str | None:
    """RFC 5321 §4.1.2 Domain (RFC 6531 U-labels allowed) -> lower-case A-label, or None."""
    if not domain or len(domain) > 255:
        return None
    if not domain.isascii():
        try:
            domain = _idna_encode(domain)
        except (UnicodeError, ValueError):
            return None
    labels = domain.split(".")
    if any(_LDH_LABEL.match(label) is None for label in labels) or len(domain) > 253:
        return None
    return domain.lower()


def _address_literal(text: str) -> str | None:
    """RFC 5321 §4.1.3 address-literal (with brackets) -> normalised form, or None."""
    inner = text[1:-1]
    if inner[:5].lower() == "ipv6:":
        try:
            return f"[IPv6:{ipaddress.IPv6Address(inner[5:]).compressed}]"
        except ValueError:
            return None
    if inner[:1].isdigit():
        try:
            return f"[{ipaddress.IPv4Address(inner)}]"
        except ValueError:
            return None
    return text if _GENERAL_LITERAL.match(inner) else None


def parse_smtp_path(text: str | bytes) -> SmtpPath | SmtpPathError:
    """Parse an RFC 5321 §4.1.2 Path (``<local@domain>``, ``<@a,@b:local@domain>``, ``<>``).

    Relay tricks are parsed, not judged: a source route is returned in ``route`` (RFC 5321
    §4.1.2 says it is to be ignored, policy decides what to do), ``v%remote@ours`` and
    ``remote!v@ours`` give local parts containing "%" and "!".
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return SmtpPathError("path is not UTF-8")
    bracketed = text.startswith("<")
    if bracketed:
        if not text.endswith(">") or len(text) < 2:
            return SmtpPathError("missing '>'")
        inner = text[1:-1]
    else:
        inner = text
    if inner == "":
        return SmtpPath("", "", bracketed=bracketed) if bracketed else SmtpPathError("empty path")
    route: list[str] = []
    if inner.startswith("@"):
        colon = inner.find(":")
        if colon < 0:
            return SmtpPathError("source route without ':'")
        for hop in inner[:colon].split(","):  # A-d-l = At-domain *( "," At-domain )
            if not hop.startswith("@"):
                return SmtpPathError("malformed source route")
            normalised = normalise_domain(hop[1:])
            if normalised is None:
                return SmtpPathError("malformed domain in source route")
            route.append(normalised)
        inner = inner[colon + 1 :]
    quoted = inner.startswith('"')
    if quoted:
        match = _SMTP_QUOTED.match(inner)
        if match is None:
            return SmtpPathError("malformed quoted local part")
        local = _QUOTED_PAIR.sub(r"\1", match.group(1))
        rest = inner[match.end() :]
    else:
        at = inner.find("@")
        if at < 0:
            return SmtpPathError(MISSING_DOMAIN)
        local, rest = inner[:at], inner[at:]
        if _SMTP_DOT_STRING.match(local) is None:
            return SmtpPathError("malformed local part")
    if not rest.startswith("@"):
        return SmtpPathError(MISSING_DOMAIN)
    domain_text = rest[1:]
    if domain_text.startswith("["):
        domain = _address_literal(domain_text) if domain_text.endswith("]") else None
    else:
        domain = normalise_domain(domain_text)
    if domain is None:
        return SmtpPathError("malformed domain")
    utf8 = not (local.isascii() and domain_text.isascii())
    return SmtpPath(local, domain, tuple(route), quoted, bracketed, utf8)
