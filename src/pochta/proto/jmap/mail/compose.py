"""A message from an Email create (RFC 8621 section 4.6 Email/set): the rules a create must keep,
and the RFC 5322 octets (CRLF line ends) it stands for.

The body comes from ``bodyStructure``, or from ``textBody``/``htmlBody``/``attachments`` arranged as
mail clients arrange them: text and HTML in a multipart/alternative, the HTML with the inline
attachments it refers to by Content-ID in a multipart/related, and the other attachments with the
body in a multipart/mixed (an attachment without a disposition gets "attachment"), so that the
split of section 4.1.4 gives back the same three lists.
Text from ``bodyValues`` is written in UTF-8 (us-ascii when it is ASCII), as 7bit when it can be,
else quoted-printable or, when most of it is not ASCII, base64; blobs are 7bit when they are
7bit text already and base64 otherwise (message/* blobs 7bit or 8bit, RFC 2046 §5.2.1). Header
fields are written by ``header_encode``.

The metadata of a create (mailboxIds, keywords, receivedAt) is the server layer's; the blob store
is reached through ``blobs`` and the clock and host name are given, so this stays pure.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pochta.mime.text import scrub
from pochta.proto.jmap.mail.errors import BlobNotFound, InvalidArguments, InvalidProperties
from pochta.proto.jmap.mail.header_encode import MAX_LINE, BadValue, date_field, fold, write_field
from pochta.proto.jmap.mail.properties import CONVENIENCE, Form, HeaderProperty, parse_header_property


@dataclass(frozen=True, slots=True)
class Blob:
    """What the server has under a blobId: the octets and the media type they were uploaded as."""

    data: bytes
    type: str | None = None


BlobLookup = Callable[[str], Blob | None]

# RFC 8620 section 5.3: server-set properties may not be given on create; RFC 8621 section 4.6:
# nor may "headers".
_NOT_ON_CREATE = frozenset({"id", "blobId", "threadId", "size", "hasAttachment", "preview", "headers"})
_SERVER_LAYER = frozenset({"mailboxIds", "keywords", "receivedAt"})  # kept by the caller, not here
_BODY_LISTS = ("textBody", "htmlBody", "attachments")
_PART_KEYS = frozenset({
    "partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language",
    "location", "subParts",
})  # fmt: skip
# The header field each EmailBodyPart property is written into (two properties for one field are
# two ways to set it: RFC 8621 section 4.6 forbids that).
_FIELD_OF = {
    "type": "content-type",
    "charset": "content-type",
    "disposition": "content-disposition",
    "cid": "content-id",
    "language": "content-language",
    "location": "content-location",
}
# RFC 2045 §5.1 token (what a parameter value may be without quotes) and type/subtype.
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")
_MEDIA_TYPE = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+/[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")
_CID = re.compile(r"[^<>\s\x00-\x1f\x7f]+\Z")
_LOCATION = re.compile(r"[^\s\x00-\x1f\x7f]+\Z")
_PRINTABLE = re.compile(r"[ -~]*\Z")
_SECTION = 60  # characters per RFC 2231 continuation section


def _token() -> str:
    return secrets.token_hex(12)


@dataclass(eq=False, slots=True)
class _Entity:
    """One MIME entity to write: its header fields (each a whole CRLF-ended field), and either a
    leaf body (already transfer-encoded) or a multipart subtype and children."""

    fields: list[str] = field(default_factory=list)
    body: bytes = b""
    multipart: str | None = None  # the Content-Type of a multipart, written with its boundary
    children: list[_Entity] = field(default_factory=list)
    cid: str | None = None
    disposition: str | None = None
    names: frozenset[str] = frozenset()  # lower-case names of the header: properties given


class _Errors:
    def __init__(self) -> None:
        self.properties: list[str] = []
        self.reasons: list[str] = []
        self.missing: list[str] = []

    def add(self, path: str, reason: str) -> None:
        self.properties.append(path)
        self.reasons.append(f"{path}: {reason}")


def _header_property(key: str, errors: _Errors, path: str) -> HeaderProperty | None:
    try:
        prop = CONVENIENCE.get(key) or parse_header_property(key)
    except InvalidArguments as exc:  # RFC 8621 section 4.6: a forbidden form is invalid here
        errors.add(path, exc.description)
        return None
    return prop


def _write_headers(
    props: list[tuple[str, HeaderProperty, Any]], errors: _Errors, prefix: str
) -> tuple[list[str], dict[str, str]]:
    """The fields of header properties, and lower-case field name -> property path. Two properties
    for one field are both invalid (RFC 8621 section 4.6)."""
    fields: list[str] = []
    seen: dict[str, str] = {}
    for key, prop, value in props:
        path = prefix + key
        if prop.name in seen:
            errors.add(path, f"{prop.written} is set twice")
            errors.add(seen[prop.name], f"{prop.written} is set twice")
            continue
        seen[prop.name] = path
        values = value if prop.all else [value]
        if prop.all and not isinstance(value, list):
            errors.add(path, ":all takes a list")
            continue
        try:
            fields.extend(write_field(prop.written, prop.form, item) for item in values if item is not None)
        except BadValue as exc:
            errors.add(path, str(exc))
    return fields, seen


def _param(name: str, value: str) -> str:
    """One parameter: a token, a quoted string, or RFC 2231 §4 encoded (with §3 continuations
    when long) for what is not printable ASCII."""
    value = " ".join(value.split()) if "\n" in value or "\r" in value else value
    if _TOKEN.match(value):
        return f"{name}={value}"
    if _PRINTABLE.match(value) and len(value) < _SECTION:
        return f'{name}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    encoded = quote(scrub(value).encode("utf-8", "replace"), safe="!#$&+-.^_`|~")
    if len(encoded) <= _SECTION:
        return f"{name}*=utf-8''{encoded}"
    sections: list[str] = []
    while encoded:
        cut = _SECTION
        if "%" in encoded[cut - 2 : cut]:  # never split a %XX escape
            cut = encoded.rindex("%", 0, cut)
        sections.append(encoded[:cut])
        encoded = encoded[cut:]
    first = f"{name}*0*=utf-8''{sections[0]}"
    return "; ".join([first, *(f"{name}*{i}*={s}" for i, s in enumerate(sections[1:], 1))])


def _structured(name: str, value: str, params: list[str]) -> str:
    tokens = [" " + value + (";" if params else "")]
    for index, param in enumerate(params):
        for piece_index, piece in enumerate(param.split("; ")):
            last = index + 1 == len(params) and piece_index == len(param.split("; ")) - 1
            tokens.append(" " + piece + ("" if last else ";"))
    return fold(name, tokens)


def _lines_ok(data: bytes) -> bool:
    """Every line ends in CRLF and is at most 998 octets (RFC 5322 §2.1.1, RFC 2045 §2.7)."""
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        return False
    return all(len(line) <= MAX_LINE for line in data.split(b"\r\n"))


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")


def _encode_text(text: str) -> tuple[str, str, bytes]:
    """(charset, transfer encoding, body) of a text value from bodyValues (LF line ends, RFC 8621
    section 4.1.4) as CRLF text (RFC 2046 §4.1.1)."""
    text = scrub(text).replace("\r\n", "\n").replace("\r", "\n")
    data = text.replace("\n", "\r\n").encode("utf-8")
    if data.isascii():
        if b"\x00" not in data and _lines_ok(data):
            return "us-ascii", "7bit", data
        return "us-ascii", "quoted-printable", _qp(data)
    high = sum(1 for octet in data if octet >= 0x80)
    if high * 3 > len(data):  # mostly not ASCII (e.g. CJK): base64 is the shorter
        return "utf-8", "base64", _base64(data)
    return "utf-8", "quoted-printable", _qp(data)


def _qp(data: bytes) -> bytes:
    encoded = binascii.b2a_qp(data, istext=True)  # RFC 2045 §6.7, lines of at most 76
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _encode_blob(data: bytes, media_type: str) -> tuple[str, bytes]:
    """(transfer encoding, body) of a blob: as it is when it is 7bit already (or 8bit for a
    message, which may not be encoded, RFC 2046 §5.2.1), else base64 (RFC 2045 §6.8)."""
    clean = b"\x00" not in data and _lines_ok(data)
    if clean and data.isascii():
        return "7bit", data
    if clean and media_type.startswith("message/"):
        return "8bit", data
    return "base64", _base64(data)


class _Builder:
    def __init__(self, body_values: dict[str, str], blobs: BlobLookup, errors: _Errors) -> None:
        self.body_values = body_values
        self.blobs = blobs
        self.errors = errors

    def tree(
        self, spec: Any, path: str, *, forced_type: str | None = None, taken: Mapping[str, str] | None = None
    ) -> _Entity | None:
        """The entity tree of an EmailBodyPart and its subParts, built iteratively. ``taken``:
        header fields the Email itself sets (they may not be set again on the root part)."""
        top = self.entity(spec, path, forced_type, taken or {})
        if top is None:
            return None
        stack = [(top[0], top[1], path)]
        while stack:
            parent, sub_specs, parent_path = stack.pop()
            for index, sub in enumerate(sub_specs):
                sub_path = f"{parent_path}/subParts/{index}"
                made = self.entity(sub, sub_path, None, {})
                if made is not None:
                    parent.children.append(made[0])
                    stack.append((made[0], made[1], sub_path))
        return top[0]

    def entity(
        self, spec: Any, path: str, forced_type: str | None, taken: Mapping[str, str]
    ) -> tuple[_Entity, list[Any]] | None:
        errors = self.errors
        if not isinstance(spec, dict):
            errors.add(path, "an EmailBodyPart is an object")
            return None
        header_props: list[tuple[str, HeaderProperty, Any]] = []
        for key in spec:
            if key == "headers":  # RFC 8621 section 4.6
                errors.add(f"{path}/headers", "set each header field as its own property")
            elif key.startswith("header:"):
                prop = _header_property(key, errors, f"{path}/{key}")
                if prop is None:
                    continue
                if prop.name == "content-transfer-encoding":  # RFC 8621 section 4.6
                    errors.add(f"{path}/{key}", "Content-Transfer-Encoding is the server's to choose")
                elif prop.name in taken:
                    errors.add(f"{path}/{key}", f"{prop.written} is set on the Email already")
                    errors.add(taken[prop.name], f"{prop.written} is set on the body part too")
                else:
                    header_props.append((key, prop, spec[key]))
            elif key not in _PART_KEYS:
                errors.add(f"{path}/{key}", "unknown EmailBodyPart property")
        fields, given = _write_headers(header_props, errors, path + "/")
        for prop_name, field_name in _FIELD_OF.items():
            if spec.get(prop_name) is not None and field_name in given:
                errors.add(f"{path}/{prop_name}", f"{field_name} is given as a header property too")
        strings = {}
        for key in ("type", "name", "charset", "disposition", "cid", "location", "partId", "blobId"):
            value = spec.get(key)
            if value is not None and not isinstance(value, str):
                errors.add(f"{path}/{key}", "must be a string or null")
                value = None
            strings[key] = value
        media_type = (strings["type"] or forced_type or "").lower()
        if forced_type is not None and media_type != forced_type:
            errors.add(f"{path}/type", f"must be {forced_type}")
        if media_type and not _MEDIA_TYPE.match(media_type):
            errors.add(f"{path}/type", "not a media type")
        entity = _Entity(
            fields=fields,
            cid=strings["cid"],
            disposition=strings["disposition"] or None,
            names=frozenset(given),
        )
        sub_parts = spec.get("subParts")
        if media_type.startswith("multipart/") or sub_parts is not None:
            if not media_type.startswith("multipart/"):
                errors.add(f"{path}/subParts", "only a multipart/* part has subParts")
            if not isinstance(sub_parts, list) or not sub_parts:
                errors.add(f"{path}/subParts", "a multipart needs a list of parts (RFC 2046 §5.1.1)")
                sub_parts = []
            for key in ("partId", "blobId", "charset", "size"):
                if key in spec:
                    errors.add(f"{path}/{key}", "a multipart has no content of its own")
            if "content-type" in given:
                errors.add(given["content-type"], "a multipart's Content-Type carries the server's boundary")
            entity.multipart = media_type
            self.describe(entity, spec, strings, path, None, given)
            return entity, list(sub_parts)
        self.leaf(entity, spec, strings, media_type, path, given)
        return entity, []

    def leaf(
        self, entity: _Entity, spec: dict[str, Any], strings: dict[str, str | None], media_type: str,
        path: str, given: dict[str, str],
    ) -> None:  # fmt: skip
        errors = self.errors
        part_id, blob_id = strings["partId"], strings["blobId"]
        params: list[str] = []
        if (part_id is None) == (blob_id is None):  # RFC 8621 section 4.6: a partId OR a blobId
            errors.add(f"{path}/partId", "give a partId or a blobId, not both or neither")
            errors.add(f"{path}/blobId", "give a partId or a blobId, not both or neither")
            return
        if part_id is not None:
            for key in ("charset", "size"):  # RFC 8621 section 4.6: omitted when partId is given
                if key in spec:
                    errors.add(f"{path}/{key}", "must be omitted with a partId")
            if part_id not in self.body_values:
                errors.add(f"{path}/partId", "no such partId in bodyValues")
                return
            media_type = media_type or "text/plain"
            charset, encoding, body = _encode_text(self.body_values[part_id])
            if media_type.startswith("text/"):
                params.append(_param("charset", charset))
        else:
            assert blob_id is not None
            blob = self.blobs(blob_id)
            if blob is None:
                errors.missing.append(blob_id)
                return
            media_type = media_type or (blob.type or "application/octet-stream").lower()
            if not _MEDIA_TYPE.match(media_type):
                media_type = "application/octet-stream"
            if strings["charset"] is not None:
                if not _TOKEN.match(strings["charset"]):
                    errors.add(f"{path}/charset", "not a charset name")
                    return
                params.append(_param("charset", strings["charset"]))
            encoding, body = _encode_blob(blob.data, media_type)
        entity.body = body
        self.describe(entity, spec, strings, path, (media_type, params), given)
        entity.fields.append(f"Content-Transfer-Encoding: {encoding}\r\n")

    def describe(
        self, entity: _Entity, spec: dict[str, Any], strings: dict[str, str | None],
        path: str, content_type: tuple[str, list[str]] | None, given: dict[str, str],
    ) -> None:  # fmt: skip
        """The Content-* fields of the EmailBodyPart properties (a multipart's Content-Type is
        written later, with its boundary)."""
        errors = self.errors
        name, disposition = strings["name"], strings["disposition"]
        if disposition is not None and not _TOKEN.match(disposition):
            errors.add(f"{path}/disposition", "not a disposition type")
            disposition = None
        try:
            if content_type is not None and "content-type" not in given:
                media_type, params = content_type
                if name is not None and disposition is None:
                    params.append(_param("name", name))  # RFC 2045's name parameter, read as name
                entity.fields.append(_structured("Content-Type", media_type, params))
            elif name is not None and disposition is None:
                errors.add(f"{path}/name", "a name needs a disposition or the Content-Type it goes in")
            if disposition is not None:
                params = [_param("filename", name)] if name is not None else []  # RFC 2183 §2.3
                entity.fields.append(_structured("Content-Disposition", disposition.lower(), params))
        except BadValue as exc:
            errors.add(f"{path}/name", str(exc))
        cid = strings["cid"]
        if cid is not None:
            if _CID.match(cid) and len(cid) < MAX_LINE - 20:
                entity.fields.append(f"Content-ID: <{cid}>\r\n")
            else:
                errors.add(f"{path}/cid", "not a Content-ID")
        location = strings["location"]
        if location is not None:
            if _LOCATION.match(location) and len(location) < MAX_LINE - 20:
                entity.fields.append(f"Content-Location: {location}\r\n")
            else:
                errors.add(f"{path}/location", "not a URI")
        language = spec.get("language")
        if language is not None:
            if not isinstance(language, list) or not all(
                isinstance(t, str) and _TOKEN.match(t) for t in language
            ):
                errors.add(f"{path}/language", "a list of language tags")
            elif language:
                try:
                    entity.fields.append(fold("Content-Language", [" " + ", ".join(language)]))
                except BadValue as exc:
                    errors.add(f"{path}/language", str(exc))


def _body_values(value: Any, errors: _Errors) -> dict[str, str]:
    """bodyValues: partId -> text; isEncodingProblem and isTruncated false or omitted (RFC 8621
    section 4.6)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add("bodyValues", "a map of partId to EmailBodyValue")
        return {}
    out: dict[str, str] = {}
    for part_id, item in value.items():
        path = f"bodyValues/{part_id}"
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            errors.add(path, "an EmailBodyValue with a string value")
            continue
        for flag in ("isEncodingProblem", "isTruncated"):
            if item.get(flag, False) is not False:
                errors.add(f"{path}/{flag}", "must be false or omitted")
        out[part_id] = item["value"]
    return out


