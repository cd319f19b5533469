"""JMAP Mailbox methods (RFC 8621 section 2) over HTTP on a real ``pochta serve``, with IMAP and
LMTP beside them: a Mailbox is an IMAP mailbox (its id IMAP's MAILBOXID), a mailbox created over
JMAP is in IMAP LIST, one renamed over IMAP comes as updated in Mailbox/changes, the counts follow
LMTP deliveries and IMAP STORE \\Seen."""

from __future__ import annotations

import base64
import imaplib
import json
import re
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
USING = [CORE, MAIL]
CONFIG = "[jmap]\nenabled = true\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-mailbox"), CONFIG, ("lmtp",))


def _headers() -> dict[str, str]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def calls(env: WebEnv, *method_calls: list[Any]) -> list[list[Any]]:
    body = json.dumps({"using": USING, "methodCalls": list(method_calls)}).encode()
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=_headers())
    assert response.status == 200, response.body
    answer: list[list[Any]] = json.loads(response.body)["methodResponses"]
    return answer


def call(env: WebEnv, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    [[answered, result, _]] = calls(env, [name, arguments, "c"])
    assert answered == name, result
    assert isinstance(result, dict)
    return result


def error(env: WebEnv, name: str, arguments: dict[str, Any]) -> str:
    [[answered, result, _]] = calls(env, [name, arguments, "c"])
    assert answered == "error", result
    return str(result["type"])


def account(env: WebEnv) -> str:
    # Mail is reachable by name but not advertised while RFC 8621 is incomplete
    # (server.jmap.mail_methods.IN_PROGRESS): the account is the user's own.
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=_headers()).body)
    [(account_id, _)] = session["accounts"].items()
    assert session["primaryAccounts"][CORE] == account_id
    return str(account_id)


def mailboxes(env: WebEnv) -> dict[str, dict[str, Any]]:
    got = call(env, "Mailbox/get", {"accountId": account(env), "ids": None})
    return {box["id"]: box for box in got["list"]}


def by_name(env: WebEnv, name: str, parent: str | None = None) -> dict[str, Any]:
    [found] = [b for b in mailboxes(env).values() if b["name"] == name and b["parentId"] == parent]
    return found


def imap(env: WebEnv) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", env.port("imaps"), ssl_context=env.client_context())
    client.login(ALICE, PASSWORD)
    return client


def mailbox_ids_over_imap(client: imaplib.IMAP4_SSL, name: str) -> str:
    typ, data = client.status(f'"{name}"', "(MAILBOXID)")
    assert typ == "OK", data
    found = re.search(rb"MAILBOXID \(([^)]+)\)", data[0] or b"")
    assert found is not None, data
    return found.group(1).decode()


def listed_name(line: bytes | None) -> str:
    """The mailbox name of a LIST response line (an atom or a quoted string, last)."""
    assert line is not None
    return line.decode().rsplit(" ", 1)[1].strip('"')


def deliver(env: WebEnv, subject: str, reply_to: str | None = None) -> None:
    refs = f"In-Reply-To: <{reply_to}@example.net>\r\n" if reply_to else ""
    message = (
        f"From: a@example.net\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@example.net>\r\n{refs}Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n"
    )
    with smtplib.LMTP("127.0.0.1", env.port("lmtp")) as lmtp:
        lmtp.sendmail("a@example.net", [ALICE], message.encode())


