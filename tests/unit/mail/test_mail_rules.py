"""The Gmail-style rules (pochta.mail.mail_rules): what the models refuse, and the managed script
they render, which compiles with our own compiler for every combination of options (hostile text
included) and, run through the interpreter, gives the actions each option promises."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from pochta.mail.mail_rules import (
    DEFAULT_MESSAGE,
    AccountRules,
    Filter,
    Forward,
    RuleInvalid,
    Vacation,
    dump,
    load_rules,
    parse,
    redirect_count,
    render,
)
from pochta.sieve import (
    Envelope,
    FileIntoAction,
    KeepAction,
    Outcome,
    RedirectAction,
    SieveMessage,
    compile_script,
    run,
)
from pochta.sieve.actions import VacationAction
from pochta.sieve.message import ADDRESS_BOOK, DeliveryContext
from pochta.store.sieve_model import StoredRule

# Text that needs quoting (quotes, backslashes), that would be syntax or a reference if pasted raw
# (braces, ${...}, a semicolon, "text:"), wildcards, and non-ASCII.
HOSTILE = 'a"b\\c"; } discard; ${x} *?[ text: é\u2028'
CRITERIA = {
    "from": HOSTILE,
    "to": "x@y\\",
    "subject": HOSTILE,
    "has_words": f"{HOSTILE} second",
    "doesnt_have": '"spam\\',
}
ACTIONS: dict[str, object] = {
    "to_folder": 'Work/"quoted"\\',
    "mark_read": True,
    "star": True,
    "forward": "friend@remote.example",
    "delete": True,
    "skip_inbox": True,
}


def _filter(**data: object) -> Filter:
    rule = parse(Filter, data)
    assert isinstance(rule, Filter)
    return rule


def _subsets(names: list[str]) -> list[tuple[str, ...]]:
    return [combo for size in range(1, len(names) + 1) for combo in itertools.combinations(names, size)]


def _valid_filters() -> list[dict[str, object]]:
    found = []
    for criteria in _subsets(list(CRITERIA)):
        for actions in _subsets(list(ACTIONS)):
            if "delete" in actions and ({"to_folder", "skip_inbox"} & set(actions)):
                continue
            found.append({**{c: CRITERIA[c] for c in criteria}, **{a: ACTIONS[a] for a in actions}})
    return found


def test_every_filter_combination_compiles() -> None:
    filters = _valid_filters()
    assert len(filters) == 31 * 39  # every non-empty set of criteria, with every valid set of actions
    for n, data in enumerate(filters):
        compile_script(render(AccountRules(((n, _filter(**data)),))))


@pytest.mark.parametrize("mode", ["keep", "archive", "delete"])
@pytest.mark.parametrize("contacts_only", [False, True])
@pytest.mark.parametrize("dates", [(None, None), (date(2026, 12, 1), None), (None, date(2026, 12, 31))])
def test_vacation_and_forward_combinations_compile(
    mode: str, contacts_only: bool, dates: tuple[date | None, date | None]
) -> None:
    vacation = Vacation(
        subject=HOSTILE.replace("\u2028", ""),
        message=f"{HOSTILE}\r\n.\r\nline\rthree",
        from_date=dates[0],
        until=dates[1],
        contacts_only=contacts_only,
        days=3,
    )
    filters = ((1, _filter(subject="x", to_folder="Work", star=True)),)
    rules = AccountRules(filters, vacation, Forward(address="friend@remote.example", mode=mode))  # type: ignore[arg-type]
    compile_script(render(rules))


def test_no_rules_is_a_script_that_only_keeps() -> None:
    source = render(AccountRules())
    assert "require" not in source
    assert _run(source).actions == (KeepAction(implicit=True),)


# --- what the generated script does -----------------------------------------------------------------


def _message(subject: str = "hello", sender: str = "carol@example.net", body: str = "text") -> bytes:
    return (
        f"From: Carol <{sender}>\r\nTo: alice@example.org\r\nCc: team@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: <1@example.net>\r\n\r\n{body}\r\n"
    ).encode()


def _run(source: str, data: bytes | None = None, context: DeliveryContext | None = None) -> Outcome:
    context = context or DeliveryContext(user_addresses=("alice@example.org",))
    message = SieveMessage.from_bytes(data or _message())
    outcome = run(
        compile_script(source), message, Envelope("carol@example.net", "alice@example.org"), None, context
    )
    assert outcome.error is None
    return outcome


def _filters(*rules: Filter) -> str:
    return render(AccountRules(tuple(enumerate(rules, 1))))


def test_folder_with_the_flags_of_every_matching_filter() -> None:
    source = _filters(
        _filter(subject="report", to_folder="Work"),
        _filter(**{"from": "carol@"}, mark_read=True),
        _filter(subject="urgent", star=True),
    )
    [action] = _run(source, _message("urgent report")).actions
    assert isinstance(action, FileIntoAction)
    assert (action.mailbox, set(action.flags), action.create) == ("Work", {"\\Seen", "\\Flagged"}, True)
    # Only the flag filter matches: the message stays in INBOX, read.
    assert _run(source, _message("hello")).actions == (KeepAction(implicit=True, flags=("\\Seen",)),)


def test_hostile_text_matches_only_itself() -> None:
    subject = 'a"b\\c"; } discard; ${x} *?'
    source = _filters(_filter(subject=subject, to_folder="Work"))
    assert [a.mailbox for a in _run(source, _message(f"re: {subject}")).actions] == ["Work"]  # type: ignore[attr-defined]
    # The wildcards and the reference are literal: a subject they would match as patterns does not.
    assert _run(source, _message('aXb\\c"; } discard; anything ZZ')).actions == (KeepAction(implicit=True),)


def test_has_words_needs_every_word_and_doesnt_have_none() -> None:
    source = _filters(_filter(has_words="invoice March", doesnt_have="paid settled", star=True))
    assert _run(source, _message(body="The invoice for march")).actions[0].flags == ("\\Flagged",)  # type: ignore[union-attr]
    assert _run(source, _message(body="The invoice")).actions == (KeepAction(implicit=True),)
    assert _run(source, _message(body="invoice march, paid")).actions == (KeepAction(implicit=True),)


def test_to_matches_cc_too() -> None:
    source = _filters(_filter(to="team@", mark_read=True))
    assert _run(source).actions == (KeepAction(implicit=True, flags=("\\Seen",)),)


def test_delete_goes_to_trash_skip_inbox_to_archive_forward_keeps_a_copy() -> None:
    assert _run(_filters(_filter(subject="hello", delete=True))).actions == (
        FileIntoAction("Trash", create=True, special_use="\\Trash"),
    )
    assert _run(_filters(_filter(subject="hello", skip_inbox=True))).actions == (
        FileIntoAction("Archive", create=True, special_use="\\Archive"),
    )
    assert _run(_filters(_filter(subject="hello", forward="friend@remote.example"))).actions == (
        RedirectAction("friend@remote.example"),
        KeepAction(implicit=True),
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("keep", (RedirectAction("friend@remote.example"), KeepAction(implicit=True))),
        (
            "archive",
            (
                RedirectAction("friend@remote.example"),
                FileIntoAction("Archive", create=True, special_use="\\Archive"),
            ),
        ),
        ("delete", (RedirectAction("friend@remote.example"),)),
    ],
)
def test_forward_modes(mode: str, expected: tuple[object, ...]) -> None:
    # A filter that would file the message: with "delete" forwarding nothing is kept, filters included.
    rules = AccountRules(
        ((1, _filter(subject="other", to_folder="Work")),),
        forward=Forward(address="friend@remote.example", mode=mode),  # type: ignore[arg-type]
    )
    assert _run(render(rules)).actions == expected


def _vacation_actions(vacation: Vacation, now: datetime, book: frozenset[str] = frozenset()) -> list[object]:
    context = DeliveryContext(
        user_addresses=("alice@example.org",), now=now, lists={ADDRESS_BOOK: lambda a: a.lower() in book}
    )
    outcome = _run(render(AccountRules(vacation=vacation)), context=context)
    return [action for action in outcome.actions if isinstance(action, VacationAction)]


def test_vacation_dates_are_inclusive() -> None:
    vacation = Vacation(
        subject="Away", message="Back soon.", from_date=date(2026, 12, 10), until=date(2026, 12, 20), days=2
    )
    before, first, last, after = (datetime(2026, 12, day, 12, tzinfo=UTC) for day in (9, 10, 20, 21))
    assert _vacation_actions(vacation, before) == []
    [reply] = _vacation_actions(vacation, first)
    assert (reply.subject, reply.reason, reply.period) == ("Away", "Back soon.", 2 * 86400)  # type: ignore[attr-defined]
    assert len(_vacation_actions(vacation, last)) == 1
    assert _vacation_actions(vacation, after) == []


def test_vacation_to_contacts_only() -> None:
    vacation = Vacation(message="Away.", contacts_only=True)
    now = datetime(2026, 12, 10, tzinfo=UTC)
    assert _vacation_actions(vacation, now) == []
    assert len(_vacation_actions(vacation, now, frozenset({"carol@example.net"}))) == 1


def test_vacation_moments_bound_the_replies_in_utc() -> None:
    # RFC 8621 section 8: from fromDate (inclusive) to before toDate, moments in UTC.
    start = datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
    end = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
    vacation = Vacation(message="Back tomorrow.", starts=start, ends=end)
    assert _vacation_actions(vacation, datetime(2026, 12, 10, 9, 29, 59, tzinfo=UTC)) == []
    assert len(_vacation_actions(vacation, start)) == 1
    # Another zone's clock: the same moment.
    east = timezone(timedelta(hours=5))
    assert len(_vacation_actions(vacation, datetime(2026, 12, 10, 21, 59, tzinfo=east))) == 1
    assert _vacation_actions(vacation, end) == []
    assert _vacation_actions(vacation, datetime(2027, 1, 1, tzinfo=UTC)) == []


def test_a_vacation_turned_off_sends_nothing_but_is_kept() -> None:
    vacation = Vacation(message="Away.", enabled=False)
    assert _vacation_actions(vacation, datetime(2026, 12, 10, tzinfo=UTC)) == []
    assert load_rules([StoredRule(1, "vacation", 1, dump(vacation))]).vacation == vacation


def test_an_html_vacation_goes_as_text_and_html() -> None:
    vacation = Vacation(subject="Away", html="<p>Back <b>soon</b>.</p>")
    [reply] = _vacation_actions(vacation, datetime(2026, 12, 10, tzinfo=UTC))
    assert reply.mime  # type: ignore[attr-defined]
    reason: str = reply.reason  # type: ignore[attr-defined]
    assert "multipart/alternative" in reason
    assert "Content-Type: text/plain; charset=utf-8" in reason
    assert "Back soon." in reason  # the text made from the HTML
    assert "<p>Back <b>soon</b>.</p>" in reason


def test_a_vacation_without_a_body_has_the_default_text() -> None:
    [reply] = _vacation_actions(Vacation(subject="Away"), datetime(2026, 12, 10, tzinfo=UTC))
    assert reply.reason == DEFAULT_MESSAGE.replace("\n", "\r\n")  # type: ignore[attr-defined]


def test_vacation_moments_need_a_zone_and_an_order() -> None:
    with pytest.raises(RuleInvalid, match="time zone"):
        parse(Vacation, {"message": "m", "starts": "2026-12-10T09:00:00"})
    with pytest.raises(RuleInvalid, match="not after its start"):
        parse(Vacation, {"message": "m", "starts": "2026-12-10T09:00:00Z", "ends": "2026-12-10T09:00:00Z"})


@pytest.mark.parametrize(
    ("model", "data", "says"),
    [
        (Filter, {"from": "a\nb", "star": True}, "from: must be one line"),
        (Filter, {"subject": "   ", "star": True}, "subject: must not be empty"),
        (Filter, {"star": True}, "needs a criterion"),
        (Filter, {"subject": "x"}, "needs an action"),
        (Filter, {"subject": "x", "delete": True, "to_folder": "Work"}, "cannot go with --to-folder"),
        (Filter, {"subject": "x", "star": True, "colour": "red"}, "colour: Extra inputs"),
        (Vacation, {"message": " \n "}, "message: must not be empty"),
        (Vacation, {"message": "a\x00b"}, "message: must not contain control characters"),
        (Vacation, {"message": "x", "from_date": "2026-12-10", "until": "2026-12-01"}, "before --from-date"),
        (Vacation, {"message": "x", "days": 0}, "days: Input should be greater than or equal to 1"),
        (Forward, {"address": "x@y", "mode": "bounce"}, "mode: Input should be"),
    ],
)
def test_models_refuse(model: type[Filter | Vacation | Forward], data: dict[str, object], says: str) -> None:
    with pytest.raises(RuleInvalid, match=says.replace("(", r"\(")):
        parse(model, data)


def test_stored_json_round_trips_and_counts_redirects() -> None:
    rule = _filter(**{"from": "a@b"}, forward="c@d", mark_read=True)
    rows = [
        StoredRule(7, "filter", 1, dump(rule)),
        StoredRule(8, "forward", 2, dump(Forward(address="e@f"))),
        StoredRule(9, "vacation", 3, dump(Vacation(message="m", until=date(2026, 1, 2)))),
    ]
    rules = load_rules(rows)
    assert rules.filters == ((7, rule),)
    assert rules.vacation == Vacation(message="m", until=date(2026, 1, 2))
    assert rules.forward == Forward(address="e@f")
    assert redirect_count(rules) == 2
    assert '"from":"a@b"' in rows[0].data  # stored by the names the CLI and JMAP use