def _multipart(subtype: str, children: list[_Entity]) -> _Entity:
    return _Entity(multipart=f"multipart/{subtype}", children=children)


def _as_attachment(spec: Any) -> Any:
    """An ``attachments`` part without a disposition is written as one ("attachment"): at the head
    of a multipart/mixed, an image without one would read back as the body (section 4.1.4's split
    takes a leading inline-able part as body), not as the attachment the client sent."""
    if not isinstance(spec, dict) or spec.get("disposition") is not None or "subParts" in spec:
        return spec
    if any(key.lower().startswith("header:content-disposition") for key in spec):
        return spec
    return {**spec, "disposition": "attachment"}


def _from_lists(create: Mapping[str, Any], builder: _Builder, errors: _Errors) -> _Entity:
    """textBody/htmlBody/attachments arranged as the module docstring says."""
    singles: dict[str, _Entity | None] = {}
    for key, forced in (("textBody", "text/plain"), ("htmlBody", "text/html")):
        value = create.get(key)
        singles[key] = None
        if value is None:
            continue
        if not isinstance(value, list) or len(value) != 1:  # RFC 8621 section 4.6: exactly one
            errors.add(key, f"{key} holds exactly one {forced} part")
            continue
        singles[key] = builder.tree(value[0], f"{key}/0", forced_type=forced)
        if singles[key] is not None and singles[key].multipart is not None:  # type: ignore[union-attr]
            errors.add(f"{key}/0/type", f"must be {forced}")
    attachments: list[_Entity] = []
    value = create.get("attachments")
    if value is not None:
        if not isinstance(value, list):
            errors.add("attachments", "a list of EmailBodyParts")
        else:
            for index, spec in enumerate(value):
                made = builder.tree(_as_attachment(spec), f"attachments/{index}")
                if made is not None:
                    attachments.append(made)
    text, html = singles["textBody"], singles["htmlBody"]
    related = [a for a in attachments if html is not None and a.cid and a.disposition == "inline"]
    mixed = [a for a in attachments if a not in related]
    if html is not None and related:
        html = _multipart("related", [html, *related])  # RFC 2387: the HTML first, its parts after
    body = _multipart("alternative", [text, html]) if text and html else (text or html)
    if mixed:
        return _multipart("mixed", ([body] if body is not None else []) + mixed)
    if body is not None:
        return body
    empty = _Entity(fields=["Content-Type: text/plain; charset=us-ascii\r\n"])
    empty.fields.append("Content-Transfer-Encoding: 7bit\r\n")
    return empty