def test_get_lists_the_imap_mailboxes_with_roles_and_rights(env: WebEnv) -> None:
    boxes = mailboxes(env)
    inbox = by_name(env, "INBOX")
    assert inbox["role"] == "inbox"
    assert inbox["parentId"] is None
    assert inbox["sortOrder"] == 0
    assert set(inbox) == {
        "id", "name", "parentId", "role", "sortOrder", "totalEmails", "unreadEmails",
        "totalThreads", "unreadThreads", "myRights", "isSubscribed",
    }  # fmt: skip
    assert all(inbox["myRights"].values())
    assert len(inbox["myRights"]) == 9
    assert by_name(env, "Trash")["role"] == "trash"
    with imap(env) as client:
        for box in boxes.values():
            full = box["name"] if box["parentId"] is None else None
            if full is not None:
                assert mailbox_ids_over_imap(client, full) == box["id"]
    got = call(
        env,
        "Mailbox/get",
        {"accountId": account(env), "ids": [inbox["id"], "Fnope", "F999999"], "properties": ["name"]},
    )
    assert got["list"] == [{"id": inbox["id"], "name": "INBOX"}]
    assert got["notFound"] == ["Fnope", "F999999"]
    assert (
        error(env, "Mailbox/get", {"accountId": account(env), "properties": ["color"]}) == "invalidArguments"
    )
    assert error(env, "Mailbox/get", {"accountId": "A999"}) == "accountNotFound"


def test_set_create_update_destroy_and_imap_sees_them(env: WebEnv) -> None:
    acc = account(env)
    state = call(env, "Mailbox/get", {"accountId": acc, "ids": []})["state"]
    assert (
        error(env, "Mailbox/set", {"accountId": acc, "ifInState": "99999", "create": {}}) == "stateMismatch"
    )
    made = call(
        env,
        "Mailbox/set",
        {
            "accountId": acc,
            "ifInState": state,
            "create": {
                "child": {"name": "Child", "parentId": "#top"},
                "top": {"name": "Projects", "isSubscribed": True},
                "bad": {"name": "a/b"},
                "ro": {"name": "X", "totalEmails": 3},
                "inbox": {"name": "inbox"},
                "role": {"name": "Other trash", "role": "trash"},
                "virtual": {"name": "All mail", "role": "all"},
            },
        },
    )
    assert made["oldState"] == state
    assert made["newState"] != state
    top, child = made["created"]["top"]["id"], made["created"]["child"]["id"]
    assert made["created"]["top"]["totalEmails"] == 0
    assert "name" not in made["created"]["top"]
    assert made["notCreated"]["bad"] == {
        "type": "invalidProperties",
        "description": made["notCreated"]["bad"]["description"],
        "properties": ["name"],
    }
    assert made["notCreated"]["ro"]["properties"] == ["totalEmails"]
    assert made["notCreated"]["inbox"]["type"] == "alreadyExists"
    assert made["notCreated"]["role"]["properties"] == ["role"]
    assert made["notCreated"]["virtual"]["properties"] == ["role"]
    with imap(env) as client:
        typ, listed = client.list('""', "Projects*")
        assert typ == "OK"
        names = {listed_name(line) for line in listed}
        assert {"Projects", "Projects/Child"} <= names
        assert mailbox_ids_over_imap(client, "Projects/Child") == child
        typ, subscribed = client.lsub('""', "Projects")
        assert subscribed[0] is not None
        assert b"Projects" in subscribed[0]
    assert by_name(env, "Child", top)["isSubscribed"] is False
    # Update: rename and move under INBOX, subscribe; INBOX itself stays.
    inbox = by_name(env, "INBOX")["id"]
    done = call(
        env,
        "Mailbox/set",
        {
            "accountId": acc,
            "update": {
                top: {"name": "Work", "parentId": inbox},
                child: {"isSubscribed": True},
                inbox: {"name": "Post"},
                "F999999": {"name": "x"},
            },
            "destroy": ["F999998"],
        },
    )
    assert set(done["updated"]) == {top, child}
    assert done["notUpdated"][inbox]["type"] == "forbidden"
    assert done["notUpdated"]["F999999"]["type"] == "notFound"
    inbox_kept = call(env, "Mailbox/set", {"accountId": acc, "destroy": [inbox]})
    assert inbox_kept["notDestroyed"][inbox]["type"] == "forbidden"
    assert done["notDestroyed"]["F999998"]["type"] == "notFound"
    with imap(env) as client:
        assert mailbox_ids_over_imap(client, "INBOX/Work/Child") == child
        assert mailbox_ids_over_imap(client, "INBOX/Work") == top
    assert by_name(env, "Child", top)["isSubscribed"] is True
    # A loop is refused; a role is not changed.
    refused = call(
        env, "Mailbox/set", {"accountId": acc, "update": {top: {"parentId": child}, child: {"role": "sent"}}}
    )
    assert refused["notUpdated"][top]["properties"] == ["parentId"]
    assert refused["notUpdated"][child]["properties"] == ["role"]
    # Destroy: a parent with a child is mailboxHasChild, unless the child goes in the same call.
    alone = call(env, "Mailbox/set", {"accountId": acc, "destroy": [top]})
    assert alone["notDestroyed"][top]["type"] == "mailboxHasChild"
    both = call(env, "Mailbox/set", {"accountId": acc, "destroy": [top, child]})
    assert set(both["destroyed"]) == {top, child}
    with imap(env) as client:
        typ, listed = client.list('""', "INBOX/Work*")
        assert listed == [None]


