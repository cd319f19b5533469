"""What a redirect (RFC 5228 §4.2) sends: the field that marks it, by which a message that
already went round is recognised, and the envelope sender it goes out with. Delivery
(``delivery.sieve_carry``) and the Pigeonhole harness both use these."""

from __future__ import annotations

from pochta.sieve.message import Envelope, SieveMessage

__all__ = ["LOOP_FIELD", "envelope_from_ok", "loops", "redirect_sender", "stamp"]

# Pigeonhole's field: a message redirected by Dovecot and by pochta is recognised by both.
LOOP_FIELD = "X-Sieve-Redirected-From"
_OLD_LOOP_FIELD = "X-Pochta-Loop"  # what pochta wrote before; still recognised
_KEYWORDS = ("sender", "recipient", "user_email")


def loops(message: SieveMessage, *addresses: str) -> bool:
    """RFC 5228 §4.2: a message that a redirect for one of ``addresses`` (the user's, the
    address it came to) already passed on."""
    wanted = {address.lower() for address in addresses if address}
    return any(
        value.strip().strip("<>").lower() in wanted
        for name in (LOOP_FIELD, _OLD_LOOP_FIELD)
        for value in message.header_texts(name)
    )


def stamp(body: bytes, address: str) -> bytes:
    """The redirected message: ``body`` with the field naming the user who redirected it."""
    return f"{LOOP_FIELD}: {address}\r\n".encode() + body


def envelope_from_ok(setting: str) -> bool:
    """``sender``, ``recipient``, ``user_email``, or an address in angle brackets (``<>``)."""
    text = setting.strip()
    if text in _KEYWORDS:
        return True
    return text.startswith("<") and text.endswith(">") and (text == "<>" or "@" in text)


def redirect_sender(setting: str, envelope: Envelope, user_address: str) -> str:
    """The envelope sender of a redirect: the original's (``sender``, §4.2's default, so that
    bounces go back to it), the recipient's, the user's address, or one given; never other than
    the null path when the original came from it (a bounce must not bounce)."""
    text = setting.strip()
    if not envelope.sender or text == "sender":
        return envelope.sender
    if text == "recipient":
        return envelope.recipient
    if text == "user_email":
        return user_address or envelope.recipient
    return text.strip("<>")
