"""Shared helpers for the IMAP core tests: feed a receiver whole or byte by byte and collect events."""

from __future__ import annotations

from pochta.proto.imap import Command, CommandError, Event, NeedLiteral, NeedMoreData, Receiver

MODES = ["whole", "bytewise"]


def drain(receiver: Receiver) -> list[Event]:
    events: list[Event] = []
    while True:
        event = receiver.next_command()
        if isinstance(event, NeedMoreData):
            return events
        events.append(event)


def feed(receiver: Receiver, data: bytes, mode: str = "whole") -> list[Event]:
    """Events (without NeedMoreData) from feeding ``data`` whole or one octet at a time."""
    if mode == "whole":
        receiver.receive_data(data)
        return drain(receiver)
    events: list[Event] = []
    for i in range(len(data)):
        receiver.receive_data(data[i : i + 1])
        events.extend(drain(receiver))
    return events


def commands(events: list[Event]) -> list[Command]:
    return [e for e in events if isinstance(e, Command)]


def only_command(data: bytes, mode: str = "whole", **kwargs: object) -> Command:
    receiver = Receiver(**kwargs)  # type: ignore[arg-type]
    receiver.utf8 = True
    events = [e for e in feed(receiver, data, mode) if not isinstance(e, NeedLiteral)]
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, Command), event
    return event


def error(events: list[Event]) -> CommandError:
    errors = [e for e in events if isinstance(e, CommandError)]
    assert len(errors) == 1, events
    return errors[0]