def test_changes_follow_imap_renames_and_counts(env: WebEnv) -> None:
    acc = account(env)
    made = call(env, "Mailbox/set", {"accountId": acc, "create": {"n": {"name": "Renamed later"}}})
    box = made["created"]["n"]["id"]
    state = made["newState"]
    with imap(env) as client:
        typ, _ = client.rename('"Renamed later"', '"Renamed over IMAP"')
        assert typ == "OK"
    changes = call(env, "Mailbox/changes", {"accountId": acc, "sinceState": state})
    assert changes["updated"] == [box]
    assert changes["created"] == changes["destroyed"] == []
    assert changes["updatedProperties"] is None
    assert (
        call(env, "Mailbox/get", {"accountId": acc, "ids": [box]})["list"][0]["name"] == "Renamed over IMAP"
    )
    # Deliveries move only the counts.
    state = changes["newState"]
    inbox = by_name(env, "INBOX")
    deliver(env, "first")
    deliver(env, "second", reply_to="first")
    deliver(env, "third")
    changes = call(env, "Mailbox/changes", {"accountId": acc, "sinceState": state})
    assert changes["updated"] == [inbox["id"]]
    assert changes["updatedProperties"] == ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"]
    counted = by_name(env, "INBOX")
    assert counted["totalEmails"] == inbox["totalEmails"] + 3
    assert counted["unreadEmails"] == inbox["unreadEmails"] + 3
    assert counted["totalThreads"] == inbox["totalThreads"] + 2
    assert counted["unreadThreads"] == inbox["unreadThreads"] + 2
    with imap(env) as client:
        client.select("INBOX")
        typ, found = client.search(None, "SUBJECT", "third")
        assert typ == "OK"
        client.store(found[0].decode(), "+FLAGS", "(\\Seen)")
    read = by_name(env, "INBOX")
    assert (read["unreadEmails"], read["unreadThreads"]) == (
        counted["unreadEmails"] - 1,
        counted["unreadThreads"] - 1,
    )
    # Paging: one change a page, each intermediate state resuming where the page stopped.
    made = call(env, "Mailbox/set", {"accountId": acc, "create": {"p": {"name": "Paged"}}})
    whole = call(env, "Mailbox/changes", {"accountId": acc, "sinceState": state})
    assert len(whole["created"]) + len(whole["updated"]) == 2
    pages, since = [], state
    while True:
        page = call(env, "Mailbox/changes", {"accountId": acc, "sinceState": since, "maxChanges": 1})
        assert len(page["created"]) + len(page["updated"]) + len(page["destroyed"]) <= 1
        pages.append(page)
        since = page["newState"]
        if not page["hasMoreChanges"]:
            break
    assert since == whole["newState"] == made["newState"]
    assert [i for p in pages for i in p["created"]] == whole["created"] == [made["created"]["p"]["id"]]
    assert [i for p in pages for i in p["updated"]] == whole["updated"]
    assert error(env, "Mailbox/changes", {"accountId": acc, "sinceState": "junk"}) == "cannotCalculateChanges"
    assert (
        error(env, "Mailbox/changes", {"accountId": acc, "sinceState": state, "maxChanges": 0})
        == "invalidArguments"
    )


