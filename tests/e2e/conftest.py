"""The e2e tests' shared fixture: ``env``, a plain IMAP server (tests/imap_env.py). A file that needs
a server configured otherwise, or another protocol's, defines its own ``env``, which overrides this
one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import ImapEnv, imap_server


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running
