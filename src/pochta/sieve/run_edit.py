"""replace and enclose (RFC 5703 section 5 and section 6) as they run: the message they make
becomes the message every later test and action sees (a mixin of ``interpreter.RunState``)."""

from __future__ import annotations

from pochta.mime.address import Mailbox, parse_address_list
from pochta.sieve import script as s
from pochta.sieve.body import mime_parts
from pochta.sieve.editheader import encode_field_value
from pochta.sieve.message import SieveMessage
from pochta.sieve.mime_edit import enclose_message, replace_message, replacement_entity
from pochta.sieve.run_state import SieveRuntimeError, StateBase
from pochta.sieve.syntax import Position

__all__ = ["MimeEdits"]

# Section 5: the fields replace keeps the old Subject and From in; a script's editheader may
# not change them once the system added them.
ORIGINAL_FIELDS = frozenset({"original-subject", "original-from"})


def _from_value(written: str, position: Position) -> bytes:
    """A :from mailbox-list as a From field body: display names with 8-bit characters become
    encoded words (RFC 2047 section 5 (3)), the addresses stay as they are."""
    items = parse_address_list(written)
    if not items or not all(isinstance(item, Mailbox) and item.domain for item in items):
        raise SieveRuntimeError(
            position, f"replace :from {written!r} is not a valid address (RFC 5703 section 5)"
        )
    if written.isascii():
        return written.strip().encode("ascii")
    rendered = []
    for item in items:
        assert isinstance(item, Mailbox)
        address = f"{item.local_part_text}@{item.domain}"
        if item.name:
            name = encode_field_value("From", item.name).decode("ascii")
            rendered.append(f"{name} <{address}>")
        else:
            rendered.append(address)
    return ", ".join(rendered).encode("utf-8", "surrogateescape")


class MimeEdits(StateBase):
    def replace(self, node: s.Replace) -> None:
        entity = replacement_entity(self.expand(node.replacement), node.mime)
        index = self.part_indexes[-1] if self.part_indexes else 0
        self.replaced_part = index
        current = self.message.to_bytes() if self.message.edited else self.message.data
        if index == 0:
            # Section 5: outside a loop (or on the message itself) the whole message is replaced;
            # :subject and :from apply only then.
            subject = None
            if node.subject is not None:
                subject = encode_field_value("Subject", self.expand(node.subject))
            sender = None if node.sender is None else _from_value(self.expand(node.sender), node.position)
            data = replace_message(list(self.message.fields), entity, subject, sender)
            if subject is not None or sender is not None:
                self.sealed_fields.update(ORIGINAL_FIELDS)
        else:
            # The part's offsets index the message as it came in; editheader's changes shift them.
            shift = len(current) - len(self.message.data)
            part = self.part_stack[-1]
            data = current[: part.header_start + shift] + entity + current[part.body_end + shift :]
        self.use_message(data)

    def enclose(self, node: s.Enclose) -> None:
        if self.part_stack:
            raise SieveRuntimeError(
                node.position, "enclose cannot run inside foreverypart (RFC 5703 section 6)"
            )
        original = self.message.to_bytes() if self.message.edited else self.message.data
        if self.unenclosed is None:
            self.unenclosed = original  # section 6: redirect sends the message without enclosure
        own = self.context.user_addresses[0] if self.context.user_addresses else self.envelope.recipient
        data = enclose_message(
            original,
            list(self.message.fields),
            self.expand(node.text),
            None if node.subject is None else self.expand(node.subject),
            [self.expand(name) for name in node.headers],
            own,
            self.now,
        )
        self.use_message(data)

    def use_message(self, data: bytes) -> None:
        """Make ``data`` the message (section 5: a changed MIME structure takes effect at once;
        the loops running go on over the new structure, see ``for_every_part``)."""
        self.message = SieveMessage.from_bytes(data)
        self.message.edited = True  # every later action stores or sends this message
        self.body_root = None
        self.part_views.clear()
        parts = mime_parts(self.root_part())
        # The loops' current parts are earlier in depth-first order than anything replaced, so
        # their indexes still name them in the new structure.
        self.part_stack[:] = [parts[min(index, len(parts) - 1)] for index in self.part_indexes]
