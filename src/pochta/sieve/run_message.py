"""Tests of the message beyond the base language's: METADATA, spamtest, duplicate, the MIME
parts and :mime (RFC 5703), editheader's changes, date, envelope and body (a mixin of
``interpreter.RunState``)."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from pochta.mime.header import parse_header
from pochta.mime.model import Part
from pochta.mime.text import part_text
from pochta.sieve import script as s
from pochta.sieve.actions import (
    DuplicateRecord,
)
from pochta.sieve.arguments import metadata_entry_ok
from pochta.sieve.body import content_values, mime_parts, parse_root, raw_body, text_values
from pochta.sieve.comparators import match
from pochta.sieve.dates import DATE_PARTS, date_part, field_date, parse_zone
from pochta.sieve.editheader import PROTECTED_FIELDS, encode_field_value
from pochta.sieve.message import MAX_HEADER_FIELDS, AddressValue, SieveMessage
from pochta.sieve.run_state import MODIFIER_FUNCTIONS, SieveRuntimeError, StateBase, pick_fields
from pochta.sieve.spamscore import spam_level, virus_level
from pochta.sieve.syntax import Position
from pochta.sieve.text import Text
from pochta.sieve.validate import ENVELOPE_PARTS, header_name_ok

__all__ = ["MessageTests"]


class MessageTests(StateBase):
    def metadata(self, test: s.MetadataTest) -> bool:
        lookup = self.context.metadata
        mailbox = None if test.mailbox is None else self.expand(test.mailbox)
        values: list[str] = []
        for text in test.names:
            entry = self.expand(text)
            value = lookup(mailbox, entry) if lookup is not None and metadata_entry_ok(entry) else None
            if value is None:
                if test.matching is None:
                    return False  # metadataexists: every entry must have a value
                continue
            values.append(value)
        if test.matching is None:
            return True
        # §3.3: false when the entry has no value; else its value against the keys.
        return bool(values) and self.any_match(test.matching, values, test.keys, count=len(values))

    def spam_ratio(self, test: s.SpamTest) -> Fraction | None:
        """The verdict on the 0..1 scale, None when the message was not checked."""
        source = self.limits.virustest if test.virus else self.limits.spamtest
        if source is None:
            return None
        return source.ratio(self.message, 5 if test.virus else 10)

    def spam_count(self, test: s.SpamTest) -> int:
        """RFC 5235 §3.1: :count is 1 when the check was done, 0 when not."""
        return 0 if self.spam_ratio(test) is None else 1

    def spam_value(self, test: s.SpamTest) -> str:
        """The normalised result: virustest 0 (not checked) or 1-5 (§3.3); spamtest 0 (not
        checked) or 1 (clear) .. 10 (spam) (§3.2.1); with :percent 0 .. 100 (§3.2.2)."""
        ratio = self.spam_ratio(test)
        if ratio is None:
            return "0"
        return str(virus_level(ratio) if test.virus else spam_level(ratio, test.percent))

    def duplicate(self, test: s.DuplicateTest) -> bool:
        if test.uniqueid is not None:
            unique = self.expand(test.uniqueid)
        else:
            name = "message-id" if test.header is None else self.expand(test.header)
            # §3.1: a bad name, or no such field, is false and tracks nothing; the first field.
            values = self.message.header_texts(name) if header_name_ok(name) else ()
            if not values:
                return False
            unique = values[0]
        seconds = self.limits.duplicate_default_period if test.seconds is None else test.seconds
        seconds = min(seconds, self.limits.duplicate_max_period)  # §3.3: silently
        if seconds == 0:
            return False  # §3.3
        handle = None if test.handle is None else self.expand(test.handle)
        # §3.2: one list whatever the ID's source; a handle keeps its own entries.
        key = "-" if handle is None else f"{len(handle)}:{handle}"
        key = f"{key}:{unique}"
        seen = self.duplicates_seen.get(key)
        if seen is None:  # §3: every test of one run answers alike for one key
            check = self.context.duplicate_seen
            seen = self.duplicates_seen[key] = bool(check(key)) if check is not None else False
        self.duplicate_records[key] = DuplicateRecord(key, seconds, test.last)  # §3.3: the last one wins
        return seen

    def scoped(self, scope: s.MimeScope | None) -> list[tuple[SieveMessage, Part | None]]:
        """The headers a test looks at (RFC 5703 §4): the message's, or with :mime the current
        part's (the message's outside a loop), and with :anychild those of every part below."""
        if scope is None:
            return [(self.message, None)]
        current = self.part_stack[-1] if self.part_stack else self.root_part()
        parts = mime_parts(current) if scope.anychild else [current]
        return [(self.part_view(part), part) for part in parts]

    def part_view(self, part: Part) -> SieveMessage:
        if part is self.root_part():
            return self.message  # the message's own header, with editheader's changes
        view = self.part_views.get(id(part))
        if view is None:
            fields = parse_header(
                self.message.data, part.header_start, part.body_start, MAX_HEADER_FIELDS
            ).fields
            view = self.part_views[id(part)] = SieveMessage(fields, part.body_end - part.header_start)
        return view

    def mime_values(
        self, view: SieveMessage, part: Part | None, name: str, scope: s.MimeScope | None
    ) -> list[str]:
        """The values of ``name`` in one part; with an option, Content-Type or Content-Disposition
        read as the parser parsed them (RFC 5703 §4.1)."""
        texts = list(view.header_texts(name))
        if scope is None or scope.option is None or part is None or not texts:
            return texts
        field = name.lower()
        if field == "content-type":
            kind, params = (part.type, part.subtype), part.params
        elif field == "content-disposition":
            kind, params = (part.disposition or "", ""), part.disposition_params
        else:
            return texts
        match scope.option:
            case "type":
                return [kind[0]]
            case "subtype":
                return [kind[1]]  # §4.2: Content-Disposition's is the empty string
            case "contenttype":
                return [f"{kind[0]}/{kind[1]}" if kind[1] else kind[0]]
            case _:
                wanted = {self.expand(text).lower() for text in scope.params}
                return [value for key, value in params if key in wanted]

    def extract_text(self, node: s.ExtractText) -> None:
        # §7: the text of the current part (none unless it is text), :first characters of it.
        part = self.part_stack[-1] if self.part_stack else None
        text = ""
        if part is not None and part.type == "text" and not part.children and part.message is None:
            text = part_text(self.message.data, part, self.limits.max_variable_size)
        if node.first is not None:
            text = text[: node.first]
        for modifier in node.modifiers:
            text = MODIFIER_FUNCTIONS[modifier](text)
        self.store_variable(node.name, text, node.position)

    def field_to_edit(self, text: Text, position: Position, *, adding: bool) -> str | None:
        """The field name an edit is about, None when it may not be edited (§6: silently; the
        administrator's lists never hold Subject, which §6 keeps editable)."""
        name = self.expand(text)
        if not header_name_ok(name):
            raise SieveRuntimeError(position, f"'{name}' is not a header field name (RFC 5293 §4)")
        lower = name.lower()
        forbidden = self.limits.editheader_forbid_add if adding else self.limits.editheader_forbid_delete
        return None if lower in PROTECTED_FIELDS | self.sealed_fields | forbidden else name

    def add_header(self, node: s.AddHeader) -> None:
        name = self.field_to_edit(node.name, node.position, adding=True)
        if name is None:
            return
        self.message.add_field(name, encode_field_value(name, self.expand(node.value)), last=node.last)

    def delete_header(self, node: s.DeleteHeader) -> None:
        name = self.field_to_edit(node.name, node.position, adding=False)
        if name is None:
            return
        keys = None if node.patterns is None else [self.expand(text) for text in node.patterns]
        index = node.index

        def keep(position: int, count: int, text: str) -> bool:
            # §5: :index counts the named fields first, then the patterns (as the header test) decide.
            if index is not None and index.pick(count) != position - 1:
                return True
            if keys is None:
                return False
            matching = node.matching
            if matching.match_type == "list":
                return self.in_lists([text], keys) is None
            found = (
                match(matching.comparator, matching.match_type, text, key, matching.relation) for key in keys
            )
            return all(result is None for result in found)

        self.message.delete_fields(name, keep)

    def date_test(self, test: s.DateTest) -> bool:
        # RFC 5260 §4, §5: one moment (the first field's date, or now), shifted to a zone, one part.
        part = self.expand(test.part).lower()
        if part not in DATE_PARTS:
            return False
        if test.header is None:
            moment: datetime | None = self.now
        else:
            names = self.header_names((test.header,))
            values = [value for name in names for value in self.message.header_texts(name)]
            chosen = pick_fields(values, test.index) if test.index is not None else values[:1]
            moment = field_date(chosen[0]) if chosen else None
        if moment is None:
            return self.any_match(test.matching, [], test.keys, count=0)  # §4: no valid date
        if test.zone is not None:
            zone = parse_zone(self.expand(test.zone))
            if zone is None:
                return False
            moment = moment.astimezone(zone)
        elif not test.original_zone:
            moment = moment.astimezone(self.now.tzinfo)  # §4.1: the local zone
        return self.any_match(test.matching, [date_part(moment, part)], test.keys, count=1)

    def envelope_values(self, test: s.EnvelopeTest) -> tuple[list[str], int]:
        """The values of the envelope parts, and their count (RFC 5231 §4.2: "from" counts 0
        for the null reverse-path, "to" always 1)."""
        values: list[str] = []
        count = 0
        for part in (self.expand(text).lower() for text in test.names):
            if part not in ENVELOPE_PARTS:
                continue
            if part == "from" and not self.envelope.sender:
                values.append("")  # §5.4: the null reverse-path matches "" whatever the part
                continue
            count += 1
            address = self.envelope.sender if part == "from" else self.envelope.recipient
            local, at, domain = address.rpartition("@")
            parsed = AddressValue(address, local, domain) if at else AddressValue(address, None, None)
            values.extend(self.address_parts([parsed], test.part))
        return values, count

    def body_values(self, test: s.BodyTest) -> list[str]:
        if self.body_root is None:
            self.body_root = parse_root(self.message.data)
        data, root = self.message.data, self.body_root
        if test.transform == "raw":
            return raw_body(data, root)
        if test.transform == "text":
            return text_values(data, root)
        return content_values(data, root, [self.expand(text) for text in test.content_types])