def test_destroy_with_emails(env: WebEnv) -> None:
    acc = account(env)
    made = call(env, "Mailbox/set", {"accountId": acc, "create": {"f": {"name": "Full"}}})
    box = made["created"]["f"]["id"]
    with imap(env) as client:
        typ, _ = client.append('"Full"', "", None, b"Subject: kept\r\n\r\nx\r\n")
        assert typ == "OK"
    refused = call(env, "Mailbox/set", {"accountId": acc, "destroy": [box]})
    assert refused["notDestroyed"][box]["type"] == "mailboxHasEmail"
    gone = call(env, "Mailbox/set", {"accountId": acc, "destroy": [box], "onDestroyRemoveEmails": True})
    assert gone["destroyed"] == [box]
    changes = call(env, "Mailbox/changes", {"accountId": acc, "sinceState": made["newState"]})
    assert changes["destroyed"] == [box]


def test_query_filters_sorts_and_trees(env: WebEnv) -> None:
    acc = account(env)
    made = call(
        env,
        "Mailbox/set",
        {
            "accountId": acc,
            "create": {
                "a": {"name": "Alpha"},
                "b": {"name": "beta", "parentId": "#a"},
                "c": {"name": "Gamma", "parentId": "#a", "isSubscribed": True},
            },
        },
    )
    a, b, c = (made["created"][k]["id"] for k in "abc")
    under = call(
        env, "Mailbox/query", {"accountId": acc, "filter": {"parentId": a}, "sort": [{"property": "name"}]}
    )
    assert under["ids"] == [b, c]
    assert under["canCalculateChanges"] is True
    down = call(
        env,
        "Mailbox/query",
        {
            "accountId": acc,
            "filter": {"parentId": a},
            "sort": [{"property": "name", "isAscending": False}],
            "calculateTotal": True,
        },
    )
    assert down["ids"] == [c, b]
    assert down["total"] == 2
    roles = call(env, "Mailbox/query", {"accountId": acc, "filter": {"hasAnyRole": True}})["ids"]
    assert by_name(env, "INBOX")["id"] in roles
    assert a not in roles
    inbox_only = call(env, "Mailbox/query", {"accountId": acc, "filter": {"role": "inbox"}})["ids"]
    assert inbox_only == [by_name(env, "INBOX")["id"]]
    named = call(
        env,
        "Mailbox/query",
        {
            "accountId": acc,
            "filter": {
                "operator": "AND",
                "conditions": [{"name": "A"}, {"isSubscribed": True}, {"parentId": a}],
            },
        },
    )
    assert named["ids"] == [c]
    tree = call(env, "Mailbox/query", {"accountId": acc, "sortAsTree": True, "sort": [{"property": "name"}]})[
        "ids"
    ]
    assert tree.index(a) < tree.index(b) < tree.index(c)
    assert tree.index(c) == tree.index(a) + 2  # children follow their parent at once
    flat = call(env, "Mailbox/query", {"accountId": acc, "filter": {"name": "a"}, "filterAsTree": True})[
        "ids"
    ]
    assert a in flat
    assert b in flat
    assert c in flat
    subscribed_tree = call(
        env, "Mailbox/query", {"accountId": acc, "filter": {"isSubscribed": True}, "filterAsTree": True}
    )["ids"]
    assert c not in subscribed_tree  # its parent is not subscribed
    window = call(
        env,
        "Mailbox/query",
        {"accountId": acc, "filter": {"parentId": a}, "sort": [{"property": "name"}], "position": -1},
    )
    assert window["ids"] == [c]
    assert window["position"] == 1
    assert error(env, "Mailbox/query", {"accountId": acc, "filter": {"colour": "red"}}) == "unsupportedFilter"
    assert (
        error(env, "Mailbox/query", {"accountId": acc, "sort": [{"property": "totalEmails"}]})
        == "unsupportedSort"
    )
    assert error(env, "Mailbox/query", {"accountId": acc, "sortAsTree": 1}) == "invalidArguments"
    query_state = under["queryState"]
    as_tree = {"accountId": acc, "sinceQueryState": query_state, "sortAsTree": True}
    assert error(env, "Mailbox/queryChanges", as_tree) == "cannotCalculateChanges"
    assert (
        call(env, "Mailbox/query", {"accountId": acc, "filterAsTree": True})["canCalculateChanges"] is False
    )