def _leaves(entity: _Entity) -> list[bytes]:
    out: list[bytes] = []
    stack = [entity]
    while stack:
        node = stack.pop()
        if node.multipart is None:
            out.append(node.body)
        stack.extend(node.children)
    return out


def _serialise(root: _Entity, top_fields: list[str], token: Callable[[], str]) -> bytes:
    """The octets of the message: the top-level fields, then the root entity's, then the bodies
    with a boundary per multipart that occurs in none of the bodies below it (RFC 2046 §5.1.1)."""
    out = bytearray()
    stack: list[_Entity | bytes] = [root]
    first = True
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out += item
            continue
        prefix = top_fields if first else []
        first = False
        if item.multipart is not None:
            leaves = _leaves(item)
            boundary = "=_" + token()
            while any(boundary.encode() in leaf for leaf in leaves):  # pragma: no cover - 96 random bits
                boundary = "=_" + token()
            content_type = _structured("Content-Type", item.multipart, [_param("boundary", boundary)])
            out += "".join([*prefix, content_type, *item.fields]).encode("utf-8") + b"\r\n"
            delimiter = b"--" + boundary.encode("ascii")
            pieces: list[_Entity | bytes] = [delimiter + b"\r\n"]
            for index, child in enumerate(item.children):
                if index:
                    pieces.append(b"\r\n" + delimiter + b"\r\n")
                pieces.append(child)
            pieces.append(b"\r\n" + delimiter + b"--\r\n")
            stack.extend(reversed(pieces))
        else:
            out += "".join([*prefix, *item.fields]).encode("utf-8") + b"\r\n" + item.body
    return bytes(out)


