"""100 JMAP event streams (RFC 8620 section 7.3) on a real ``pochta serve --workers 2``, and one
LMTP delivery: every stream receives its state event (the latency is bench/jmap_push.py's)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from jmap_push_client import fan_out
from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CLIENTS = 100
CONFIG = f"[jmap]\nenabled = true\nmax_push_connections = {CLIENTS}\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-push-load"), CONFIG, extra_listeners=("lmtp",))


def test_one_delivery_reaches_100_event_streams(env: WebEnv) -> None:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    latencies = fan_out(
        env.port("http"), env.port("lmtp"), {"Authorization": f"Basic {token}"}, ALICE, CLIENTS
    )
    assert len(latencies) == CLIENTS