def apply_changes(old: list[str], changes: dict[str, Any]) -> list[str]:
    """RFC 8620 section 5.6: what a client does with a queryChanges response."""
    removed = set(changes["removed"])
    new = [i for i in old if i not in removed]
    for item in sorted(changes["added"], key=lambda a: a["index"]):
        new.insert(item["index"], item["id"])
    return new


def test_query_changes_are_exact(env: WebEnv) -> None:
    acc = account(env)
    made = call(
        env,
        "Mailbox/set",
        {"accountId": acc, "create": {"p": {"name": "Plum"}, "q": {"name": "Quince", "parentId": "#p"}}},
    )
    plum = made["created"]["p"]["id"]
    shapes: list[dict[str, Any]] = [
        {},
        {"filter": None, "sort": [{"property": "name", "isAscending": False}]},
        {"filter": {"parentId": plum}, "sort": [{"property": "name"}]},
        {
            "filter": {"operator": "NOT", "conditions": [{"isSubscribed": True}]},
            "sort": [{"property": "name"}],
        },
    ]
    before = []
    for shape in shapes:
        got = call(env, "Mailbox/query", {"accountId": acc, **shape})
        assert got["canCalculateChanges"] is True
        before.append((got["queryState"], got["ids"]))
    # Changes by JMAP, IMAP and LMTP: a create under Plum, a rename over IMAP, a subscription, a
    # delivery (INBOX's counts), a destroy.
    call(env, "Mailbox/set", {"accountId": acc, "create": {"r": {"name": "Apricot", "parentId": plum}}})
    client = imap(env)
    try:
        assert client.rename("Plum/Quince", "Plum/Zucchini")[0] == "OK"
        assert client.subscribe("Plum")[0] == "OK"
        assert client.create("Fig")[0] == "OK"
        assert client.delete("Fig")[0] == "OK"
    finally:
        client.logout()
    deliver(env, "query-changes")
    for shape, (state, old) in zip(shapes, before, strict=True):
        changes = call(env, "Mailbox/queryChanges", {"accountId": acc, "sinceQueryState": state, **shape})
        now = call(env, "Mailbox/query", {"accountId": acc, **shape})
        assert changes["oldQueryState"] == state
        assert changes["newQueryState"] == now["queryState"] != state
        assert apply_changes(old, changes) == now["ids"], shape
    assert old != now["ids"]
    # Nothing changed since; maxChanges.
    state = now["queryState"]
    same = call(env, "Mailbox/queryChanges", {"accountId": acc, "sinceQueryState": state, **shapes[-1]})
    assert (same["removed"], same["added"], same["newQueryState"]) == ([], [], state)
    few = {"accountId": acc, "sinceQueryState": before[0][0], "maxChanges": 1}
    assert error(env, "Mailbox/queryChanges", few) == "tooManyChanges"
    assert error(env, "Mailbox/queryChanges", {**few, "sinceQueryState": "x"}) == "cannotCalculateChanges"


def test_set_references_and_will_destroy(env: WebEnv) -> None:
    acc = account(env)
    arguments = {
        "accountId": acc,
        "create": {"r": {"name": "Referenced"}},
        "update": {"#r": {"isSubscribed": True}},
    }
    done = call(env, "Mailbox/set", arguments)
    new = done["created"]["r"]["id"]
    assert done["updated"] == {new: None}  # keyed by the id, not the creation id
    assert call(env, "Mailbox/get", {"accountId": acc, "ids": ["#r"]})["notFound"] == [
        "#r"
    ]  # another request
    both = call(env, "Mailbox/set", {"accountId": acc, "update": {new: {"name": "Gone"}}, "destroy": [new]})
    assert both["notUpdated"][new]["type"] == "willDestroy"
    assert both["destroyed"] == [new]