def compose_email(
    create: Mapping[str, Any],
    *,
    blobs: BlobLookup,
    hostname: str,
    now: datetime,
    token: Callable[[], str] = _token,
) -> bytes:
    """The RFC 5322 message an Email create describes (RFC 8621 section 4.6). Raises
    InvalidProperties naming every property that breaks a rule, then BlobNotFound for blobIds
    the server does not have. ``now`` (aware) is the Date when neither sentAt nor a Date header
    property is given; ``hostname`` and ``token`` make the Message-ID when none is given."""
    errors = _Errors()
    header_props: list[tuple[str, HeaderProperty, Any]] = []
    for key in create:
        if key in _NOT_ON_CREATE:
            errors.add(key, "not settable on create")
        elif key in CONVENIENCE or key.startswith("header:"):
            prop = _header_property(key, errors, key)
            if prop is None:
                continue
            if prop.name.startswith("content-"):  # RFC 8621 section 4.6: only on body parts
                errors.add(key, "Content-* header fields go on EmailBodyPart objects")
            else:
                header_props.append((key, prop, create[key]))
        elif key not in _SERVER_LAYER and key not in ("bodyValues", "bodyStructure", *_BODY_LISTS):
            errors.add(key, "unknown Email property")
    top_fields, taken = _write_headers(header_props, errors, "")
    builder = _Builder(_body_values(create.get("bodyValues"), errors), blobs, errors)
    root: _Entity | None
    if "bodyStructure" in create:
        for key in _BODY_LISTS:  # RFC 8621 section 4.6: not with bodyStructure
            if key in create:
                errors.add(key, "not allowed with bodyStructure")
        root = builder.tree(create["bodyStructure"], "bodyStructure", taken=taken)
    else:
        root = _from_lists(create, builder, errors)
    if errors.properties:
        raise InvalidProperties(errors.properties, "; ".join(errors.reasons))
    if errors.missing:
        raise BlobNotFound(errors.missing)
    assert root is not None
    # RFC 8621 section 4.6: "MUST generate and set a Message-ID ... and a Date header field".
    have = taken.keys() | root.names  # the root part's header fields are the message's
    generated: list[str] = []
    if "date" not in have:
        generated.append(fold("Date", [" " + date_field(now)]))
    if "message-id" not in have:
        generated.append(f"Message-ID: <{now:%Y%m%d%H%M%S}.{token()}@{hostname}>\r\n")
    if "mime-version" not in have:
        top_fields.append("MIME-Version: 1.0\r\n")  # RFC 2045 §4
    return _serialise(root, generated + top_fields, token)


__all__ = ["Blob", "BlobLookup", "Form", "compose_email"]
