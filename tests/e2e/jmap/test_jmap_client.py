"""A JMAP client library against pochta: jmapc (PyPI) fetches the Session over HTTPS with Basic
authentication, calls Core/echo and the Mailbox methods; and a server without ``[jmap] enabled``
has no JMAP at all."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from jmapc import Client, Mailbox, MailboxQueryFilterCondition, Ref
from jmapc.methods import (
    CoreEcho,
    CoreEchoResponse,
    MailboxGet,
    MailboxGetResponse,
    MailboxQuery,
    MailboxQueryResponse,
    MailboxSet,
    MailboxSetResponse,
)

from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmapc"), "[jmap]\nenabled = true\n")


@pytest.fixture(scope="module")
def disabled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("nojmap"))


def client(env: WebEnv) -> Client:
    made = Client.create_with_password(f"localhost:{env.port('https')}", ALICE, PASSWORD)
    # The test CA's certificate, verified; no REQUESTS_CA_BUNDLE or proxy from the environment.
    made.requests_session.trust_env = False
    made.requests_session.verify = str(env.ca_file)
    return made


def test_jmapc_reads_the_session(env: WebEnv) -> None:
    session = client(env).jmap_session
    assert session.username == ALICE
    assert session.api_url == f"https://localhost:{env.port('https')}/jmap/api"
    assert session.capabilities.urns >= {
        CORE,
        "urn:ietf:params:jmap:websocket",
        "urn:ietf:params:jmap:blob",
        "urn:ietf:params:jmap:mail",
        "urn:ietf:params:jmap:submission",
    }
    assert session.primary_accounts.mail == session.primary_accounts.core
    assert session.capabilities.core.max_calls_in_request == 16  # the default
    assert session.primary_accounts.core is not None


def test_jmapc_core_echo(env: WebEnv) -> None:
    jmap = client(env)
    answer = jmap.request(CoreEcho(data={"hello": "world", "n": [1, 2]}))
    assert isinstance(answer, CoreEchoResponse)
    assert answer.data == {"hello": "world", "n": [1, 2]}
    several = jmap.request([CoreEcho(data={"a": 1}), CoreEcho(data={"b": 2})], raise_errors=True)
    assert [r.response.data for r in several] == [{"a": 1}, {"b": 2}]  # type: ignore[union-attr]
    assert [r.id for r in several] == ["0.Core/echo", "1.Core/echo"]


def test_jmapc_mailboxes(env: WebEnv) -> None:
    jmap = client(env)
    made = jmap.request(MailboxSet(create={"new": Mailbox(name="From jmapc", is_subscribed=True)}))
    assert isinstance(made, MailboxSetResponse)
    assert made.created is not None
    assert made.created["new"] is not None
    new_id = made.created["new"].id
    found = jmap.request(
        [
            MailboxQuery(filter=MailboxQueryFilterCondition(name="jmapc")),
            MailboxGet(ids=Ref("/ids")),
        ],
        raise_errors=True,
    )
    query, got = (item.response for item in found)
    assert isinstance(query, MailboxQueryResponse)
    assert query.ids == [new_id]
    assert isinstance(got, MailboxGetResponse)
    [mailbox] = got.data
    assert (mailbox.name, mailbox.is_subscribed, mailbox.total_emails) == ("From jmapc", True, 0)
    inbox = jmap.request(MailboxQuery(filter=MailboxQueryFilterCondition(role="inbox")))
    assert isinstance(inbox, MailboxQueryResponse)
    assert isinstance(inbox.ids, list)
    assert len(inbox.ids) == 1


@pytest.mark.parametrize("path", ["/.well-known/jmap", "/jmap/api"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_disabled_jmap_is_not_there(disabled: WebEnv, path: str, method: str) -> None:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    response = disabled.request(
        method,
        path,
        tls=True,
        body=b'{"using": [], "methodCalls": []}' if method == "POST" else None,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    assert response.status == 404
    assert b"jmap" not in response.body.lower()