def test_the_advertised_name_and_depth_limits_are_kept(env: WebEnv) -> None:
    # RFC 8621 section 1.3.1: maxSizeMailboxName and maxMailboxDepth as the Session will advertise
    # them (server/jmap/account_capabilities, from [limits]) are what Mailbox/set enforces.
    from pochta.config import Settings
    from pochta.server.jmap.account_capabilities import mail_capability

    acc = account(env)
    advertised = mail_capability(Settings(), read_only=False).to_json()
    longest, depth = advertised["maxSizeMailboxName"], advertised["maxMailboxDepth"]
    name = "\u00e9" * (longest // 2)  # two octets each in UTF-8
    done = call(
        env, "Mailbox/set", {"accountId": acc, "create": {"ok": {"name": name}, "long": {"name": name + "x"}}}
    )
    assert done["created"]["ok"]["id"]
    assert done["notCreated"]["long"]["type"] == "invalidProperties"
    create = {
        f"d{level}": {"name": "deep", "parentId": f"#d{level - 1}" if level else None}
        for level in range(depth + 1)
    }
    done = call(env, "Mailbox/set", {"accountId": acc, "create": create})
    assert sorted(done["created"]) == sorted(f"d{level}" for level in range(depth))
    assert done["notCreated"][f"d{depth}"]["type"] == "invalidProperties"
    destroy = [done["created"][f"d{level}"]["id"] for level in reversed(range(depth))]
    assert len(call(env, "Mailbox/set", {"accountId": acc, "destroy": destroy})["destroyed"]) == depth


def test_sort_order_is_kept_changed_and_sorted_by(env: WebEnv) -> None:
    # RFC 8621 section 2: sortOrder is the client's (revision 0042), an UnsignedInt.
    acc = account(env)
    made = call(
        env,
        "Mailbox/set",
        {
            "accountId": acc,
            "create": {
                "z": {"name": "Zeta sorted", "sortOrder": 1},
                "a": {"name": "Alpha sorted", "sortOrder": 20},
                "neg": {"name": "Negative", "sortOrder": -1},
                "text": {"name": "Text", "sortOrder": "3"},
            },
        },
    )
    zeta, alpha = made["created"]["z"]["id"], made["created"]["a"]["id"]
    assert "sortOrder" not in made["created"]["z"]  # given, so not echoed (RFC 8620 section 5.3)
    assert made["notCreated"]["neg"]["properties"] == ["sortOrder"]
    assert made["notCreated"]["text"]["properties"] == ["sortOrder"]
    got = call(env, "Mailbox/get", {"accountId": acc, "ids": [zeta, alpha], "properties": ["sortOrder"]})
    assert got["list"] == [{"id": zeta, "sortOrder": 1}, {"id": alpha, "sortOrder": 20}]
    ordered = call(
        env,
        "Mailbox/query",
        {"accountId": acc, "filter": {"name": "sorted"}, "sort": [{"property": "sortOrder"}]},
    )
    assert ordered["ids"] == [zeta, alpha]
    # An update is a Mailbox change, of a property other than the counts.
    state = made["newState"]
    updated = call(env, "Mailbox/set", {"accountId": acc, "update": {alpha: {"sortOrder": 0}}})
    assert updated["updated"] == {alpha: None}
    changes = call(env, "Mailbox/changes", {"accountId": acc, "sinceState": state})
    assert changes["updated"] == [alpha]
    assert changes["updatedProperties"] is None
    ordered = call(
        env,
        "Mailbox/query",
        {"accountId": acc, "filter": {"name": "sorted"}, "sort": [{"property": "sortOrder"}]},
    )
    assert ordered["ids"] == [alpha, zeta]
    refused = call(env, "Mailbox/set", {"accountId": acc, "update": {zeta: {"sortOrder": 2**53}}})
    assert refused["notUpdated"][zeta]["properties"] == ["sortOrder"]
    # IMAP is untouched by it: the names are as they were.
    with imap(env) as client:
        typ, listed = client.list('""', "*sorted")
    assert typ == "OK"
    assert len(listed) == 2
